import type { Page } from 'playwright-core'

export type ViewLabel = 'Projects' | 'Data' | 'Model' | 'Train' | 'Evaluate' | 'Predict' | 'Export'

/** The app shell: sidebar navigation and the current view's heading. */
export class StudioPage {
  constructor(readonly page: Page) {}

  nav() {
    return this.page.getByRole('navigation', { name: 'Main' })
  }

  async go(view: ViewLabel): Promise<void> {
    await this.nav().getByRole('button', { name: view, exact: true }).click()
    await this.page.getByRole('heading', { level: 1, name: view }).waitFor()
  }

  heading() {
    return this.page.getByRole('heading', { level: 1 })
  }

  /** The inline error of the current view, if any (role=alert). */
  alerts() {
    return this.page.getByRole('alert')
  }
}

/** The Projects view: create, open, recent. */
export class ProjectsPage {
  constructor(readonly page: Page) {}

  async create(name: string): Promise<void> {
    await this.page.getByLabel('New project name').fill(name)
    await this.page.getByRole('button', { name: 'Create project' }).click()
  }

  recentTable() {
    return this.page.getByRole('table', { name: 'Recent projects' })
  }

  recentRow(name: string) {
    return this.recentTable().getByRole('row').filter({ hasText: name })
  }

  async openRecent(name: string): Promise<void> {
    await this.recentTable().getByRole('button', { name, exact: true }).click()
  }
}

/** The Projects view's "Start from an example" section. */
export class ExamplesPage {
  constructor(readonly page: Page) {}

  cards() {
    return this.page.getByRole('radiogroup', { name: 'Examples' }).getByRole('radio')
  }

  async pick(title: string | RegExp): Promise<void> {
    await this.cards().filter({ hasText: title }).click()
  }

  /** Fills the picked example's form (name, optional local copy or URL) and presses create. */
  async create(name: string, source = ''): Promise<void> {
    await this.page.getByLabel('Example project name').fill(name)
    await this.page.getByLabel('Local copy of the data (folder or file) or URL').fill(source)
    await this.page.getByRole('button', { name: 'Create example project' }).click()
  }

  progress() {
    return this.page.getByRole('status', { name: /^Creating / })
  }
}

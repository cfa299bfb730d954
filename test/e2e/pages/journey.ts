import type { Locator, Page } from 'playwright-core'

/** Width of a loaded <img> (0 while loading or broken). */
export function loadedWidth(img: Locator): Promise<number> {
  return img.evaluate((el) => {
    const i = el as unknown as { complete: boolean; naturalWidth: number }
    return i.complete ? i.naturalWidth : 0
  })
}

/** Data view: import form, result, skipped files, thumbnails. */
export class DataPage {
  constructor(readonly page: Page) {}

  async importFolder(source: string, opts: { size?: number; val?: number } = {}): Promise<void> {
    await this.page.getByLabel('Source folder or file').fill(source)
    if (opts.size) await this.page.getByLabel('Image size in pixels').fill(String(opts.size))
    if (opts.val != null) await this.page.getByLabel('Validation share').fill(String(opts.val))
    await this.page.getByRole('button', { name: 'Import', exact: true }).click()
  }

  result(): Locator {
    return this.page.getByTestId('import-result')
  }

  skippedTable(): Locator {
    return this.page.getByRole('table', { name: 'Skipped files' })
  }

  thumbnails(cls: string): Locator {
    return this.page.getByRole('list', { name: `Images of class ${cls}` }).locator('img')
  }

  /** The class tab (its badge counts the images that train and evaluate). */
  classTab(cls: string): Locator {
    return this.page.getByRole('tab', { name: new RegExp(`^${cls}\\b`) })
  }

  /** Exclude toggles of the shown class that are on (images left out). */
  excludedToggles(cls: string): Locator {
    return this.page.getByRole('list', { name: `Images of class ${cls}` }).getByRole('button', { name: /^Exclude /, pressed: true })
  }

  excludedCount(): Locator {
    return this.page.getByTestId('excluded-count')
  }
}

export class ModelPage {
  constructor(readonly page: Page) {}

  async pick(title: 'MobileNetV2 transfer' | 'VGG16 transfer' | 'Custom CNN'): Promise<void> {
    await this.page.getByRole('radio', { name: new RegExp(title) }).click()
  }

  totalParams(): Locator {
    return this.page.getByTestId('total-params')
  }

  async use(): Promise<void> {
    await this.page.getByRole('button', { name: /Use this model|Continue to training/ }).click()
  }
}

export class TrainPage {
  constructor(readonly page: Page) {}

  async start(opts: { epochs: number; batch?: number; lr?: number }): Promise<void> {
    await this.page.getByLabel('Epochs', { exact: true }).fill(String(opts.epochs))
    if (opts.batch) await this.page.getByLabel('Batch size').fill(String(opts.batch))
    if (opts.lr) await this.page.getByLabel('Learning rate').fill(String(opts.lr))
    await this.page.getByRole('button', { name: 'Start training' }).click()
  }

  curves(): Locator {
    return this.page.getByTestId('curves')
  }

  /** Epochs drawn on the charts so far. */
  async epochsDrawn(): Promise<number> {
    return Number((await this.curves().getAttribute('data-epochs')) ?? 0)
  }

  backend(): Locator {
    return this.page.getByTestId('backend')
  }

  /** The run's training threads, beside the backend. */
  threads(): Locator {
    return this.page.getByTestId('threads')
  }

  finished(): Locator {
    return this.page.getByRole('status').filter({ hasText: /Training finished|Finished early/ })
  }

  pastRuns(): Locator {
    return this.page.getByRole('table', { name: 'Past runs' })
  }
}

export class EvaluatePage {
  constructor(readonly page: Page) {}

  async evaluate(split: 'validation' | 'test' = 'validation'): Promise<void> {
    await this.page.getByLabel('Split to evaluate').selectOption(split)
    await this.page.getByRole('main').getByRole('button', { name: 'Evaluate', exact: true }).click()
    await this.page.getByTestId('accuracy').waitFor({ timeout: 120_000 })
  }

  /** Every cell with its true/predicted labels and count, read from the accessible names. */
  async cells(): Promise<{ trueLabel: string; predLabel: string; count: number }[]> {
    const names = await this.page.getByRole('grid').getByRole('button').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''))
    return names.map((n) => {
      const m = /^True (.+), predicted (.+): (\d+) images/.exec(n)!
      return { trueLabel: m[1], predLabel: m[2], count: Number(m[3]) }
    })
  }

  cell(trueLabel: string, predLabel: string): Locator {
    return this.page.getByRole('grid').getByRole('button', { name: new RegExp(`^True ${trueLabel}, predicted ${predLabel}:`) })
  }

  gallery(): Locator {
    return this.page.getByRole('list', { name: 'Cell images, most confident first' }).getByRole('listitem')
  }

  /** The exclude toggle of the n-th gallery image. */
  excludeToggle(n: number): Locator {
    return this.gallery().nth(n).getByRole('button', { name: /^Exclude image / })
  }

  staleNotice(): Locator {
    return this.page.getByTestId('eval-stale')
  }
}

export class PredictPage {
  constructor(readonly page: Page) {}

  /** Drops files on the drop zone exactly as a drag from the desktop does (DataTransfer + drop). */
  async drop(files: { name: string; base64: string; type: string }[]): Promise<void> {
    const zone = this.page.getByTestId('drop-zone')
    const dt = await this.page.evaluateHandle((list) => {
      const t = new (globalThis as unknown as { DataTransfer: new () => { items: { add(f: File): void } } }).DataTransfer()
      for (const f of list) {
        const bin = atob(f.base64)
        const bytes = new Uint8Array(bin.length)
        for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
        t.items.add(new File([bytes], f.name, { type: f.type }))
      }
      return t
    }, files)
    await zone.dispatchEvent('dragover', { dataTransfer: dt })
    await zone.dispatchEvent('drop', { dataTransfer: dt })
  }

  results(): Locator {
    return this.page.getByRole('table', { name: 'Predictions' })
  }
}

export class ExportPage {
  constructor(readonly page: Page) {}

  async export(format: 'ONNX' | 'TensorFlow.js' | 'Keras .h5', out: string): Promise<void> {
    await this.page.getByRole('radio', { name: format }).check()
    await this.page.getByLabel('Destination folder').fill(out)
    await this.page.getByRole('main').getByRole('button', { name: 'Export', exact: true }).click()
  }

  verdict(): Locator {
    return this.page.getByTestId('parity-verdict')
  }
}

import { defineCommand, num } from '../command'

export default defineCommand({
  name: 'serve',
  usage: 'serve [--port P] [--project DIR] [--json]',
  summary: 'Serve the studio UI and its API on 127.0.0.1 for a browser (headless training boxes, tests). Builds the UI first when it is missing or older than its sources.',
  help: ['--port P             port to listen on (default: a free one)', '--project DIR        open this project when the page loads'],
  options: { port: { type: 'string' }, project: { type: 'string' } },
  async run(_pos, values, out) {
    const port = num(values.port, '--port', { min: 0, max: 65535, int: true })
    // A fresh clone (or changed UI sources): build the UI first, saying so in one line.
    const { ensureWebUi } = await import('../web-ui')
    ensureWebUi({ log: (line) => out.log(line) })
    const { startStudio } = await import('../../main/web/studio')
    const studio = await startStudio({ port, project: values.project as string | undefined })
    out.result({ url: studio.url, port: studio.port }, `Classifier Studio is running at\n  ${studio.url}\nOpen that URL in a browser (it carries this session's access token). Press Ctrl+C to stop.`)
    await new Promise<void>((resolve) => {
      const stop = () => void studio.close().then(resolve)
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
  },
})

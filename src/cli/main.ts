import { closest, type Command, helpText, parse } from './command'
import newCmd from './commands/new'
import importCmd from './commands/import'
import serve from './commands/serve'
import summary from './commands/summary'
import train from './commands/train'
import evaluate from './commands/evaluate'
import predict from './commands/predict'
import exportCmd from './commands/export'
import weights from './commands/weights'
import job from './commands/job'
import review from './commands/review'
import compare from './commands/compare'
import { createOut, reportError, UsageError } from './output'

const commands: Command[] = [
  newCmd,
  importCmd,
  summary,
  train,
  evaluate,
  compare,
  predict,
  review,
  exportCmd,
  weights,
  job,
  serve,
]

function usage(): string {
  return ['Usage: classifier-studio <command> [options]', '', 'Commands:', ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`), '', 'Run classifier-studio <command> --help for a command\'s options.', 'CLASSIFIER_STUDIO_HOME moves the app data folder (settings, recent list, weights cache).'].join('\n')
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n')
    return name ? 0 : 2
  }
  const cmd = commands.find((c) => c.name === name)
  const json = rest.includes('--json')
  if (!cmd) {
    const guess = closest(name, commands.map((c) => c.name))
    return reportError(new UsageError(`Unknown command "${name}".${guess ? ` Did you mean \`classifier-studio ${guess}\`?` : ''}\n\n${usage()}`), json)
  }
  try {
    const { values, positionals } = parse(cmd, rest)
    if (values.help) {
      process.stdout.write(helpText(cmd) + '\n')
      return 0
    }
    const code = await cmd.run(positionals, values as Record<string, string | boolean | string[] | undefined>, createOut(!!values.json))
    return code ?? 0
  } catch (err) {
    return reportError(err, json)
  }
}

process.exitCode = await main(process.argv.slice(2))

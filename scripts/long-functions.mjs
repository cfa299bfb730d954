#!/usr/bin/env node
// Lists the functions in src/ longer than a limit (default 80 lines), longest first, as
// file:line, length and name, so the README's "functions of one job" claim can be checked:
//   node scripts/long-functions.mjs [limit] [folder]
// A function's length is its lines from the keyword (or the arrow's parameters) to the closing
// brace, nested functions included; Vue files are read from their <script> block.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import ts from 'typescript'

const limit = Number(process.argv[2] ?? 80)
const root = process.argv[3] ?? 'src'

function* sourceFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) yield* sourceFiles(p)
    else if (/\.(ts|mts|vue)$/.test(e.name) && !e.name.endsWith('.d.ts')) yield p
  }
}

/** The file's TypeScript, with a Vue file's text outside <script> blanked so line numbers hold. */
function scriptText(path) {
  const text = readFileSync(path, 'utf8')
  if (!path.endsWith('.vue')) return text
  const m = /(<script[^>]*>)([\s\S]*?)<\/script>/.exec(text)
  if (!m) return ''
  const before = text.slice(0, m.index + m[1].length).replace(/[^\n]/g, ' ')
  return before + m[2]
}

/** A name for a function: its own, else the variable, property or class member it is assigned to. */
function nameOf(node) {
  if (node.name) return node.name.getText()
  const p = node.parent
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name) return p.name.getText()
  if (ts.isConstructorDeclaration(node)) return 'constructor'
  // A callback: named by the call it is passed to, e.g. defineStore('training', () => ...).
  if (p && (ts.isCallExpression(p) || ts.isNewExpression(p))) {
    const first = p.arguments?.[0]
    const label = first && ts.isStringLiteral(first) ? `'${first.text}'` : '…'
    return `${ts.isNewExpression(p) ? 'new ' : ''}${p.expression.getText()}(${label}) callback`
  }
  return '(anonymous)'
}

const found = []
for (const path of sourceFiles(root)) {
  const sf = ts.createSourceFile(path, scriptText(path), ts.ScriptTarget.Latest, true)
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line
      const lines = end - start + 1
      if (lines > limit) found.push({ where: `${relative('.', path)}:${start + 1}`, lines, name: nameOf(node) })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
}
found.sort((a, b) => b.lines - a.lines)
for (const f of found) console.log(`${String(f.lines).padStart(4)}  ${f.where}  ${f.name}`)
console.log(`${found.length} function(s) over ${limit} lines in ${root}/`)

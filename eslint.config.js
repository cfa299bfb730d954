import { builtinModules } from 'node:module'
import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'

// Layers, lowest first: shared (pure) <- platform (Node fs helpers) <- ml <- services <- worker,
// web, cli, the Electron shell (src/main/*.ts); the renderer reaches main only through preload or
// the web bridge. Each layer names the folders it may not import (matched as path segments, also
// in dynamic import(), which no-restricted-imports does not see), so a wrong arrow fails lint.
const NODE = `^(node:.*|electron|${builtinModules.join('|')})(/.*)?$`
const folders = (...names) => `(^|/)(${names.join('|')})(/|$)`
const LAYERS = [
  { name: 'shared', files: ['src/shared/**'], forbid: [folders('main', 'renderer', 'preload', 'cli'), NODE], why: 'is pure: it imports nothing from main, renderer, preload or cli, and no Node or Electron module' },
  { name: 'platform', files: ['src/main/platform/**'], forbid: [folders('ml', 'services', 'worker', 'web', 'cli', 'renderer', 'preload'), '^electron$'], why: 'sits below ml and services: it imports shared only' },
  { name: 'ml', files: ['src/main/ml/**'], forbid: [folders('services', 'worker', 'web', 'cli', 'renderer', 'preload'), '^electron$'], why: 'depends on shared and platform only (the caller injects what it needs from services)' },
  { name: 'services', files: ['src/main/services/**'], forbid: [folders('worker', 'web', 'cli', 'renderer', 'preload'), '^electron$'], why: 'sits below the entry points (worker, web, cli, Electron)' },
  { name: 'worker', files: ['src/main/worker/**'], forbid: [folders('web', 'cli', 'renderer', 'preload'), '^electron$'], why: 'is an entry point over services: it does not import the other entry points' },
  { name: 'web', files: ['src/main/web/**'], forbid: [folders('worker', 'cli', 'renderer', 'preload'), '^electron$'], why: 'is an entry point over services: it does not import the other entry points' },
  { name: 'cli', files: ['src/cli/**'], forbid: [folders('worker', 'renderer', 'preload'), '^electron$'], why: 'is an entry point over services: it does not import the renderer, preload or Electron' },
  { name: 'renderer', files: ['src/renderer/**'], forbid: ['(^|/)main/', folders('cli', 'preload'), NODE], why: 'reaches main only through the bridge (preload or the web transport), with types from shared' },
  { name: 'preload', files: ['src/preload/**'], forbid: [folders('main', 'renderer', 'cli')], why: 'is thin: shared types and Electron only' },
]
const layerRules = LAYERS.map(({ name, files, forbid, why }) => {
  const message = `Layer rule: ${name} ${why}.`
  // esquery's regex literal cannot contain '/': spell it \x2F.
  const dynamic = forbid.map((re) => ({ selector: `ImportExpression[source.value=/${re.replaceAll('/', '\\x2F')}/]`, message }))
  return {
    files,
    rules: {
      'no-restricted-imports': ['error', { patterns: forbid.map((regex) => ({ regex, message })) }],
      'no-restricted-syntax': ['error', ...dynamic],
    },
  }
})

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', '**/out/', 'dist/', 'test/e2e/screenshots/'] },
  ...tseslint.configs.recommended,
  // Vue single-file components: eslint-plugin-vue's recommended rules, with TypeScript in <script setup lang="ts">.
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'], sourceType: 'module' } },
    rules: {
      // Layout-only rules, off because the templates keep short elements on one line (a table
      // row, a label with its input) on purpose; every correctness rule of the preset stays on.
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      // Void elements are written `<input />` throughout (the Prettier style the .ts files follow too).
      'vue/html-self-closing': ['warn', { html: { void: 'always', normal: 'never', component: 'always' }, svg: 'always', math: 'always' }],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  ...layerRules,
)

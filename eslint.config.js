import tseslint from 'typescript-eslint'
import vue from 'eslint-plugin-vue'

export default tseslint.config(
  { ignores: ['node_modules/', 'out/', 'dist/', 'test/e2e/screenshots/'] },
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
)

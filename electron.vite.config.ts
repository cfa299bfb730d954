import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        input: { index: resolve(import.meta.dirname, 'src/main/index.ts'), 'train-worker': resolve(import.meta.dirname, 'src/main/worker/train-worker.ts'), 'parallel-worker': resolve(import.meta.dirname, 'src/main/ml/training/parallel-worker.ts') },
        external: ['sharp', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'onnxruntime-node', 'h5wasm'],
      },
    },
  },
  preload: {
    // Sandboxed preloads must be CommonJS.
    build: { externalizeDeps: false, rollupOptions: { input: { index: resolve(import.meta.dirname, 'src/preload/index.ts') }, output: { format: 'cjs', entryFileNames: '[name].js' } } },
  },
  renderer: {
    root: resolve(import.meta.dirname, 'src/renderer'),
    build: { rollupOptions: { input: { index: resolve(import.meta.dirname, 'src/renderer/index.html') } } },
    plugins: [vue()],
  },
})

// Types of scripts/build-node.mjs for the TypeScript that imports it (tests).
export const ROOT: string
export const INPUTS: string[]
export const BUNDLED: string[]
export function newest(path: string): { time: number; file: string }
export function cliBuildState(root?: string, outDir?: string): { state: 'missing' | 'stale' | 'fresh'; changed?: string }
export function buildCli(root?: string, outDir?: string): Promise<string[]>

import { z } from 'zod'

/** How an image is fitted to the model's square input. `squash` is Keras's default. */
export const ResizeMode = z.enum(['squash', 'crop', 'pad'])
export type ResizeMode = z.infer<typeof ResizeMode>

export const ProjectSettings = z.object({
  /** Side of the square images stored in the import cache and fed to the model. */
  inputSize: z.number().int().min(8).max(1024),
  resizeMode: ResizeMode,
  /** Fill colour for `pad` mode and for compositing alpha, as #rrggbb. */
  background: z.string().regex(/^#[0-9a-fA-F]{6}$/),
  /** 3 = RGB, 1 = grayscale project (IDX / CSV datasets). */
  channels: z.union([z.literal(1), z.literal(3)]),
})
export type ProjectSettings = z.infer<typeof ProjectSettings>

export const DEFAULT_SETTINGS: ProjectSettings = {
  inputSize: 224,
  resizeMode: 'squash',
  background: '#ffffff',
  channels: 3,
}

export const PROJECT_SCHEMA_VERSION = 1

export const ProjectFile = z.object({
  schemaVersion: z.literal(PROJECT_SCHEMA_VERSION),
  name: z.string().min(1).max(200),
  createdAt: z.string(),
  updatedAt: z.string(),
  settings: ProjectSettings,
  /** Free-form per-domain state (model choice, last run, UI notes); each domain owns its key. */
  state: z.record(z.string(), z.unknown()).default({}),
})
export type ProjectFile = z.infer<typeof ProjectFile>

export const Split = z.enum(['train', 'validation', 'test'])
export type Split = z.infer<typeof Split>

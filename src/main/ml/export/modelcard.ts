/** README.md model card and the tiny usage examples written into every export folder. */
import type { ExportFormat, ParityReport, PreprocessingJson } from '../../../shared/export'

export interface CardInfo {
  format: ExportFormat
  modelName: string
  labels: string[]
  preprocessing: PreprocessingJson
  files: string[]
  runId?: string
  recipe?: string
  /** Free-form recipe facts (base, epochs, optimizer ...), shown as a list. */
  recipeDetails?: Record<string, unknown>
  metrics?: { name: string; value: number | string }[]
  parity: ParityReport
  date: string
  params: number
  onnxOps?: string[]
}

const FORMAT_TITLE: Record<ExportFormat, string> = {
  tfjs: 'TensorFlow.js layers model (model.json + weight shards)',
  h5: 'Keras .h5 (Keras 2 full-model HDF5: architecture + weights)',
  onnx: 'ONNX (opset 13)',
}

function fmtNum(v: number | string): string {
  return typeof v === 'number' ? v.toFixed(4) : v
}

export function buildReadme(c: CardInfo): string {
  const p = c.preprocessing
  const lines: string[] = []
  lines.push(`# ${c.modelName}: image classifier, ${FORMAT_TITLE[c.format]}`, '')
  lines.push(`Exported by Classifier Studio on ${c.date}${c.runId ? ` from training run \`${c.runId}\`` : ''}.`, '')
  lines.push('## Classes', '')
  lines.push(`${c.labels.length} classes, in output order (also in \`labels.json\`):`, '')
  c.labels.forEach((l, i) => lines.push(`${i}. ${l}`))
  lines.push('', '## Input', '')
  const shape = p.layout === 'NHWC' ? `[batch, ${p.inputSize}, ${p.inputSize}, ${p.channels}]` : `[batch, ${p.channels}, ${p.inputSize}, ${p.inputSize}]`
  lines.push(`- Tensor \`${p.inputName}\`: float32 ${shape} (${p.layout}).`)
  lines.push(`- ${p.foldedIntoModel ? 'Raw pixel values 0..255: the normalisation below is the first operation inside the model.' : 'Normalised values: apply the normalisation below before calling the model.'}`)
  lines.push(`- Output \`${p.outputName}\`: float32 [batch, ${c.labels.length}] class probabilities (softmax).`)
  lines.push('', '## Preprocessing (also in `preprocessing.json`)', '')
  p.steps.forEach((s, i) => lines.push(`${i + 1}. ${s}`))
  lines.push('')
  if (p.normalization.kind === 'scale') lines.push(`Normalisation: \`x * ${p.normalization.scale} + ${p.normalization.offset}\` on each 0..255 value.`)
  else if (p.normalization.kind === 'caffe') lines.push(`Normalisation (Keras "caffe" mode): channels reordered RGB -> BGR, then mean [${p.normalization.mean.join(', ')}] (B, G, R) subtracted; no scaling.`)
  else lines.push('Normalisation: none (0..255 floats).')
  if (c.format === 'onnx')
    lines.push('', 'The ONNX graph takes NHWC input (as the app and TF.js do) and transposes it to NCHW as its first layout operation (`Transpose perm=[0,3,1,2]`); TF\'s asymmetric "same" padding is written as explicit pads. Ops used: ' + (c.onnxOps ?? []).join(', ') + '.')
  if (c.format === 'h5')
    lines.push('', 'Keras 2 layout: root attributes `keras_version`, `backend`, `model_config`; group `model_weights` with `layer_names`; one group per layer with `weight_names` and datasets `<layer>/<weight>:0`. Load with `tf.keras.models.load_model("model.h5", compile=False)` (TensorFlow 2.x / Keras 2, or `tf_keras` with Keras 3).')
  lines.push('', '## Quality', '')
  if (c.metrics?.length) for (const m of c.metrics) lines.push(`- ${m.name}: ${fmtNum(m.value)}`)
  else lines.push('- No evaluation metrics were recorded for this run.')
  lines.push('', '## Parity with the app', '')
  lines.push(`${c.parity.images} project images went through the app's model and through this export in ${c.parity.runtime}:`)
  lines.push(`- largest difference in any class probability: ${c.parity.maxAbsDiff.toExponential(2)} (tolerance ${c.parity.tolerance})`)
  lines.push(`- same predicted class: ${(c.parity.labelAgreement * 100).toFixed(1)}%`)
  lines.push(`- result: ${c.parity.passed ? 'PASSED' : '**FAILED**: ' + (c.parity.warning ?? 'the export predicts differently from the app')}`)
  lines.push('', 'Details in `parity.json`.')
  lines.push('', '## Training recipe', '')
  lines.push(`- Recipe: ${c.recipe ?? 'unknown'}`)
  for (const [k, v] of Object.entries(c.recipeDetails ?? {})) if (v !== undefined && v !== null && v !== '') lines.push(`- ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
  lines.push(`- Parameters: ${c.params.toLocaleString('en-US')}`)
  lines.push('', '## Files', '')
  for (const f of c.files) lines.push(`- \`${f}\``)
  lines.push('', '## Use it', '')
  lines.push('- Node: `node example-node.mjs some-image.jpg` (see the dependencies at the top of the file).')
  lines.push('- Python: `python3 example.py some-image.jpg`.')
  lines.push('', 'The examples resize with their library\'s own resampling; results can differ very slightly from the app\'s, whose import pipeline is libvips (sharp).', '')
  return lines.join('\n')
}

const NODE_PREPROCESS = `
// Turns an image file into a float32 NHWC batch of one, following preprocessing.json.
async function loadImage(file, prep) {
  const size = prep.inputSize
  const fit = { squash: 'fill', crop: 'cover', pad: 'contain' }[prep.resizeMode]
  let img = sharp(file).rotate().flatten({ background: prep.background }).toColourspace('srgb')
  img = img.resize(size, size, { fit, background: prep.background })
  if (prep.colour === 'grayscale') img = img.grayscale()
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true })
  const want = prep.colour === 'grayscale' ? 1 : 3
  const pixels = new Float32Array(size * size * want)
  for (let i = 0; i < size * size; i++) for (let c = 0; c < want; c++) pixels[i * want + c] = data[i * info.channels + c]
  return { pixels, shape: [1, size, size, want] }
}
`

export function exampleNode(format: ExportFormat): string {
  if (format === 'onnx')
    return `// Classify one image with the ONNX export.  npm install onnxruntime-node sharp
// usage: node example-node.mjs image.jpg
import * as ort from 'onnxruntime-node'
import sharp from 'sharp'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = (f) => fileURLToPath(new URL(f, import.meta.url))
const prep = JSON.parse(readFileSync(here('./preprocessing.json'), 'utf8'))
const labels = JSON.parse(readFileSync(here('./labels.json'), 'utf8'))
${NODE_PREPROCESS}
const { pixels, shape } = await loadImage(process.argv[2], prep)
const session = await ort.InferenceSession.create(here('./model.onnx'))
// The graph normalises and transposes to NCHW itself: feed raw 0..255 NHWC pixels.
const out = await session.run({ [prep.inputName]: new ort.Tensor('float32', pixels, shape) })
const probs = Array.from(out[prep.outputName].data)
const best = probs.indexOf(Math.max(...probs))
console.log(labels[best], probs[best].toFixed(4))
`
  const normalise = `
// preprocessing.json's normalisation (and gray -> RGB tiling), done here because it is not inside this model.
function normalise(pixels, shape, prep) {
  let [n, h, w, c] = shape
  let x = pixels
  if (prep.grayToRgb) {
    x = new Float32Array(n * h * w * 3)
    for (let i = 0; i < n * h * w; i++) x[i * 3] = x[i * 3 + 1] = x[i * 3 + 2] = pixels[i]
    c = 3
  }
  const out = new Float32Array(x.length)
  const norm = prep.normalization
  for (let i = 0; i < x.length; i += c)
    for (let k = 0; k < c; k++) {
      if (norm.kind === 'scale') out[i + k] = x[i + k] * norm.scale + norm.offset
      else if (norm.kind === 'caffe') out[i + k] = x[i + (2 - k)] - norm.mean[k] // RGB -> BGR, minus BGR mean
      else out[i + k] = x[i + k]
    }
  return { x: out, shape: [n, h, w, c] }
}
`
  if (format === 'tfjs')
    return `// Classify one image with the TF.js export.  npm install @tensorflow/tfjs sharp
// (with @tensorflow/tfjs-node installed, tf.loadLayersModel('file://model.json') works too)
// usage: node example-node.mjs image.jpg
import * as tf from '@tensorflow/tfjs'
import sharp from 'sharp'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = (f) => fileURLToPath(new URL(f, import.meta.url))
const prep = JSON.parse(readFileSync(here('./preprocessing.json'), 'utf8'))
const labels = JSON.parse(readFileSync(here('./labels.json'), 'utf8'))
${NODE_PREPROCESS}${normalise}
// Load model.json + shards from disk without tfjs-node.
const json = JSON.parse(readFileSync(here('./model.json'), 'utf8'))
const specs = json.weightsManifest.flatMap((g) => g.weights)
const shards = json.weightsManifest.flatMap((g) => g.paths).map((p) => readFileSync(here('./' + p)))
const weightData = new Uint8Array(Buffer.concat(shards)).buffer
const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData }))

const img = await loadImage(process.argv[2], prep)
const { x, shape } = normalise(img.pixels, img.shape, prep)
const probs = Array.from(await model.predict(tf.tensor4d(x, shape)).data())
const best = probs.indexOf(Math.max(...probs))
console.log(labels[best], probs[best].toFixed(4))
`
  return `// Classify one image with the Keras .h5 export, in TF.js.  npm install @tensorflow/tfjs h5wasm sharp
// usage: node example-node.mjs image.jpg
import * as tf from '@tensorflow/tfjs'
import * as h5wasm from 'h5wasm/node'
import sharp from 'sharp'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const here = (f) => fileURLToPath(new URL(f, import.meta.url))
const prep = JSON.parse(readFileSync(here('./preprocessing.json'), 'utf8'))
const labels = JSON.parse(readFileSync(here('./labels.json'), 'utf8'))
${NODE_PREPROCESS}${normalise}
// Architecture from the model_config attribute (Keras 'Functional' is TF.js 'Model'), weights by layer name.
await h5wasm.ready
const f = new h5wasm.File(here('./model.h5'), 'r')
const config = JSON.parse(f.attrs.model_config.value.replaceAll('"Functional"', '"Model"'))
const model = await tf.models.modelFromJSON({ modelTopology: config })
const stored = new Map() // layer name -> Map(short weight name -> tensor)
const mw = f.get('model_weights')
const strings = (attr) => (attr ? [].concat(Array.from(typeof attr.value === 'string' ? [attr.value] : attr.value)) : []).filter((s) => typeof s === 'string')
for (const layerName of strings(mw.attrs.layer_names)) {
  const g = mw.get(layerName)
  const names = strings(g.attrs.weight_names) // a layer without weights has an empty float array here
  for (const n of names) {
    const d = g.get(n)
    const [owner, weight] = n.split('/').slice(-2) // "<layer>/<weight>:0"
    if (!stored.has(owner)) stored.set(owner, new Map())
    stored.get(owner).set(weight.replace(/:\\d+$/, ''), tf.tensor(d.value, d.shape))
  }
}
const visit = (layers) => {
  for (const l of layers) {
    if (l instanceof tf.LayersModel) visit(l.layers)
    else if (l.weights.length) l.setWeights(l.weights.map((w) => stored.get(l.name).get(w.originalName.split('/').pop().replace(/_\\d+$/, ''))))
  }
}
visit(model.layers)
f.close()

const img = await loadImage(process.argv[2], prep)
const { x, shape } = normalise(img.pixels, img.shape, prep)
const probs = Array.from(await model.predict(tf.tensor4d(x, shape)).data())
const best = probs.indexOf(Math.max(...probs))
console.log(labels[best], probs[best].toFixed(4))
`
}

const PY_PREPROCESS = `
def load_image(path, prep):
    """One image -> float32 NHWC batch of one, following preprocessing.json (0..255 values)."""
    size = prep["inputSize"]
    img = ImageOps.exif_transpose(Image.open(path))
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, prep["background"])
        img = Image.alpha_composite(bg, img)
    img = img.convert("L" if prep["colour"] == "grayscale" else "RGB")
    if prep["resizeMode"] == "squash":
        img = img.resize((size, size), Image.BILINEAR)
    elif prep["resizeMode"] == "crop":
        img = ImageOps.fit(img, (size, size), Image.BILINEAR)
    else:
        img = ImageOps.pad(img, (size, size), Image.BILINEAR, color=prep["background"])
    x = np.asarray(img, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    return x[None]
`

const PY_NORMALISE = `
def normalise(x, prep):
    """preprocessing.json's normalisation, for exports that do not contain it."""
    if prep["grayToRgb"]:
        x = np.repeat(x, 3, axis=3)
    norm = prep["normalization"]
    if norm["kind"] == "scale":
        return x * norm["scale"] + norm["offset"]
    if norm["kind"] == "caffe":
        return x[..., ::-1] - np.array(norm["mean"], dtype=np.float32)
    return x
`

export function examplePython(format: ExportFormat): string {
  const head = `"""Classify one image with this export.  usage: python3 example.py image.jpg"""
import json
import os
import sys

import numpy as np
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
prep = json.load(open(os.path.join(HERE, "preprocessing.json")))
labels = json.load(open(os.path.join(HERE, "labels.json")))
${PY_PREPROCESS}`
  if (format === 'onnx')
    return `${head.replace('"""Classify', '"""Needs: pip install onnxruntime pillow numpy.\nClassify')}
import onnxruntime as ort

session = ort.InferenceSession(os.path.join(HERE, "model.onnx"))
# The graph normalises and transposes to NCHW itself: feed raw 0..255 NHWC pixels.
probs = session.run([prep["outputName"]], {prep["inputName"]: load_image(sys.argv[1], prep)})[0][0]
best = int(np.argmax(probs))
print(labels[best], round(float(probs[best]), 4))
`
  if (format === 'h5')
    return `${head.replace('"""Classify', '"""Needs TensorFlow 2.x with Keras 2 (or tf_keras): pip install "tensorflow<2.16" pillow.\nClassify')}${PY_NORMALISE}
from tensorflow import keras

model = keras.models.load_model(os.path.join(HERE, "model.h5"), compile=False)
probs = model.predict(normalise(load_image(sys.argv[1], prep), prep), verbose=0)[0]
best = int(np.argmax(probs))
print(labels[best], round(float(probs[best]), 4))
`
  return `${head.replace('"""Classify', '"""Needs: pip install tensorflowjs pillow (TensorFlow 2.x with Keras 2).\nClassify')}${PY_NORMALISE}
import tensorflowjs as tfjs

model = tfjs.converters.load_keras_model(os.path.join(HERE, "model.json"))
probs = model.predict(normalise(load_image(sys.argv[1], prep), prep), verbose=0)[0]
best = int(np.argmax(probs))
print(labels[best], round(float(probs[best]), 4))
`
}

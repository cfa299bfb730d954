import { z } from 'zod'
import type { ImportOptions } from './datasets'
import { AppError } from './errors'
import { EXAMPLE_NAMES } from './example-names'
import type { ResizeMode } from './project'
import type { TrainOptionsInput } from './training'

export { EXAMPLE_NAMES }

/**
 * The classic Keras tutorials as example projects: where their data comes from (with
 * checksums), how the tutorial splits it, the tutorial's recipe as training stages, and the
 * result the tutorial published. Pure TS (shared by the examples service, the CLI and the UI).
 */

export const ExampleName = z.enum(EXAMPLE_NAMES)
export type ExampleName = z.infer<typeof ExampleName>

/** One file of a public data set. */
export interface RemoteFile {
  /** Role inside the example's data: e.g. 'train-images', 'test-labels', 'archive'. */
  role: string
  /** The file name in the cache (and the name looked for in a local folder the user picks). */
  fileName: string
  /** Official URL. A user can replace it (a mirror, a company proxy) or give a local copy. */
  url: string
  /** sha256 of the file as published; null when the publisher gives none (then the size is checked and the hash is recorded at first download). */
  sha256: string | null
  /** md5 as published upstream, for people who compare by hand. */
  md5?: string
  bytes?: number
  /** Other names the same file goes by in local copies (e.g. gzipped or not). */
  aliases?: string[]
}

export interface ExampleImport {
  /** Which files go into this import and the options it uses. */
  roles: string[]
  options: ImportOptions
  /** Human-readable: where these images end up. */
  note: string
}

export interface ExampleData {
  /** How the files are turned into an import source. */
  kind: 'idx' | 'csv' | 'folder-archive'
  files: RemoteFile[]
  /** Class names for data sets whose files carry only numbers (IDX), in label order. */
  classNames?: string[]
  /** For 'folder-archive': the folder (at any depth inside the archive or local folder) holding train/ and validation/. */
  rootName?: string
  imports: ExampleImport[]
  /** Where the data comes from, licence, and what a local copy must look like. */
  provenance: string
  /** Display names of numeric labels (label -> name), shown next to the dataset's own label names. */
  labelNames?: Record<string, string>
}

export interface ExampleStage {
  /** Short id of the stage, e.g. 'transfer', 'finetune'. */
  name: string
  title: string
  /** Exactly what `classifier-studio train` would get. */
  options: TrainOptionsInput
  /** A model-zoo preset this stage needs (checked before training starts). */
  requiresPreset?: string
  /**
   * Changes to `options` when the run this stage continues from used the offline MobileNetV2
   * weights (NSFWJS_WEIGHTS_ID), with the reason shown to the user.
   */
  offlineWeights?: { options: Partial<TrainOptionsInput>; why: string }
}

export interface PublishedResult {
  metric: 'test accuracy' | 'validation accuracy'
  /** Fraction 0..1; null when the tutorial gives no single number. */
  value: number | null
  /** After which stage of the recipe. */
  stage: string
  source: string
  note?: string
}

export interface ExampleDef {
  name: ExampleName
  title: string
  description: string
  tutorial: { title: string; url: string }
  /** Image settings of the project (the tutorial's input size). */
  settings: {
    inputSize: number
    resizeMode: ResizeMode
    /**
     * The input size to create the project at when the official weights for `base` at
     * `inputSize` are not downloaded, so training will use the offline MobileNetV2 weights.
     */
    offlineWeights?: { base: 'mobilenetv2'; inputSize: number; why: string }
  }
  data: ExampleData
  stages: ExampleStage[]
  /** The split the tutorial reports its result on. */
  evaluateSplit: 'test' | 'validation'
  published: PublishedResult[]
  /** What this app must reach with the weights available offline, when stated. */
  target?: { metric: 'test accuracy' | 'validation accuracy'; value: number; note?: string }
}

const FASHION_MIRROR = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'
const SIGN_COMMIT = '1143857e16004ead4ee57a3e50b80b09ee39caa8'
const SIGN_BASE = `https://raw.githubusercontent.com/16snathan/18794-final-project/${SIGN_COMMIT}/`
const CATS_DOGS_ZIP = 'https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip'

const catsDogsData = (): ExampleData => ({
  kind: 'folder-archive',
  files: [{ role: 'archive', fileName: 'cats_and_dogs_filtered.zip', url: CATS_DOGS_ZIP, sha256: null, bytes: 68_606_236 }],
  rootName: 'cats_and_dogs_filtered',
  imports: [{ roles: ['archive'], options: {}, note: 'train/ (1000 cats, 1000 dogs) and validation/ (500 + 500) as the archive splits them' }],
  provenance:
    "TensorFlow's cats_and_dogs_filtered.zip (a 3,000-image subset of Kaggle's Dogs vs. Cats, Microsoft Research Asirra; licence unknown, for learning only). " +
    'Google publishes no checksum for it: the size is checked and the sha256 is recorded at the first download. ' +
    'A local copy: the cats_and_dogs_filtered folder (train/{cats,dogs}, validation/{cats,dogs}), any folder above it, or the zip.',
})

const SIGN_LETTERS: Record<string, string> = Object.fromEntries(
  Array.from({ length: 25 }, (_, i) => i)
    .filter((i) => i !== 9)
    .map((i) => [String(i), String.fromCharCode(65 + i)]),
)

export const EXAMPLES: readonly ExampleDef[] = [
  {
    name: 'fashion-mnist',
    title: 'Fashion-MNIST CNN',
    description:
      'Ten kinds of clothing in 28x28 grayscale. The tutorial CNN (Conv2D 32/64, MaxPooling, Dense 100, Dropout; 333,526 parameters) trained with Adam for 10 epochs, keeping the best epoch (ModelCheckpoint) and stopping early when validation loss stops improving (here also with label smoothing 0.1 and the learning rate divided by 5 on a plateau); reported on the 10,000 test images.',
    tutorial: { title: 'Fashion-MNIST CNN with tf.keras (Conv2D/MaxPool/Dropout/Dense, ModelCheckpoint + EarlyStopping)', url: 'https://github.com/zalandoresearch/fashion-mnist#benchmark' },
    settings: { inputSize: 28, resizeMode: 'squash' },
    data: {
      kind: 'idx',
      files: [
        { role: 'train-images', fileName: 'train-images-idx3-ubyte.gz', url: FASHION_MIRROR + 'train-images-idx3-ubyte.gz', sha256: '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d', bytes: 26_421_880, aliases: ['train-images-idx3-ubyte'] },
        { role: 'train-labels', fileName: 'train-labels-idx1-ubyte.gz', url: FASHION_MIRROR + 'train-labels-idx1-ubyte.gz', sha256: 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845', md5: '25c81989df183df01b3e8a0aad5dffbe', bytes: 29_515, aliases: ['train-labels-idx1-ubyte'] },
        { role: 'test-images', fileName: 't10k-images-idx3-ubyte.gz', url: FASHION_MIRROR + 't10k-images-idx3-ubyte.gz', sha256: '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073', md5: 'bef4ecab320f06d8554ea6380940ec79', bytes: 4_422_102, aliases: ['t10k-images-idx3-ubyte'] },
        { role: 'test-labels', fileName: 't10k-labels-idx1-ubyte.gz', url: FASHION_MIRROR + 't10k-labels-idx1-ubyte.gz', sha256: '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5', md5: 'bb300cfdad3c16e7a12a480ee83cd310', bytes: 5_148, aliases: ['t10k-labels-idx1-ubyte'] },
      ],
      classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
      imports: [
        { roles: ['train-images', 'train-labels'], options: { val: 0.1, test: 0, seed: 42 }, note: 'the 60,000 training images: 90 % train, 10 % validation (stratified, seed 42) for checkpointing and early stopping' },
        { roles: ['test-images', 'test-labels'], options: { split: 'test' }, note: 'the 10,000 t10k images: the test split the result is reported on' },
      ],
      provenance: "Zalando Research's Fashion-MNIST (MIT licence), the four .gz files of the official mirror with the MD5s published in its README. A local copy: a folder holding those four files (gzipped or not).",
    },
    stages: [
      {
        name: 'cnn',
        title: 'Train the tutorial CNN',
        options: { recipe: 'cnn', model: 'fashion-mnist-cnn', epochs: 10, batchSize: 32, optimizer: 'adam', learningRate: 1e-3, earlyStop: { monitor: 'val_loss', patience: 3, restoreBestWeights: true }, reduceLrOnPlateau: { monitor: 'val_loss', factor: 0.2, patience: 1 }, labelSmoothing: 0.1, checkpointMonitor: 'val_loss', seed: 42 },
      },
    ],
    evaluateSplit: 'test',
    published: [{ metric: 'test accuracy', value: 0.925, stage: 'cnn', source: 'the tutorial ("about 92.5 %")' }],
    target: { metric: 'test accuracy', value: 0.925 },
  },
  {
    name: 'sign-mnist',
    title: 'Sign-language MNIST from CSV',
    description:
      'American Sign Language letters (24 classes: no J or Z, which need motion) as 28x28 grayscale rows of a CSV. The tutorial CNN (three Conv2D + BatchNormalization + MaxPooling blocks, Dense 512; 264,049 parameters), Adam, 20 epochs with light augmentation (rotation 10 degrees, zoom 0.1, shifts 0.1; no flips, a mirrored sign is another sign); reported on the 7,172 test rows.',
    tutorial: { title: 'NVIDIA DLI "Getting Started with Deep Learning": ASL CNN with data augmentation', url: 'https://www.kaggle.com/datasets/datamunge/sign-language-mnist' },
    settings: { inputSize: 28, resizeMode: 'squash' },
    data: {
      kind: 'csv',
      files: [
        { role: 'train', fileName: 'sign_mnist_train.csv', url: SIGN_BASE + 'sign_mnist_train.csv', sha256: '4c2897f19fab2b0ae2a7e4fa82e969043315d9f3a1a9cc0948b576bf1189a7e5', bytes: 83_281_065, aliases: ['sign_mnist_train.csv.gz'] },
        { role: 'test', fileName: 'sign_mnist_test.csv', url: SIGN_BASE + 'sign_mnist_test.csv', sha256: '0e9d67bae23e67f40728e0b63bf15ad4bd5175947b8a9fac5dd9f17ce133c47b', bytes: 21_777_485, aliases: ['sign_mnist_test.csv.gz'] },
      ],
      imports: [
        { roles: ['train'], options: { val: 0.1, test: 0, seed: 42 }, note: 'the 27,455 training rows: 90 % train, 10 % validation (stratified, seed 42)' },
        { roles: ['test'], options: { split: 'test' }, note: 'the 7,172 test rows: the test split the result is reported on' },
      ],
      provenance:
        'Kaggle "datamunge/sign-language-mnist" (CC0 as given on Kaggle). Kaggle needs a login, so the default URLs are the byte-identical CSVs committed in 16snathan/18794-final-project (commit 1143857e); the sha256s are those of the original CSVs. ' +
        'A local copy: a folder holding sign_mnist_train.csv and sign_mnist_test.csv (or .csv.gz).',
      labelNames: SIGN_LETTERS,
    },
    stages: [
      {
        name: 'cnn',
        title: 'Train the tutorial CNN with augmentation',
        options: { recipe: 'cnn', model: 'sign-mnist-cnn', epochs: 20, batchSize: 32, optimizer: 'adam', learningRate: 1e-3, augment: 'rotate=10,zoom=0.1,shift=0.1', checkpointMonitor: 'val_loss', seed: 42 },
      },
    ],
    evaluateSplit: 'test',
    published: [{ metric: 'test accuracy', value: null, stage: 'cnn', source: 'NVIDIA DLI course notebook (augmentation)', note: 'the course shows validation accuracy in the high 90s but publishes no single number; the bar here is 96 %' }],
    target: { metric: 'test accuracy', value: 0.96 },
  },
  {
    name: 'cats-dogs-cnn',
    title: 'Dogs vs cats: a small CNN from scratch',
    description:
      'Cats vs dogs from folders (flow_from_directory style) at 150x150: the practicum CNN (Conv2D 16/32/64 with MaxPooling, Dense 512) trained from scratch with RMSprop and augmentation (rotation, shifts, zoom, horizontal flip), then the same network with BatchNormalization after each convolution.',
    tutorial: { title: 'Google ML Practicum: Image Classification (cats vs dogs, data augmentation)', url: 'https://developers.google.com/machine-learning/practica/image-classification' },
    settings: { inputSize: 150, resizeMode: 'squash' },
    data: catsDogsData(),
    stages: [
      {
        name: 'cnn',
        title: 'Small CNN from scratch with augmentation',
        options: { recipe: 'cnn', model: 'cats-dogs-cnn', epochs: 15, batchSize: 20, optimizer: 'rmsprop', learningRate: 1e-3, augment: 'flip,rotate=40,shift=0.2,zoom=0.2', checkpointMonitor: 'val_loss', seed: 42 },
      },
      {
        name: 'cnn-bn',
        title: 'The same CNN with BatchNormalization',
        options: { recipe: 'cnn', model: 'cats-dogs-cnn-bn', epochs: 15, batchSize: 20, optimizer: 'rmsprop', learningRate: 1e-3, augment: 'flip,rotate=40,shift=0.2,zoom=0.2', checkpointMonitor: 'val_loss', seed: 42 },
        requiresPreset: 'cats-dogs-cnn-bn',
      },
    ],
    evaluateSplit: 'validation',
    published: [{ metric: 'validation accuracy', value: null, stage: 'cnn', source: 'Google ML Practicum, exercise 2', note: 'the practicum reports roughly 0.7-0.8 validation accuracy with augmentation and dropout; no single number' }],
  },
  {
    name: 'cats-dogs-vgg16',
    title: 'Dogs vs cats: VGG16 transfer learning, then fine-tuning',
    description:
      'VGG16 (ImageNet) as a frozen feature extractor with a new head at 150x150, then its last convolution block (block5) fine-tuned with a very low learning rate and augmentation. Needs the Keras VGG16 weights (include_top=False .h5), given as base weights.',
    tutorial: { title: 'Keras blog: Building powerful image classification models using very little data (F. Chollet)', url: 'https://blog.keras.io/building-powerful-image-classification-models-using-very-little-data.html' },
    settings: { inputSize: 150, resizeMode: 'squash' },
    data: catsDogsData(),
    stages: [
      { name: 'transfer', title: 'Frozen VGG16, train the head', options: { recipe: 'transfer', base: 'vgg16', epochs: 20, batchSize: 16, optimizer: 'rmsprop', learningRate: 1e-4, earlyStop: { monitor: 'val_loss', patience: 5, restoreBestWeights: true }, seed: 42 } },
      { name: 'finetune', title: 'Fine-tune block5', options: { recipe: 'finetune', epochs: 10, batchSize: 16, optimizer: 'rmsprop', learningRate: 1e-5, fineTuneFrom: 'block5', augment: 'flip,zoom=0.2', checkpointMonitor: 'val_loss', seed: 42 } },
    ],
    evaluateSplit: 'validation',
    published: [
      { metric: 'validation accuracy', value: 0.9, stage: 'transfer', source: 'Keras blog (bottleneck features): "a validation accuracy of 0.90-0.91"' },
      { metric: 'validation accuracy', value: 0.94, stage: 'finetune', source: 'Keras blog (fine-tuning block5): "a validation accuracy of 0.94"' },
    ],
  },
  {
    name: 'cats-dogs-mobilenetv2',
    title: 'Dogs vs cats: MobileNetV2 transfer learning and fine-tuning',
    description:
      'MobileNetV2 (alpha 1.0) at 160x160 as a frozen base with a new head (global average pooling, Dropout 0.2, Dense), trained with Adam 1e-4 and augmentation (horizontal flip, rotation), then fine-tuned from layer 100 (block_11_expand_relu) on with RMSprop 1e-5.',
    tutorial: { title: 'TensorFlow tutorial: Transfer learning and fine-tuning (MobileNetV2)', url: 'https://www.tensorflow.org/tutorials/images/transfer_learning' },
    settings: {
      inputSize: 160,
      resizeMode: 'squash',
      offlineWeights: {
        base: 'mobilenetv2',
        inputSize: 224,
        why: 'the MobileNetV2 weights available offline (nsfwjs) were trained on 224x224 images and tell cats from dogs better at that size (1 to 1.5 points of validation accuracy); download the official 160-px weights first (classifier-studio weights download mobilenetv2 --size 160) to follow the tutorial at 160x160',
      },
    },
    data: catsDogsData(),
    stages: [
      { name: 'transfer', title: 'Frozen MobileNetV2, train the head', options: { recipe: 'transfer', base: 'mobilenetv2', baseCut: 'full', epochs: 10, batchSize: 32, optimizer: 'adam', learningRate: 1e-4, augment: 'flip,rotate=72', checkpointMonitor: 'val_loss', seed: 42 } },
      {
        name: 'finetune',
        title: 'Fine-tune from block_11_expand_relu',
        options: { recipe: 'finetune', epochs: 10, batchSize: 32, optimizer: 'rmsprop', learningRate: 1e-5, fineTuneFrom: 'block_11_expand_relu', augment: 'flip,rotate=72', checkpointMonitor: 'val_loss', seed: 42 },
        offlineWeights: {
          options: { optimizer: 'adam', learningRate: 1e-4, fineTuneFrom: 'block_7', epochs: 12, labelSmoothing: 0.1, reduceLrOnPlateau: { monitor: 'val_loss', factor: 0.2, patience: 2 } },
          why: "the offline weights' blocks 11-16 were trained for another task, so fine-tuning has to re-learn them on top of the ImageNet blocks rather than nudge ImageNet features: from block_7 on, Adam 1e-4 for 12 epochs with label smoothing 0.1, the learning rate divided by 5 after 2 epochs without progress, instead of the tutorial's RMSprop 1e-5 from block_11 for 10 epochs",
        },
      },
    ],
    evaluateSplit: 'validation',
    published: [
      { metric: 'validation accuracy', value: 0.95, stage: 'transfer', source: 'TensorFlow transfer-learning tutorial (head only, 10 epochs): about 94-96 %' },
      { metric: 'validation accuracy', value: 0.98, stage: 'finetune', source: 'TensorFlow transfer-learning tutorial: "the model nearly reaches 98% accuracy on the validation set" after fine-tuning' },
    ],
    target: { metric: 'validation accuracy', value: 0.95, note: 'with the offline MobileNetV2 weights (nsfwjs: ImageNet blocks 0-10); the tutorial\'s ~97-98 % needs ImageNet weights for every block' },
  },
]

export function getExample(name: string): ExampleDef {
  const def = EXAMPLES.find((e) => e.name === name)
  if (!def) throw new AppError('INVALID_INPUT', `Unknown example "${name}". Examples: ${EXAMPLE_NAMES.join(', ')}.`, `Pick one of ${EXAMPLE_NAMES.join(', ')}.`)
  return def
}

/** What the Projects view lists (the contract's ExampleInfo). */
export interface ExampleSummary {
  name: ExampleName
  title: string
  description: string
  tutorial: { title: string; url: string }
  stages: { name: string; title: string }[]
  published: PublishedResult[]
  /** Total download size in bytes when known. */
  downloadBytes: number | null
}

export function listExamples(): ExampleSummary[] {
  return EXAMPLES.map((e) => ({
    name: e.name,
    title: e.title,
    description: e.description,
    tutorial: e.tutorial,
    stages: e.stages.map((s) => ({ name: s.name, title: s.title })),
    published: e.published,
    downloadBytes: e.data.files.every((f) => f.bytes) ? e.data.files.reduce((n, f) => n + (f.bytes ?? 0), 0) : null,
  }))
}

/** What createExample stores in project.state.example. */
export const ExampleState = z.object({
  name: ExampleName,
  stages: z.array(z.object({ name: z.string(), title: z.string(), options: z.record(z.string(), z.unknown()), requiresPreset: z.string().optional() })),
  evaluateSplit: z.enum(['test', 'validation']),
  /** Where the data came from: the URLs downloaded or the local path read in place. */
  source: z.object({ kind: z.enum(['download', 'local']), locations: z.array(z.string()) }),
  labelNames: z.record(z.string(), z.string()).optional(),
  createdAt: z.string(),
  /** The input size the project was created at, when it is not the tutorial's (and why). */
  inputSize: z.object({ size: z.number().int(), why: z.string() }).optional(),
  /** Filled by runExample. */
  results: z
    .array(z.object({ stage: z.string(), runId: z.string(), epochs: z.number(), bestEpoch: z.number(), valAccuracy: z.number().nullable(), seconds: z.number() }))
    .optional(),
  evaluation: z.object({ split: z.enum(['test', 'validation']), runId: z.string(), accuracy: z.number(), loss: z.number() }).optional(),
})
export type ExampleState = z.infer<typeof ExampleState>

/** Progress of createExample / runExample (the contract's Progress shape). */
export interface ExampleProgress {
  phase: 'download' | 'verify' | 'extract' | 'import' | 'train' | 'evaluate'
  done: number
  total: number
  rate?: number
  etaSeconds?: number
  message?: string
}

import type { LayerSpecInput } from '../../../shared/models'

export interface CnnPreset {
  name: string
  description: string
  /** Input the tutorial used: [height, width, channels]. */
  inputShape: [number, number, number]
  numClasses: number
  /** Hidden layers; the builder appends Dense(numClasses, softmax). */
  layers: LayerSpecInput[]
}

const CATS_DOGS_LAYERS: LayerSpecInput[] = [
  { type: 'Conv2D', filters: 16, kernelSize: 3, activation: 'relu' },
  { type: 'MaxPooling2D', poolSize: 2 },
  { type: 'Conv2D', filters: 32, kernelSize: 3, activation: 'relu' },
  { type: 'MaxPooling2D', poolSize: 2 },
  { type: 'Conv2D', filters: 64, kernelSize: 3, activation: 'relu' },
  { type: 'MaxPooling2D', poolSize: 2 },
  { type: 'Flatten' },
  { type: 'Dense', units: 512, activation: 'relu' },
]

/**
 * The tutorials' models. Parameter counts (with the tutorial's input and class count) are
 * checked against a PyTorch re-implementation by scripts/golden/keras_param_counts.py.
 */
export const CNN_PRESETS: Record<string, CnnPreset> = {
  /** Fashion-MNIST CNN: 333,526 params for 28x28x1 and 10 classes. */
  'fashion-mnist-cnn': {
    name: 'fashion-mnist-cnn',
    description: 'Fashion-MNIST tutorial CNN (2 conv blocks, Dense 100, Dropout 0.3): 333,526 params at 28x28x1, 10 classes',
    inputShape: [28, 28, 1],
    numClasses: 10,
    layers: [
      { type: 'Conv2D', filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'MaxPooling2D', poolSize: 2 },
      { type: 'Conv2D', filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' },
      { type: 'MaxPooling2D', poolSize: 2 },
      { type: 'Flatten' },
      { type: 'Dense', units: 100, activation: 'relu' },
      // The tutorial does not record its rate (Dropout has no params). 0.3 against 0.5:
      // 92.43 % against 91.70 % test accuracy in 10 epochs in PyTorch (bench/torch_reproduce.py).
      { type: 'Dropout', rate: 0.3 },
    ],
  },
  /** Sign-language-MNIST CNN: 264,049 params for 28x28x1 and 24 classes (300 non-trainable). */
  'sign-mnist-cnn': {
    name: 'sign-mnist-cnn',
    description: 'Sign-language-MNIST tutorial CNN (3 conv+BN blocks, Dense 512): 264,049 params at 28x28x1, 24 classes',
    inputShape: [28, 28, 1],
    numClasses: 24,
    layers: [
      { type: 'Conv2D', filters: 75, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu' },
      { type: 'BatchNormalization' },
      { type: 'MaxPooling2D', poolSize: 2, strides: 2, padding: 'same' },
      { type: 'Conv2D', filters: 50, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu' },
      { type: 'Dropout', rate: 0.2 },
      { type: 'BatchNormalization' },
      { type: 'MaxPooling2D', poolSize: 2, strides: 2, padding: 'same' },
      { type: 'Conv2D', filters: 25, kernelSize: 3, strides: 1, padding: 'same', activation: 'relu' },
      { type: 'BatchNormalization' },
      { type: 'MaxPooling2D', poolSize: 2, strides: 2, padding: 'same' },
      { type: 'Flatten' },
      { type: 'Dense', units: 512, activation: 'relu' },
      { type: 'Dropout', rate: 0.3 },
    ],
  },
  /**
   * Small cats-vs-dogs CNN from Google's image-classification practicum (150x150x3, three
   * conv/pool blocks, Dense 512). The practicum ends in Dense(1, sigmoid); here the classifier
   * is Dense(numClasses, softmax) like every other model of the app.
   */
  'cats-dogs-cnn': {
    name: 'cats-dogs-cnn',
    description: 'Cats-vs-dogs practicum CNN (16/32/64 conv blocks, Dense 512) for 150x150x3',
    inputShape: [150, 150, 3],
    numClasses: 2,
    layers: CATS_DOGS_LAYERS,
  },
  /** The practicum CNN with BatchNormalization after each convolution (example 3's second stage). */
  'cats-dogs-cnn-bn': {
    name: 'cats-dogs-cnn-bn',
    description: 'Cats-vs-dogs practicum CNN with BatchNormalization after each convolution, for 150x150x3',
    inputShape: [150, 150, 3],
    numClasses: 2,
    layers: CATS_DOGS_LAYERS.flatMap((l): LayerSpecInput[] => (l.type === 'Conv2D' ? [l, { type: 'BatchNormalization' }] : [l])),
  },
}

export function listPresets(): CnnPreset[] {
  return Object.values(CNN_PRESETS)
}

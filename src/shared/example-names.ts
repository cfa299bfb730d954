/** The tutorial examples, by name (without zod: the CLI's --help lists them). */
export const EXAMPLE_NAMES = ['fashion-mnist', 'sign-mnist', 'cats-dogs-cnn', 'cats-dogs-vgg16', 'cats-dogs-mobilenetv2'] as const

#!/usr/bin/python3
"""Golden parameter counts for the model zoo, computed independently of TensorFlow.js.

Rebuilds the Keras architectures (tutorial CNNs, keras.applications MobileNetV2 and VGG16
without top) layer by layer in PyTorch with Keras's layer names, runs a dummy forward pass to
check shapes, and counts parameters the Keras way: BatchNormalization's moving mean/variance
count as non-trainable parameters (torch keeps them as buffers).

Usage: /usr/bin/python3 scripts/golden/keras_param_counts.py > counts.json
Prints JSON: {name: {total, trainable, nonTrainable, outputShape, layers: [[name, params], ...]}}.

Reference numbers it must reproduce (Keras docs / model.summary()):
MobileNetV2 alpha 1.0 without top 2,257,984; VGG16 without top 14,714,688;
Fashion-MNIST CNN 333,526; sign-language-MNIST CNN 264,049 (300 non-trainable).
"""
import json
import math
import sys

import torch
from torch import nn
import torch.nn.functional as F


def make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class TFSamePad(nn.Module):
    """TensorFlow 'same' padding (extra pixel at bottom/right) for stride s, kernel k."""

    def __init__(self, k, s):
        super().__init__()
        self.k, self.s = k, s

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        ph = max((math.ceil(h / self.s) - 1) * self.s + self.k - h, 0)
        pw = max((math.ceil(w / self.s) - 1) * self.s + self.k - w, 0)
        return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class Seq(nn.Module):
    """A Keras-like graph: a list of (name, module) applied in order, with residual adds."""

    def __init__(self):
        super().__init__()
        self.names = []
        self.mods = nn.ModuleList()

    def add(self, name, mod):
        self.names.append(name)
        self.mods.append(mod)


def keras_params(mod):
    trainable = sum(p.numel() for p in mod.parameters())
    non_trainable = sum(b.numel() for n, b in mod.named_buffers() if n.endswith('running_mean') or n.endswith('running_var'))
    return trainable, non_trainable


def bn(c, eps=1e-3, momentum=0.999):
    # torch momentum = 1 - keras momentum
    return nn.BatchNorm2d(c, eps=eps, momentum=1 - momentum)


def mobilenet_v2(alpha, size):
    layers = []  # (name, module)
    c_in = 3
    first = make_divisible(32 * alpha, 8)
    layers.append(('Conv1', nn.Sequential(TFSamePad(3, 2), nn.Conv2d(c_in, first, 3, 2, bias=False))))
    layers.append(('bn_Conv1', bn(first)))
    layers.append(('Conv1_relu', nn.ReLU6()))
    c = first
    blocks = [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6),
              (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6),
              (320, 1, 6)]
    residual = []
    for block_id, (filters, stride, expansion) in enumerate(blocks):
        pw = make_divisible(int(filters * alpha), 8)
        prefix = f'block_{block_id}_' if block_id else 'expanded_conv_'
        x_c = c
        start = len(layers)
        if block_id:
            layers.append((prefix + 'expand', nn.Conv2d(c, expansion * c, 1, bias=False)))
            layers.append((prefix + 'expand_BN', bn(expansion * c)))
            layers.append((prefix + 'expand_relu', nn.ReLU6()))
            x_c = expansion * c
        if stride == 2:
            # correct_pad for even sizes: ((0, 1), (0, 1)); odd: ((1, 1), (1, 1))
            layers.append((prefix + 'pad', TFSamePad(3, 2)))
        layers.append((prefix + 'depthwise', nn.Conv2d(x_c, x_c, 3, stride, padding=1 if stride == 1 else 0, groups=x_c, bias=False)))
        layers.append((prefix + 'depthwise_BN', bn(x_c)))
        layers.append((prefix + 'depthwise_relu', nn.ReLU6()))
        layers.append((prefix + 'project', nn.Conv2d(x_c, pw, 1, bias=False)))
        layers.append((prefix + 'project_BN', bn(pw)))
        if c == pw and stride == 1:
            layers.append((prefix + 'add', None))
            residual.append((start, len(layers) - 1))
        c = pw
    last = make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    layers.append(('Conv_1', nn.Conv2d(c, last, 1, bias=False)))
    layers.append(('Conv_1_bn', bn(last)))
    layers.append(('out_relu', nn.ReLU6()))
    return layers, residual


def vgg16():
    layers = []
    c = 3
    for b, n, filters in [(1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512)]:
        for i in range(1, n + 1):
            layers.append((f'block{b}_conv{i}', nn.Sequential(nn.Conv2d(c, filters, 3, padding=1), nn.ReLU())))
            c = filters
        layers.append((f'block{b}_pool', nn.MaxPool2d(2, 2)))
    return layers, []


def fashion_cnn():
    return [
        ('conv2d', nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU())),
        ('max_pooling2d', nn.MaxPool2d(2)),
        ('conv2d_1', nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU())),
        ('max_pooling2d_1', nn.MaxPool2d(2)),
        ('flatten', nn.Flatten()),
        ('dense', nn.Sequential(nn.Linear(7 * 7 * 64, 100), nn.ReLU())),
        ('dropout', nn.Dropout(0.5)),
        ('dense_1', nn.Linear(100, 10)),
    ], []


def sign_cnn():
    def pool_same():
        return nn.Sequential(TFSamePad(2, 2), nn.MaxPool2d(2, 2))
    return [
        ('conv2d', nn.Sequential(nn.Conv2d(1, 75, 3, padding=1), nn.ReLU())),
        ('batch_normalization', bn(75, momentum=0.99)),
        ('max_pooling2d', pool_same()),
        ('conv2d_1', nn.Sequential(nn.Conv2d(75, 50, 3, padding=1), nn.ReLU())),
        ('dropout', nn.Dropout(0.2)),
        ('batch_normalization_1', bn(50, momentum=0.99)),
        ('max_pooling2d_1', pool_same()),
        ('conv2d_2', nn.Sequential(nn.Conv2d(50, 25, 3, padding=1), nn.ReLU())),
        ('batch_normalization_2', bn(25, momentum=0.99)),
        ('max_pooling2d_2', pool_same()),
        ('flatten', nn.Flatten()),
        ('dense', nn.Sequential(nn.Linear(4 * 4 * 25, 512), nn.ReLU())),
        ('dropout_1', nn.Dropout(0.3)),
        ('dense_1', nn.Linear(512, 24)),
    ], []


def cats_dogs_cnn(num_classes=2):
    return [
        ('conv2d', nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())),
        ('max_pooling2d', nn.MaxPool2d(2)),
        ('conv2d_1', nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU())),
        ('max_pooling2d_1', nn.MaxPool2d(2)),
        ('conv2d_2', nn.Sequential(nn.Conv2d(32, 64, 3), nn.ReLU())),
        ('max_pooling2d_2', nn.MaxPool2d(2)),
        ('flatten', nn.Flatten()),
        ('dense', nn.Sequential(nn.Linear(17 * 17 * 64, 512), nn.ReLU())),
        ('dense_1', nn.Linear(512, num_classes)),
    ], []


def cats_dogs_cnn_bn(num_classes=2):
    """The practicum CNN with BatchNormalization after each convolution (example 3, second stage)."""
    return [
        ('conv2d', nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU())),
        ('batch_normalization', bn(16, momentum=0.99)),
        ('max_pooling2d', nn.MaxPool2d(2)),
        ('conv2d_1', nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU())),
        ('batch_normalization_1', bn(32, momentum=0.99)),
        ('max_pooling2d_1', nn.MaxPool2d(2)),
        ('conv2d_2', nn.Sequential(nn.Conv2d(32, 64, 3), nn.ReLU())),
        ('batch_normalization_2', bn(64, momentum=0.99)),
        ('max_pooling2d_2', nn.MaxPool2d(2)),
        ('flatten', nn.Flatten()),
        ('dense', nn.Sequential(nn.Linear(17 * 17 * 64, 512), nn.ReLU())),
        ('dense_1', nn.Linear(512, num_classes)),
    ], []


def run(layers, residual, input_shape):
    """Forward a zero batch through the graph (checks the shapes) and return the output shape."""
    starts = {s: e for s, e in residual}
    x = torch.zeros(1, input_shape[2], input_shape[0], input_shape[1])
    saved = {}
    with torch.no_grad():
        for i, (name, mod) in enumerate(layers):
            if i in starts:
                saved[starts[i]] = x
            if mod is None:  # Add
                x = x + saved.pop(i)
            else:
                if isinstance(mod, (nn.Flatten,)) or (isinstance(mod, nn.Sequential) and isinstance(mod[0], nn.Linear)) or isinstance(mod, nn.Linear):
                    if x.dim() == 4:  # Keras flattens NHWC
                        x = x.permute(0, 2, 3, 1)
                x = mod(x)
    shape = list(x.shape[1:])
    if len(shape) == 3:
        shape = [shape[1], shape[2], shape[0]]
    return shape


def describe(layers, residual, input_shape):
    rows, total_t, total_nt = [], 0, 0
    for name, mod in layers:
        t, nt = keras_params(mod) if mod is not None else (0, 0)
        rows.append([name, t + nt])
        total_t += t
        total_nt += nt
    return {
        'total': total_t + total_nt,
        'trainable': total_t,
        'nonTrainable': total_nt,
        'outputShape': run(layers, residual, input_shape),
        'layers': rows,
    }


def main():
    torch.manual_seed(0)
    out = {
        'fashion-mnist-cnn': describe(*fashion_cnn(), (28, 28, 1)),
        'sign-mnist-cnn': describe(*sign_cnn(), (28, 28, 1)),
        'cats-dogs-cnn': describe(*cats_dogs_cnn(), (150, 150, 3)),
        'cats-dogs-cnn-bn': describe(*cats_dogs_cnn_bn(), (150, 150, 3)),
    }
    for alpha, size in [(1.0, 224), (0.35, 96), (0.5, 128), (0.75, 160), (1.0, 160), (0.35, 224), (1.0, 97)]:
        out[f'mobilenetv2-{alpha}-{size}'] = describe(*mobilenet_v2(alpha, size), (size, size, 3))
    for size in [224, 64]:
        out[f'vgg16-{size}'] = describe(*vgg16(), (size, size, 3))
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()

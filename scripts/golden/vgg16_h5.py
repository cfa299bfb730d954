#!/usr/bin/python3
"""Writes a Keras-Applications-layout VGG16 (no top) weights file plus reference outputs.

No download: torchvision's VGG16 architecture with seeded random weights (biases random too,
so that bias loading is checked). The weights are written exactly as Keras 2 `save_weights`
(and the official vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5) lay them out:
  root attrs: layer_names, backend, keras_version
  /<layer> group, attr weight_names = [b'<layer>/kernel:0', b'<layer>/bias:0']
  /<layer>/<layer>/kernel:0  (kh, kw, in, out)   /<layer>/<layer>/bias:0  (out,)
Reference: a seeded uint8 batch (N, S, S, 3) RGB, preprocessed as keras vgg16.preprocess_input
(caffe: RGB->BGR, minus mean [103.939, 116.779, 123.68]), through torch's features, NHWC.

Usage: /usr/bin/python3 scripts/golden/vgg16_h5.py OUT_DIR [--size 64] [--n 2] [--seed 0]
Writes OUT_DIR/vgg16_notop_random.h5 and OUT_DIR/vgg16_reference.json
({size, n, input: [uint8 ...], outputShape, output: [float ...]}).
"""
import argparse
import json
import os

import h5py
import numpy as np
import torch
import torchvision

NAMES = []
for b, n in [(1, 2), (2, 2), (3, 3), (4, 3), (5, 3)]:
    NAMES += [f'block{b}_conv{i}' for i in range(1, n + 1)] + [f'block{b}_pool']


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out_dir')
    ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--n', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    torch.manual_seed(a.seed)
    net = torchvision.models.vgg16().features.eval()  # random init, no download
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        for i, c in enumerate(convs):
            torch.nn.init.normal_(c.bias, std=0.05)
            if i == 0:
                c.weight.mul_(1 / 64.0)  # caffe-centred input is ~±100: keep activations O(1)
    conv_iter = iter(convs)
    with h5py.File(os.path.join(a.out_dir, 'vgg16_notop_random.h5'), 'w') as f:
        f.attrs['layer_names'] = np.array([n.encode() for n in ['input_1'] + NAMES])
        f.attrs['backend'] = b'tensorflow'
        f.attrs['keras_version'] = b'2.2.4'
        g = f.create_group('input_1')
        g.attrs['weight_names'] = np.array([], dtype='S1')
        for name in NAMES:
            g = f.create_group(name)
            if 'pool' in name:
                g.attrs['weight_names'] = np.array([], dtype='S1')
                continue
            c = next(conv_iter)
            kernel = c.weight.detach().numpy().transpose(2, 3, 1, 0).astype(np.float32)  # OIHW -> HWIO
            bias = c.bias.detach().numpy().astype(np.float32)
            g.attrs['weight_names'] = np.array([f'{name}/kernel:0'.encode(), f'{name}/bias:0'.encode()])
            g.create_dataset(f'{name}/kernel:0', data=kernel)
            g.create_dataset(f'{name}/bias:0', data=bias)
    rng = np.random.default_rng(a.seed)
    x = rng.integers(0, 256, size=(a.n, a.size, a.size, 3), dtype=np.uint8)
    caffe = x[..., ::-1].astype(np.float32) - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(np.ascontiguousarray(caffe.transpose(0, 3, 1, 2)))).numpy().transpose(0, 2, 3, 1)
    with open(os.path.join(a.out_dir, 'vgg16_reference.json'), 'w') as fh:
        json.dump({'size': a.size, 'n': a.n, 'input': x.reshape(-1).tolist(), 'outputShape': list(y.shape),
                   'output': [float(v) for v in y.reshape(-1)]}, fh)


if __name__ == '__main__':
    main()

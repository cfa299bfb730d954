#!/usr/bin/python3
"""Reads a Keras .h5 with h5py and prints its layout as JSON (the Keras 2 full-model layout).

usage: h5_check.py MODEL.h5 [REFERENCE_DIR]

Prints {"keras_version", "backend", "model_config": {"class_name", "layers": [names], "layer_classes"},
"layer_names", "weight_names": {layer: [...]}, "shapes": {"layer/weight:0": [...]},
"missing": [...], and with REFERENCE_DIR (manifest.json {name: {shape, offset}} + weights.bin float32 LE):
"weights_equal": bool, "max_abs_diff": float, "compared": n}.
Exit status 0 when the layout is complete (and weights equal, if compared), else 1.
"""
import json
import sys

import h5py
import numpy as np


def as_str(v):
    return v.decode('utf8') if isinstance(v, bytes) else str(v)


def main():
    path = sys.argv[1]
    ref = sys.argv[2] if len(sys.argv) > 2 else None
    out = {}
    ok = True
    with h5py.File(path, 'r') as f:
        out['keras_version'] = as_str(f.attrs.get('keras_version', ''))
        out['backend'] = as_str(f.attrs.get('backend', ''))
        cfg = json.loads(as_str(f.attrs['model_config']))
        layers = cfg['config']['layers'] if isinstance(cfg['config'], dict) else cfg['config']
        out['model_config'] = {
            'class_name': cfg['class_name'],
            'layers': [l['config']['name'] for l in layers],
            'layer_classes': [l['class_name'] for l in layers],
        }
        mw = f['model_weights']
        layer_names = [as_str(n) for n in mw.attrs['layer_names']]
        out['layer_names'] = layer_names
        out['layer_names_dtype'] = str(mw.attrs['layer_names'].dtype)
        weight_names, shapes, missing = {}, {}, []
        values = {}
        for ln in layer_names:
            if ln not in mw:
                missing.append(ln)
                continue
            g = mw[ln]
            names = [as_str(n) for n in g.attrs['weight_names']]
            weight_names[ln] = names
            for wn in names:
                if wn not in g:
                    missing.append(ln + '/' + wn)
                    continue
                d = g[wn]
                shapes[ln + '/' + wn] = list(d.shape)
                if d.dtype != np.float32:
                    missing.append(ln + '/' + wn + ' (dtype ' + str(d.dtype) + ')')
                values[wn] = d[()]
        out['weight_names'] = weight_names
        out['shapes'] = shapes
        out['missing'] = missing
        ok = ok and not missing
    if ref:
        with open(ref + '/manifest.json') as fh:
            manifest = json.load(fh)
        blob = np.fromfile(ref + '/weights.bin', dtype='<f4')
        max_diff = 0.0
        equal = True
        compared = 0
        for name, m in manifest.items():
            n = int(np.prod(m['shape'])) if m['shape'] else 1
            want = blob[m['offset']:m['offset'] + n].reshape(m['shape'])
            got = values.get(name)
            if got is None or list(got.shape) != list(want.shape):
                equal = False
                continue
            compared += 1
            diff = float(np.max(np.abs(got - want))) if n else 0.0
            max_diff = max(max_diff, diff)
            if not np.array_equal(got, want):
                equal = False
        out['weights_equal'] = equal and compared == len(manifest)
        out['max_abs_diff'] = max_diff
        out['compared'] = compared
        ok = ok and out['weights_equal']
    print(json.dumps(out))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()

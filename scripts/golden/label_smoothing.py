#!/usr/bin/python3
"""Golden categorical cross-entropy with label smoothing, from PyTorch (Debian python3-torch).

PyTorch's cross_entropy(label_smoothing=s) equals Keras's CategoricalCrossentropy(label_smoothing=s)
(targets y * (1 - s) + s / k) for probabilities away from Keras's 1e-7 clip, so it is an
independent reference for the app's loss. Writes test/fixtures/label-smoothing.json; the test is
test/unit/training-loss.test.ts. Run from the repository root:
    /usr/bin/python3 scripts/golden/label_smoothing.py
"""
import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'label-smoothing.json')

g = torch.Generator().manual_seed(7)
cases = []
for n, k in ((5, 3), (8, 10), (4, 24)):
    probs = torch.softmax(torch.randn(n, k, generator=g, dtype=torch.float64) * 2, dim=1)
    labels = torch.randint(0, k, (n,), generator=g)
    for s in (0.0, 0.1, 0.3):
        loss = F.cross_entropy(torch.log(probs), labels, label_smoothing=s).item()
        cases.append({'probs': probs.tolist(), 'labels': labels.tolist(), 'classes': k, 'labelSmoothing': s, 'loss': loss})
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases}, f, indent=1)
print(f'wrote {len(cases)} cases to {os.path.normpath(OUT)}')

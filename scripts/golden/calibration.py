#!/usr/bin/python3
"""Golden expected calibration error and temperature, from PyTorch and SciPy (Debian python3-torch, python3-scipy).

ECE as in Guo et al.'s reference code (gpleiss/temperature_scaling, _ECELoss: 15 equal-width bins,
sum of |accuracy - confidence| weighted by the bin's share), and the temperature minimising the mean
NLL of softmax(logits / T) found by SciPy's bounded scalar minimiser on log T. Writes
test/fixtures/calibration.json; the test is test/unit/calibration.test.ts. Run from the repository root:
    /usr/bin/python3 scripts/golden/calibration.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'fixtures', 'calibration.json')


def ece(probs, labels, n_bins=15):
    conf, pred = probs.max(dim=1)
    correct = pred.eq(labels)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    total = torch.zeros(1, dtype=torch.float64)
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = conf.gt(lo) & conf.le(hi)
        share = in_bin.double().mean()
        if share > 0:
            total += torch.abs(correct[in_bin].double().mean() - conf[in_bin].mean()) * share
    return total.item()


def fit_temperature(logits, labels):
    nll = lambda log_t: F.cross_entropy(logits / math.exp(log_t), labels).item()
    r = minimize_scalar(nll, bounds=(math.log(0.05), math.log(20)), method='bounded', options={'xatol': 1e-8})
    return math.exp(r.x)


g = torch.Generator().manual_seed(21)
cases = []
for n, k, scale in ((40, 3, 3.0), (200, 5, 4.0), (120, 10, 1.5)):
    logits = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    # labels from a softer distribution than the logits say: an overconfident "model"
    labels = torch.multinomial(torch.softmax(logits / 2, dim=1), 1, generator=g).squeeze(1)
    probs = torch.softmax(logits, dim=1)
    t = fit_temperature(logits, labels)
    cases.append({
        'probs': probs.tolist(), 'labels': labels.tolist(), 'classes': k,
        'ece': ece(probs, labels), 'temperature': t, 'eceCalibrated': ece(torch.softmax(logits / t, dim=1), labels),
        'nll': F.cross_entropy(logits, labels).item(), 'nllCalibrated': F.cross_entropy(logits / t, labels).item(),
    })
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'bins': 15, 'cases': cases}, f, indent=1)
print(f'wrote {len(cases)} cases to {os.path.normpath(OUT)}')

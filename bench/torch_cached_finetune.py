#!/usr/bin/python3
"""Cats vs dogs, offline MobileNetV2 weights: how far fine-tuning from a block can go, fast.

Caches the frozen bottom's activations once (original and horizontally flipped training images,
validation images), then trains everything above the cut plus a new head (Dropout 0.2, Dense 2)
with Adam, Keras ReduceLROnPlateau (factor 0.2) and optional label smoothing (LS env). Flips are
the only augmentation (the app adds rotation), so it is an upper-bound explorer, not the peer
(that is bench/torch_reproduce.py).

    LS=0.1 /usr/bin/python3 bench/torch_cached_finetune.py WEIGHTS_DIR CUT SIZE LR:EPOCHS:PATIENCE ...

WEIGHTS_DIR: the MobileNetV2 dump bench/reproduce.ts writes (<work>/mnv2-weights); CUT: index into
torchvision's mobilenet_v2().features (8 = from block_7); SIZE: input pixels. DATA env: the
cats-vs-dogs folder (default /work/shared/data/cats-vs-dogs). Results (2 cores, 2026-11-26):
from block_7 with LS 0.1, 12 epochs: 94.5 % at 160 px, 96.0 % at 224 px (best by val_loss).
"""
import sys, time, copy, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reproduce as R
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(os.environ.get('NT', '1')))
f = R.mobilenet_from_dump(sys.argv[1]); f.eval()
CUT, SIZE = int(sys.argv[2]), int(sys.argv[3])
LS = float(os.environ.get('LS', '0'))
cf = os.path.join(os.environ.get('CACHE', '/tmp'), f'cats-dogs-cut{CUT}-{SIZE}.pt')
if os.path.exists(cf):
    d = torch.load(cf); ftr, ftrf, fva, ytr, yva = d['ftr'], d['ftrf'], d['fva'], d['ytr'], d['yva']
else:
    root = os.environ.get('DATA', '/work/shared/data/cats-vs-dogs')
    xtr, ytr = R.load_folder(root, 'train', SIZE); xva, yva = R.load_folder(root, 'validation', SIZE)
    bottom = f[:CUT]
    with torch.no_grad():
        g = lambda x: torch.cat([bottom(x[i:i+50] / 255.0) for i in range(0, len(x), 50)])
        ftr, ftrf, fva = g(xtr), g(torch.flip(xtr, [3])), g(xva)
    torch.save({'ftr': ftr, 'ftrf': ftrf, 'fva': fva, 'ytr': ytr, 'yva': yva}, cf)
print('features', ftr.shape, flush=True)
def run(name, lr, epochs, pat, bs=32):
    torch.manual_seed(42)
    top = copy.deepcopy(f[CUT:])
    head = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 2)); R.keras_init(head)
    o = torch.optim.Adam(list(top.parameters()) + list(head.parameters()), lr=lr, eps=1e-7)
    gen = torch.Generator().manual_seed(42); t0 = time.time()
    plateau = R.Plateau(o, pat, factor=0.2) if pat else None
    for ep in range(epochs):
        top.eval(); head.train(); correct = 0
        perm = torch.randperm(len(ftr), generator=gen)
        for i in range(0, len(ftr), bs):
            b = perm[i:i+bs]
            m = (torch.rand(len(b), generator=gen) < 0.5).view(-1,1,1,1)
            out = head(F.adaptive_avg_pool2d(top(torch.where(m, ftrf[b], ftr[b])), 1).flatten(1))
            loss = F.cross_entropy(out, ytr[b], label_smoothing=LS); o.zero_grad(); loss.backward(); o.step()
            correct += (out.argmax(1) == ytr[b]).sum().item()
        head.eval()
        with torch.no_grad():
            out = torch.cat([head(F.adaptive_avg_pool2d(top(fva[i:i+100]), 1).flatten(1)) for i in range(0, len(fva), 100)])
        vl = F.cross_entropy(out, yva, label_smoothing=LS).item(); va = (out.argmax(1) == yva).float().mean().item()
        print(f'{name} ep{ep+1} lr {o.param_groups[0]["lr"]:.1e} train_acc {correct/len(ftr):.4f} val_loss {vl:.4f} val_acc {va:.4f} {time.time()-t0:.0f}s', flush=True)
        if plateau: plateau.step(vl)
for spec in sys.argv[4:]:
    lr, ep, pat = spec.split(':')
    run(f'cut{CUT}@{SIZE}ls{LS}:{spec}', float(lr), int(ep), int(pat))

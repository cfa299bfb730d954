#!/usr/bin/python3
"""Fashion-MNIST tutorial CNN in PyTorch: recipe variants tried for the example's preset.

The example's model (333,526 params, Keras initialisation) on the same stratified 90/10 split
as the app, Adam (eps 1e-7), 10 epochs, the best epoch by validation loss restored at the end
(the RESULT line); the test accuracy is printed every epoch too. One thread per run, so two runs
share the 2-core machine.

    [LS=0.1] /usr/bin/python3 bench/torch_fashion_recipes.py NAME DROPOUT AUGMENT BATCH SCHEDULE SEED [LR]

AUGMENT: none or bench/torch_reproduce.py's spec (e.g. flip); SCHEDULE: plat1 (learning rate x0.2
after 1 epoch without val_loss progress; val_loss here is the plain cross-entropy even with LS),
cos (cosine to 0 over 10 epochs) or step (x0.2 after epoch 5, x0.04 after epoch 8). DATA env:
the Fashion-MNIST folder (default /work/shared/data/fashion-mnist).

Results on 2026-11-25/26 (Dropout 0.3, batch 32, plat1 unless said; test accuracy of the restored
epoch): seed 42: 92.43 %, with LS=0.1 92.77 %, flips 92.18 %, batch 64 91.98 %, step 92.39 %;
seed 1: 92.13 %, with LS=0.1 92.40 %.
"""
import sys, time, copy, math, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reproduce as R
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(1)
data = os.environ.get('DATA', '/work/shared/data/fashion-mnist')
x = R.read_idx(R.find(data, "train-images-idx3-ubyte.gz")); y = R.read_idx(R.find(data, "train-labels-idx1-ubyte.gz")).astype(np.int64)
xt = R.read_idx(R.find(data, "t10k-images-idx3-ubyte.gz")); yt = R.read_idx(R.find(data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
tr, va = R.stratified_val(y, 0.1)
t = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)
xtr, ytr, xva, yva = t(x[tr]), torch.from_numpy(y[tr]), t(x[va]), torch.from_numpy(y[va]); xte, yte = t(xt), torch.from_numpy(yt)
name, drop, aug, bs, sched, seed = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
lr0 = float(sys.argv[7]) if len(sys.argv) > 7 else 1e-3
torch.manual_seed(seed)
model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(7 * 7 * 64, 100), nn.ReLU(), nn.Dropout(drop), nn.Linear(100, 10))
R.keras_init(model)
opt = torch.optim.Adam(model.parameters(), lr=lr0, eps=1e-7)
gen = torch.Generator().manual_seed(seed)
best, best_state = 1e9, None; t0 = time.time()
plateau = R.Plateau(opt, int(sched[4:] or 1), factor=0.2) if sched.startswith('plat') else None
for ep in range(10):
    model.train(); perm = torch.randperm(len(xtr), generator=gen)
    steps = (len(xtr) + bs - 1) // bs
    for i in range(0, len(xtr), bs):
        if sched == 'step':
            for g in opt.param_groups: g['lr'] = lr0 * (1 if ep < 5 else 0.2 if ep < 8 else 0.04)
        if sched == 'cos':
            k = ep * steps + i // bs
            for g in opt.param_groups: g['lr'] = lr0 * 0.5 * (1 + math.cos(math.pi * k / (10 * steps)))
        b = perm[i:i+bs]; xb = R.augment(xtr[b], {"augment": aug}, gen) if aug != 'none' else xtr[b]
        loss = F.cross_entropy(model(xb), ytr[b], label_smoothing=float(os.environ.get('LS', '0'))); opt.zero_grad(); loss.backward(); opt.step()
    vl, vacc = R.evaluate(model, xva, yva); _, tacc = R.evaluate(model, xte, yte)
    print(f"{name} ep{ep+1} lr {opt.param_groups[0]['lr']:.1e} val_loss {vl:.4f} val_acc {vacc:.4f} test {tacc:.4f} {time.time()-t0:.0f}s", flush=True)
    if plateau: plateau.step(vl)
    if vl < best: best, best_state = vl, copy.deepcopy(model.state_dict())
model.load_state_dict(best_state); _, tacc = R.evaluate(model, xte, yte)
print(f"RESULT {name} test {tacc:.4f}", flush=True)

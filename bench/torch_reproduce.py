#!/usr/bin/python3
"""PyTorch peer of bench/reproduce.ts: the same tutorial recipe on the same files, 2 threads.

Usage: /usr/bin/python3 bench/torch_reproduce.py '<job json>'
job = {"example": "fashion-mnist"|"sign-mnist"|"cats-dogs-mobilenetv2", "data": DIR,
       "stages": [{"name", "options": TrainOptions-like dict}], "weights": DIR|null, "inputSize": int}
Prints progress lines starting with [torch] on stderr and one JSON object on stdout:
{"accuracy", "split", "epochs": [per stage], "seconds", "torch", "threads"}.

Same as the app: Keras initialisers (glorot-uniform kernels, zero biases), Keras optimizer
constants (Adam/RMSprop eps 1e-7), BatchNormalization momentum 0.99 / eps 1e-3, a 10 %
stratified validation share of the training file (seed 42) for the MNIST-style sets, the best
epoch by val_loss kept (ModelCheckpoint) and EarlyStopping(restore_best_weights) where the
recipe has it, ReduceLROnPlateau as Keras where the recipe has it. The split is drawn by numpy, so it is a different 10 % than the app's.
"""
import copy
import gzip
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(2)
torch.manual_seed(42)
np.random.seed(42)


def log(msg):
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


def keras_init(model):
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.BatchNorm2d):
            m.momentum, m.eps = 0.01, 1e-3


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    nd = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def read_csv(path):
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
        a = np.loadtxt(f, delimiter=",", skiprows=1, dtype=np.int64)
    return a[:, 1:].reshape(-1, 28, 28).astype(np.uint8), a[:, 0]


def find(data, *names):
    for n in names:
        p = os.path.join(data, n)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"none of {names} in {data}")


def stratified_val(labels, share, seed=42):
    rng = np.random.RandomState(seed)
    val = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        idx = np.where(labels == c)[0]
        rng.shuffle(idx)
        val[idx[: int(round(len(idx) * share))]] = True
    return ~val, val


def augment(x, opts, gen):
    """Random rotation (degrees), zoom, shifts and horizontal flip as one affine warp per image (fill: nearest)."""
    a = opts.get("augment") or ""
    if not a or a == "none":
        return x
    spec = {}
    for part in a.split(","):
        k, _, v = part.partition("=")
        spec[k] = v
    n = x.shape[0]
    rot = float(spec.get("rotate", 0)) * math.pi / 180
    zoom = float(spec.get("zoom", 0))
    sx = float(spec.get("shift", spec.get("shiftX", 0)))
    sy = float(spec.get("shift", spec.get("shiftY", 0)))
    r = lambda m: (torch.rand(n, generator=gen) * 2 - 1) * m
    ang, z, tx, ty = r(rot), 1 + r(zoom), r(sx) * 2, r(sy) * 2
    cos, sin = torch.cos(ang) * z, torch.sin(ang) * z
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    if "flip" in spec:
        flip = (torch.rand(n, generator=gen) < 0.5).float() * -2 + 1
        theta[:, 0, 0] *= flip
        theta[:, 1, 0] *= flip
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def make_opt(params, o):
    name = o.get("optimizer", "adam")
    lr = o.get("learningRate", 1e-3)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, eps=1e-7)


def evaluate(model, x, y, bs=256, prep=lambda t: t, label_smoothing=0.0):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            out = model(prep(x[i:i + bs]))
            loss += F.cross_entropy(out, y[i:i + bs], reduction="sum", label_smoothing=label_smoothing).item()
            correct += (out.argmax(1) == y[i:i + bs]).sum().item()
    return loss / len(x), correct / len(x)


class Plateau:
    """Keras ReduceLROnPlateau on val_loss: lr *= factor after `patience` epochs without a
    min_delta improvement (no cooldown); step() says whether it reduced."""

    def __init__(self, opt, patience, factor=0.1, min_delta=1e-4, min_lr=0.0):
        self.opt, self.patience, self.factor, self.min_delta, self.min_lr = opt, patience, factor, min_delta, min_lr
        self.best, self.wait = float("inf"), 0

    def step(self, val_loss):
        if val_loss < self.best - self.min_delta:
            self.best, self.wait = val_loss, 0
            return False
        self.wait += 1
        if self.wait < self.patience:
            return False
        for g in self.opt.param_groups:
            g["lr"] = max(g["lr"] * self.factor, self.min_lr)
        self.wait = 0
        return True


def fit(model, params, o, xtr, ytr, xva, yva, prep=lambda t: t, train_mode=lambda m: m.train()):
    """Keras-style fit: shuffled batches, best epoch by val_loss kept, optional early stopping."""
    opt = make_opt(params, o)
    epochs, bs = o.get("epochs", 10), o.get("batchSize", 32)
    es = o.get("earlyStop")
    patience = es.get("patience", 3) if isinstance(es, dict) else (es if isinstance(es, int) and es is not False else None)
    gen = torch.Generator().manual_seed(o.get("seed", 42))
    best, best_state, wait, done = float("inf"), None, 0, 0
    rl = o.get("reduceLrOnPlateau")
    rl = {"patience": rl} if isinstance(rl, int) and rl is not False else rl if isinstance(rl, dict) else None
    plateau = Plateau(opt, rl.get("patience", 10), rl.get("factor", 0.1), rl.get("minDelta", 1e-4), rl.get("minLr", 0)) if rl is not None else None
    ls = float(o.get("labelSmoothing", 0))  # Keras label_smoothing: in the loss and in val_loss
    for ep in range(epochs):
        t0 = time.time()
        train_mode(model)
        perm = torch.randperm(len(xtr), generator=gen)
        for i in range(0, len(xtr), bs):
            b = perm[i:i + bs]
            xb = augment(xtr[b], o, gen)
            loss = F.cross_entropy(model(prep(xb)), ytr[b], label_smoothing=ls)
            opt.zero_grad()
            loss.backward()
            opt.step()
        vl, va = evaluate(model, xva, yva, prep=prep, label_smoothing=ls)
        done = ep + 1
        log(f"epoch {ep + 1}: val_loss {vl:.4f} val_acc {va:.4f} {time.time() - t0:.0f} s")
        if plateau is not None and plateau.step(vl):
            log(f"learning rate reduced to {opt.param_groups[0]['lr']:.1e}")
        if vl < best:
            best, best_state, wait = vl, copy.deepcopy(model.state_dict()), 0
        else:
            wait += 1
            if patience is not None and wait > patience:
                break
    model.load_state_dict(best_state)
    return done


def mnist_like(job):
    ex, data = job["example"], job["data"]
    if ex == "fashion-mnist":
        x = read_idx(find(data, "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"))
        y = read_idx(find(data, "train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte")).astype(np.int64)
        xt = read_idx(find(data, "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"))
        yt = read_idx(find(data, "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte")).astype(np.int64)
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 100), nn.ReLU(), nn.Dropout(0.3), nn.Linear(100, 10))
        assert sum(p.numel() for p in model.parameters()) == 333526
    else:
        x, y = read_csv(find(data, "sign_mnist_train.csv.gz", "sign_mnist_train.csv"))
        xt, yt = read_csv(find(data, "sign_mnist_test.csv.gz", "sign_mnist_test.csv"))
        classes = np.unique(y)  # 24 labels, 0..24 without 9: remap to 0..23 as the app does
        remap = {c: i for i, c in enumerate(classes)}
        y, yt = np.array([remap[v] for v in y]), np.array([remap[v] for v in yt])
        model = nn.Sequential(
            nn.Conv2d(1, 75, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(75), nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Conv2d(75, 50, 3, padding=1), nn.ReLU(), nn.Dropout(0.2), nn.BatchNorm2d(50), nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Conv2d(50, 25, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(25), nn.MaxPool2d(2, 2, ceil_mode=True),
            nn.Flatten(), nn.Linear(4 * 4 * 25, 512), nn.ReLU(), nn.Dropout(0.3), nn.Linear(512, 24))
        assert sum(p.numel() for p in model.parameters()) + 2 * (75 + 50 + 25) == 264049
    keras_init(model)
    tr, va = stratified_val(y, 0.1)
    t = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1)
    xtr, ytr, xva, yva = t(x[tr]), torch.from_numpy(y[tr]), t(x[va]), torch.from_numpy(y[va])
    epochs = []
    for s in job["stages"]:
        epochs.append(fit(model, model.parameters(), s["options"], xtr, ytr, xva, yva))
    _, acc = evaluate(model, t(xt), torch.from_numpy(yt))
    return acc, "test", epochs


# ---- MobileNetV2 with the app's offline weights ------------------------------------------------

def mobilenet_from_dump(wdir):
    import torchvision
    m = torchvision.models.mobilenet_v2(weights=None)
    man = json.load(open(os.path.join(wdir, "manifest.json")))
    blob = np.fromfile(os.path.join(wdir, "weights.bin"), dtype=np.float32)
    w = {}
    for e in man:
        n = int(np.prod(e["shape"])) if e["shape"] else 1
        w.setdefault(e["layer"], {})[e["name"].split("/")[-1]] = blob[e["offset"]:e["offset"] + n].reshape(e["shape"])

    def conv(mod, layer, depthwise=False):
        k = w[layer]["depthwise_kernel" if depthwise else "kernel"]
        mod.weight.data = torch.from_numpy(np.ascontiguousarray(k.transpose(2, 3, 0, 1) if depthwise else k.transpose(3, 2, 0, 1)))

    def bn(mod, layer):
        d = w[layer]
        mod.weight.data, mod.bias.data = torch.from_numpy(d["gamma"].copy()), torch.from_numpy(d["beta"].copy())
        mod.running_mean.data, mod.running_var.data = torch.from_numpy(d["moving_mean"].copy()), torch.from_numpy(d["moving_variance"].copy())
        mod.eps = 1e-3

    f = m.features
    conv(f[0][0], "Conv1"); bn(f[0][1], "bn_Conv1")
    conv(f[1].conv[0][0], "expanded_conv_depthwise", True); bn(f[1].conv[0][1], "expanded_conv_depthwise_BN")
    conv(f[1].conv[1], "expanded_conv_project"); bn(f[1].conv[2], "expanded_conv_project_BN")
    for i in range(1, 17):
        b = f[i + 1].conv
        conv(b[0][0], f"block_{i}_expand"); bn(b[0][1], f"block_{i}_expand_BN")
        conv(b[1][0], f"block_{i}_depthwise", True); bn(b[1][1], f"block_{i}_depthwise_BN")
        conv(b[2], f"block_{i}_project"); bn(b[3], f"block_{i}_project_BN")
    conv(f[18][0], "Conv_1"); bn(f[18][1], "Conv_1_bn")
    # Keras pads stride-2 convolutions by (0,1) on each axis (correct_pad), torch by 1 on every side.
    def keras_pad(seq, idx):
        c = seq[idx]
        c.padding = (0, 0)
        seq[idx] = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), c)
    keras_pad(f[0], 0)
    for i in (1, 3, 6, 13):
        keras_pad(f[i + 1].conv[1], 0)
    return f


def load_folder(root, split, size):
    from PIL import Image
    xs, ys = [], []
    for ci, cls in enumerate(sorted(os.listdir(os.path.join(root, split)))):
        d = os.path.join(root, split, cls)
        for n in sorted(os.listdir(d)):
            im = Image.open(os.path.join(d, n)).convert("RGB").resize((size, size), Image.BILINEAR)
            xs.append(np.asarray(im))
            ys.append(ci)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).float()
    return x, torch.tensor(ys)


def mobilenet(job):
    """The app's plan: the frozen bottom runs forward-only (no_grad, BN in inference mode), only the
    layers above it train; the input scaled x/255 as the offline (nsfwjs) weights were trained.
    Channels-last memory, PyTorch's CPU recommendation for conv nets: MobileNetV2 runs 1.5-2x
    faster with it here than in the default layout (bench/results/README.md)."""
    size = job["inputSize"]
    base = mobilenet_from_dump(job["weights"]).to(memory_format=torch.channels_last)
    base.eval()
    xtr, ytr = load_folder(job["data"], "train", size)
    xva, yva = load_folder(job["data"], "validation", size)
    prep = lambda t: (t / 255.0).contiguous(memory_format=torch.channels_last)
    head = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 2))
    keras_init(head)
    epochs = []

    def staged(bottom, top):
        """A model for fit(): bottom under no_grad, then top + pooling + head; BN layers in eval mode."""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.top, self.head = top, head

            def forward(self, x):
                with torch.no_grad():
                    a = bottom(prep(x))
                return self.head(F.adaptive_avg_pool2d(self.top(a), 1).flatten(1))
        m = M()
        return m, lambda mm: (mm.train(), base.eval(), bottom.eval())

    for s in job["stages"]:
        o = s["options"]
        if o.get("recipe") == "transfer":
            for p in base.parameters():
                p.requires_grad = False
            if o.get("augment") in (None, "", "none"):
                # the cached-features fast path, as the app: base once per image, the head on the cache
                with torch.no_grad():
                    feat = lambda x: torch.cat([F.adaptive_avg_pool2d(base(prep(x[i:i + 64])), 1).flatten(1) for i in range(0, len(x), 64)])
                    ftr, fva = feat(xtr), feat(xva)
                epochs.append(fit(head, head.parameters(), o, ftr, ytr, fva, yva))
            else:
                m, mode = staged(base, nn.Identity())
                epochs.append(fit(m, head.parameters(), o, xtr, ytr, xva, yva, train_mode=mode))
        else:
            # "block_N": block N on (torchvision features[N + 1]); "block_N_expand_relu" (Keras layer 100
            # for N = 11): the same, with block N's expand convolution and its BN still frozen.
            m = re.fullmatch(r"block_(\d+)(_expand_relu)?", str(o.get("fineTuneFrom", "block_11_expand_relu")))
            if not m:
                raise SystemExit(f"the PyTorch peer understands fineTuneFrom block_N or block_N_expand_relu, got {o.get('fineTuneFrom')}")
            first = int(m.group(1)) + 1
            bottom, top = base[:first], base[first:]
            for n, p in top.named_parameters():
                p.requires_grad = not (m.group(2) and n.startswith("0.conv.0."))
            params = [p for p in list(top.parameters()) + list(head.parameters()) if p.requires_grad]
            log(f"fine-tuning {len(params)} tensors ({sum(p.numel() for p in params)} weights) from {m.group(0)}")
            m, mode = staged(bottom, top)
            epochs.append(fit(m, params, o, xtr, ytr, xva, yva, train_mode=mode))
    full = nn.Sequential(base, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    _, acc = evaluate(full, xva, yva, bs=64, prep=prep)
    return acc, "validation", epochs


def main():
    job = json.loads(sys.argv[1])
    t0 = time.time()
    if job["example"] in ("fashion-mnist", "sign-mnist"):
        acc, split, epochs = mnist_like(job)
    elif job["example"] == "cats-dogs-mobilenetv2":
        acc, split, epochs = mobilenet(job)
    else:
        raise SystemExit(f"no PyTorch peer for {job['example']}")
    print(json.dumps({"accuracy": acc, "split": split, "epochs": epochs, "seconds": time.time() - t0, "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

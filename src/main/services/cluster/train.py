#!/usr/bin/env python3
"""Classifier Studio training job for PyTorch distributed (torchrun / torch.distributed.run).

Written by `classifier-studio job export`; needs only python3, torch and numpy. Run it with
torchrun (see README.md next to it), or `python3 train.py` for one process. Everything it needs is
in this folder: job.json (recipe, options, classes), model.json (the Keras topology of the app's
model), weights-init.* (the starting weights, PyTorch layout), data-*.npy (uint8 image shards,
memory-mapped) and labels-*.npy.

The model is the app's, layer for layer, with Keras semantics: 'same' padding as TensorFlow pads
(the extra pixel at the bottom/right), BatchNormalization with Keras's epsilon and momentum
(biased batch variance, moving statistics updated as Keras does), BatchNormalization of a
pretrained base always in inference mode (frozen or fine-tuned), Flatten in NHWC order, the same
preprocess_input, Keras optimizer constants, EarlyStopping (restore best), ReduceLROnPlateau and
the best checkpoint chosen like the app's ModelCheckpoint.

Distributed: DistributedDataParallel over nccl on GPUs and gloo on CPUs (chosen automatically),
a DistributedSampler with the seeded shuffle (set_epoch), gradients averaged over the workers
(the global batch is --batch x workers unless --global-batch is given). A checkpoint is written
after every epoch (output/checkpoint.pt): a job restarted by torchrun (--max_restarts) or
resubmitted continues after the last finished epoch. Rank 0 writes every output:
output/metrics.jsonl (one JSON line per epoch), output/best-weights.{json,bin} (the best epoch's
weights, Keras names, PyTorch layout), output/val-probs.bin (the model's probabilities on the
validation split, for the app's parity check) and output/result.json (written last).
"""
import argparse
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg, rank=0):
    if rank == 0:
        print(f"[job] {msg}", file=sys.stderr, flush=True)


# ---- Keras layers in PyTorch ---------------------------------------------------------------------

def pair(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def same_pad(h, w, k, s, d=(1, 1)):
    """TensorFlow's 'same' padding: (left, right, top, bottom), the odd pixel at the bottom/right."""
    ekh, ekw = (k[0] - 1) * d[0] + 1, (k[1] - 1) * d[1] + 1
    ph = max((math.ceil(h / s[0]) - 1) * s[0] + ekh - h, 0)
    pw = max((math.ceil(w / s[1]) - 1) * s[1] + ekw - w, 0)
    return (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)


def activation(name, x):
    if name in (None, "linear"):
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return torch.clamp(x, 0, 6)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "softmax":
        return F.softmax(x, dim=1)
    if name == "elu":
        return F.elu(x)
    if name == "selu":
        return F.selu(x)
    if name == "swish":
        return x * torch.sigmoid(x)
    raise ValueError(f"unsupported activation {name}")


class Conv(nn.Module):
    def __init__(self, cfg, w, depthwise=False):
        super().__init__()
        self.k, self.s = pair(cfg["kernel_size"]), pair(cfg.get("strides", 1))
        self.d = pair(cfg.get("dilation_rate", 1))
        self.padding, self.act, self.depthwise = cfg.get("padding", "valid"), cfg.get("activation", "linear"), depthwise
        shape = w["depthwise_kernel" if depthwise else "kernel"].shape  # PyTorch layout: out, in/groups, kh, kw
        c_out = shape[0]
        self.groups = c_out // int(cfg.get("depth_multiplier", 1)) if depthwise else 1
        self.weight = nn.Parameter(torch.zeros(*shape))
        self.bias = nn.Parameter(torch.zeros(c_out)) if cfg.get("use_bias", True) else None

    def forward(self, x, out_logits=False):
        if self.padding == "same":
            x = F.pad(x, same_pad(x.shape[2], x.shape[3], self.k, self.s, self.d))
        y = F.conv2d(x, self.weight, self.bias, self.s, 0, self.d, self.groups)
        return activation(self.act, y)


class Dense(nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.act = cfg.get("activation", "linear")
        self.weight = nn.Parameter(torch.zeros(*w["kernel"].shape))
        self.bias = nn.Parameter(torch.zeros(int(cfg["units"]))) if cfg.get("use_bias", True) else None

    def forward(self, x, out_logits=False):
        y = F.linear(x, self.weight, self.bias)
        if out_logits and self.act == "softmax":
            return y  # the loss takes logits (log_softmax is the stable form of Keras's clipped log)
        return activation(self.act, y)


class BatchNorm(nn.Module):
    """Keras BatchNormalization: y = gamma (x - mean) / sqrt(var + eps) + beta; in training the
    batch mean and biased variance, moving = moving * momentum + batch * (1 - momentum)."""

    def __init__(self, cfg, w):
        super().__init__()
        c = w["moving_mean"].shape[0]
        self.eps, self.momentum = float(cfg.get("epsilon", 1e-3)), float(cfg.get("momentum", 0.99))
        self.weight = nn.Parameter(torch.ones(c)) if cfg.get("scale", True) else None
        self.bias = nn.Parameter(torch.zeros(c)) if cfg.get("center", True) else None
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))
        self.always_inference = False

    def forward(self, x, out_logits=False):
        shape = [1, -1] + [1] * (x.dim() - 2)
        if self.training and not self.always_inference:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dims)
            var = x.var(dims, unbiased=False)
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_(mean.detach().float() * (1 - self.momentum))
                self.running_var.mul_(self.momentum).add_(var.detach().float() * (1 - self.momentum))
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(shape)
        if self.bias is not None:
            y = y + self.bias.view(shape)
        return y


class Pool(nn.Module):
    def __init__(self, cfg, kind):
        super().__init__()
        self.k = pair(cfg.get("pool_size", 2))
        self.s = pair(cfg.get("strides") or self.k)
        self.padding, self.kind = cfg.get("padding", "valid"), kind

    def forward(self, x, out_logits=False):
        if self.padding == "same":
            p = same_pad(x.shape[2], x.shape[3], self.k, self.s)
            if self.kind == "max":
                return F.max_pool2d(F.pad(x, p, value=-float("inf")), self.k, self.s)
            # TensorFlow's average ignores the padded pixels.
            s = F.avg_pool2d(F.pad(x, p), self.k, self.s)
            n = F.avg_pool2d(F.pad(torch.ones_like(x[:1, :1]), p), self.k, self.s)
            return s / n
        return (F.max_pool2d if self.kind == "max" else F.avg_pool2d)(x, self.k, self.s)


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x, out_logits=False):
        return self.fn(x)


class Dropout(nn.Module):
    def __init__(self, rate):
        super().__init__()
        self.rate = float(rate)

    def forward(self, x, out_logits=False):
        return F.dropout(x, self.rate, self.training)


def relu_layer(cfg):
    mx, slope, th = cfg.get("max_value"), float(cfg.get("negative_slope", 0) or 0), float(cfg.get("threshold", 0) or 0)

    def f(x):
        y = torch.where(x >= th, x, slope * (x - th))
        return torch.clamp(y, max=float(mx)) if mx is not None else y
    return Fn(f)


def zero_pad(cfg):
    p = cfg["padding"]
    if isinstance(p, int):
        p = [[p, p], [p, p]]
    (t, b), (l, r) = [pair(v) if not isinstance(v, list) else v for v in p]
    return Fn(lambda x: F.pad(x, (l, r, t, b)))


def flatten_nhwc(x):
    if x.dim() == 4:
        x = x.permute(0, 2, 3, 1)  # Keras flattens channels-last
    return x.reshape(x.shape[0], -1)


class Graph(nn.Module):
    """A Keras Sequential or functional model (nested models included) from its JSON config, with
    the shapes of its weights (`arrays`, PyTorch layout). Layers keep their Keras names; tensors
    are NCHW inside."""

    def __init__(self, spec, arrays):
        super().__init__()
        cls, cfg = spec["class_name"], spec["config"]
        self.mods = nn.ModuleDict()
        self.keys = {}
        self.order = []  # (name, class, inbound names)
        layers = cfg["layers"] if isinstance(cfg, dict) else cfg
        if cls == "Sequential":
            prev = "__input__"
            self.input_name = prev
            self.input_channels = None
            for l in layers:
                lc = l["config"]
                if l["class_name"] == "InputLayer" or self.input_channels is None:
                    self.input_channels = lc["batch_input_shape"][-1]
                if l["class_name"] == "InputLayer":
                    continue
                self._add(l, [prev], arrays)
                prev = lc["name"]
            self.output_name = prev
        else:
            inputs = {}
            for l in layers:
                name = l.get("name") or l["config"]["name"]
                if l["class_name"] == "InputLayer":
                    inputs[name] = l["config"]["batch_input_shape"][-1]
                    continue
                inbound = [n[0] for n in (l["inbound_nodes"][0] if l["inbound_nodes"] else [])]
                self._add(l, inbound, arrays)
            self.input_name = cfg["input_layers"][0][0]
            self.output_name = cfg["output_layers"][0][0]
            self.input_channels = inputs[self.input_name]

    def _add(self, l, inbound, arrays):
        cls, cfg = l["class_name"], l["config"]
        name = l.get("name") or cfg["name"]
        w = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.split("/", 1)[0] == name}
        if cls == "Conv2D":
            m = Conv(cfg, w)
        elif cls == "DepthwiseConv2D":
            m = Conv(cfg, w, depthwise=True)
        elif cls == "Dense":
            m = Dense(cfg, w)
        elif cls == "BatchNormalization":
            m = BatchNorm(cfg, w)
        elif cls == "MaxPooling2D":
            m = Pool(cfg, "max")
        elif cls == "AveragePooling2D":
            m = Pool(cfg, "avg")
        elif cls == "GlobalAveragePooling2D":
            m = Fn(lambda x: x.mean((2, 3)))
        elif cls == "GlobalMaxPooling2D":
            m = Fn(lambda x: x.amax((2, 3)))
        elif cls == "Flatten":
            m = Fn(flatten_nhwc)
        elif cls == "Dropout":
            m = Dropout(cfg["rate"])
        elif cls == "ReLU":
            m = relu_layer(cfg)
        elif cls == "Activation":
            act = cfg["activation"]
            m = Fn(lambda x, a=act: activation(a, x))
        elif cls == "ZeroPadding2D":
            m = zero_pad(cfg)
        elif cls == "Add":
            m = None
        elif cls in ("Model", "Functional", "Sequential"):
            m = Graph(l, arrays)
        else:
            raise ValueError(f"layer {name}: Keras layer class {cls} is not supported by this job")
        if m is not None:
            key = name.replace(".", "_")
            self.keys[name] = key
            self.mods[key] = m
        self.order.append((name, cls, inbound))

    def forward(self, x, out_logits=False):
        vals = {self.input_name: x}
        for name, cls, inbound in self.order:
            last = name == self.output_name
            if cls == "Add":
                y = vals[inbound[0]]
                for n in inbound[1:]:
                    y = y + vals[n]
            else:
                y = self.mods[self.keys[name]](vals[inbound[0]], out_logits=out_logits and last)
            vals[name] = y
        return vals[self.output_name]

    def keras_layers(self):
        """(layer name, module) for every weighted layer, nested models flattened (Keras names are unique)."""
        out = []
        for name, cls, _ in self.order:
            m = self.mods[self.keys[name]] if name in self.keys else None
            if isinstance(m, Graph):
                out += m.keras_layers()
            elif isinstance(m, (Conv, Dense, BatchNorm)):
                out.append((name, m))
        return out

    def batchnorm_in_inference(self):
        for m in self.modules():
            if isinstance(m, BatchNorm):
                m.always_inference = True


KERAS_NAMES = {Conv: {"weight": "kernel", "bias": "bias"}, Dense: {"weight": "kernel", "bias": "bias"},
               BatchNorm: {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}}


def keras_tensors(model):
    """{'layer/weight': tensor} in PyTorch layout, Keras names (depthwise kernels are 'depthwise_kernel')."""
    out = {}
    for lname, m in model.keras_layers():
        for attr, kname in KERAS_NAMES[type(m)].items():
            t = getattr(m, attr)
            if t is None:
                continue
            if isinstance(m, Conv) and m.depthwise and attr == "weight":
                kname = "depthwise_kernel"
            out[f"{lname}/{kname}"] = t
    return out


def read_weights(prefix):
    man = json.load(open(prefix + ".json"))
    blob = np.fromfile(prefix + ".bin", dtype="<f4")
    return {e["name"]: blob[e["offset"]:e["offset"] + int(np.prod(e["shape"]) if e["shape"] else 1)].reshape(e["shape"]) for e in man["weights"]}


def load_weights(model, arrays):
    ts = keras_tensors(model)
    missing = [n for n in ts if n not in arrays]
    if missing:
        raise SystemExit(f"weights-init has no values for {missing[:5]}")
    with torch.no_grad():
        for n, t in ts.items():
            a = torch.from_numpy(np.ascontiguousarray(arrays[n]))
            if tuple(a.shape) != tuple(t.shape):
                raise SystemExit(f"weight {n}: shape {tuple(a.shape)} in the file, {tuple(t.shape)} in the model")
            t.copy_(a)


def write_weights(model, prefix):
    entries, parts, off = [], [], 0
    for n, t in keras_tensors(model).items():
        a = t.detach().float().cpu().numpy().astype("<f4")
        entries.append({"name": n, "shape": list(a.shape), "offset": off})
        parts.append(a.ravel())
        off += a.size
    tmp = prefix + ".bin.tmp"
    np.concatenate(parts).tofile(tmp)
    os.replace(tmp, prefix + ".bin")
    atomic_json(prefix + ".json", {"format": "keras-names-torch-layout", "weights": entries})


def atomic_json(path, obj):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---- data ------------------------------------------------------------------------------------------

class Split:
    """A split as memory-mapped uint8 shards: only the images a rank asks for are read."""

    def __init__(self, info):
        self.shards = [np.load(os.path.join(HERE, s["file"]), mmap_mode="r") for s in info["shards"]]
        self.labels = np.load(os.path.join(HERE, info["labels"])).astype(np.int64)
        self.starts = np.cumsum([0] + [len(s) for s in self.shards])
        self.n = int(self.starts[-1])
        assert self.n == len(self.labels), "shards and labels disagree"

    def __len__(self):
        return self.n

    def get(self, idx):
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty((len(idx),) + self.shards[0].shape[1:], np.uint8)
        for k, s in enumerate(self.shards):
            sel = (idx >= self.starts[k]) & (idx < self.starts[k + 1])
            if sel.any():
                out[sel] = s[idx[sel] - self.starts[k]]
        return out, self.labels[idx]


def preprocess(x, spec, channels):
    """uint8/float NHWC 0..255 -> the model's input (NCHW float), as the app's applyPreprocess."""
    x = x.float()
    if x.shape[3] == 1 and channels == 3:
        x = x.repeat(1, 1, 1, 3)
    if spec["kind"] == "scale":
        x = x * spec["scale"] + spec["offset"]
    else:
        x = x.flip(3) - torch.tensor(spec["mean"], dtype=x.dtype, device=x.device)
    return x.permute(0, 3, 1, 2).contiguous()


def augment(x, a, gen):
    """The app's augmentation (train split only): flip, rotation, zoom, shift as one affine warp per
    image (bilinear, reflect fill), brightness as a clipped offset. x: float NHWC 0..255."""
    if not a or not any(a.get(k) for k in ("flip", "rotate", "zoom", "shiftX", "shiftY", "brightness")):
        return x
    n, h, w, _ = x.shape
    u = lambda m: (torch.rand(n, generator=gen) * 2 - 1) * m
    if any(a.get(k) for k in ("flip", "rotate", "zoom", "shiftX", "shiftY")):
        f = a.get("flip")
        fx = torch.where((torch.rand(n, generator=gen) < 0.5) & torch.tensor(f in ("horizontal", "both")), -1.0, 1.0)
        fy = torch.where((torch.rand(n, generator=gen) < 0.5) & torch.tensor(f in ("vertical", "both")), -1.0, 1.0)
        th = u(float(a.get("rotate") or 0)) * math.pi / 180
        z = 1 + u(float(a.get("zoom") or 0))
        tx, ty = u(float(a.get("shiftX") or 0)) * 2, u(float(a.get("shiftY") or 0)) * 2
        cos, sin = torch.cos(th) * z, torch.sin(th) * z
        theta = torch.stack([torch.stack([cos * fx, -sin * fy, -tx], 1), torch.stack([sin * fx, cos * fy, -ty], 1)], 1).to(x.device)
        xc = x.permute(0, 3, 1, 2)
        grid = F.affine_grid(theta, list(xc.shape), align_corners=True)
        x = F.grid_sample(xc, grid, mode="bilinear", padding_mode="reflection", align_corners=True).permute(0, 2, 3, 1)
    if a.get("brightness"):
        x = torch.clamp(x + u(float(a["brightness"])).view(n, 1, 1, 1).to(x.device) * 255, 0, 255)
    return x


# ---- callbacks (Keras semantics, as the app's callbacks.ts) ---------------------------------------

def resolve_mode(monitor, mode):
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor else "min"


def improved(cur, ref, mode, delta):
    if ref is None:
        return True
    return cur - delta > ref if mode == "max" else cur + delta < ref


def make_optimizer(params, name, lr):
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-7)


# ---- main ------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="Classifier Studio job (torchrun)")
    ap.add_argument("--out", default=os.path.join(HERE, "output"), help="output folder (default: output/ next to this file)")
    ap.add_argument("--global-batch", type=int, default=0, help="global batch over all workers (default: the job's batch x workers)")
    ap.add_argument("--no-amp", action="store_true", help="no mixed precision on GPU")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads per worker (default: cores / local workers)")
    ap.add_argument("--max-steps", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()

    job = json.load(open(os.path.join(HERE, "job.json")))
    topology = json.load(open(os.path.join(HERE, "model.json")))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // max(1, local_world)))
    distributed = world > 1
    backend = "nccl" if cuda else "gloo"
    if distributed:
        dist.init_process_group(backend=backend)
    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    o = job["options"]
    seed = int(o.get("seed", 42))
    torch.manual_seed(seed)
    amp = cuda and not args.no_amp
    log(f"{world} worker(s), {backend} on {'cuda' if cuda else 'cpu'}{', mixed precision' if amp else ''}; recipe {job['recipe']}, {len(job['labels'])} classes", rank)

    init = read_weights(os.path.join(HERE, "weights-init"))
    model = Graph(topology["modelTopology"] if "modelTopology" in topology else topology, init)
    load_weights(model, init)
    # A pretrained base (a nested model) keeps its BatchNormalization in inference mode, frozen or fine-tuned.
    for name, m in model.mods.items():
        if isinstance(m, Graph):
            m.batchnorm_in_inference()
    trainable = set(job["trainableWeights"])
    named = keras_tensors(model)
    for n, t in named.items():
        if isinstance(t, nn.Parameter):
            t.requires_grad_(n in trainable)
    model.to(device)
    params = [t for n, t in keras_tensors(model).items() if isinstance(t, nn.Parameter) and t.requires_grad]
    channels = model.input_channels
    if job.get("expectedTrainable") is not None:
        assert sum(p.numel() for p in params) == job["expectedTrainable"], "trainable parameter count differs from the app's"

    train, val = Split(job["splits"]["train"]), (Split(job["splits"]["validation"]) if job["splits"].get("validation") else None)
    bs = int(o.get("batchSize", 32))
    per_rank = max(1, (args.global_batch or bs * world) // world)
    opt_name, lr = job["optimizer"]["name"], float(job["optimizer"]["learningRate"])
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if cuda else None) if distributed else model
    optimizer = make_optimizer(params, opt_name, lr)
    scaler = torch.amp.GradScaler("cuda", enabled=amp) if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler") else torch.cuda.amp.GradScaler(enabled=amp)
    k = len(job["labels"])
    cw = torch.tensor(job["classWeights"], dtype=torch.float32, device=device) if job.get("classWeights") else None
    ls = float(o.get("labelSmoothing", 0) or 0)
    prep = job["preprocess"]

    def loss_fn(logits, y, reduction="mean"):
        target = F.one_hot(y, k).float() * (1 - ls) + ls / k
        per = -(target * F.log_softmax(logits.float(), 1)).sum(1)
        if cw is not None:
            per = per * cw[y]
        return per.mean() if reduction == "mean" else per.sum()

    es = o.get("earlyStop") or None
    rl = o.get("reduceLrOnPlateau") or None
    ck_monitor = es["monitor"] if es else o.get("checkpointMonitor", "val_loss")
    ck_mode = resolve_mode(ck_monitor, es["mode"] if es else "auto")
    ck_delta = float(es["minDelta"]) if es else 0.0
    epochs = int(o["epochs"])

    state = {"epoch": 0, "history": [], "best": None, "bestEpoch": -1, "es": {"wait": 0, "best": None},
             "rl": {"best": None, "wait": 0, "cooldown": 0}, "lr": lr, "stoppedEarly": False}
    best_state = None
    ck_path = os.path.join(out_dir, "checkpoint.pt")
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location="cpu")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        state, best_state = ck["state"], ck["best"]
        if ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
        log(f"resuming after epoch {state['epoch']} from {ck_path}", rank)
    for g in optimizer.param_groups:
        g["lr"] = state["lr"]

    def evaluate(split, idx):
        """Sums of loss and correct predictions over `idx` (this rank's part)."""
        model.eval()
        loss, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(idx), 256):
                xb, yb = split.get(idx[i:i + 256])
                x = preprocess(torch.from_numpy(xb).to(device), prep, channels)
                y = torch.from_numpy(yb).to(device)
                logits = model(x, out_logits=True).float()
                loss += loss_fn(logits, y, "sum").item()
                correct += (logits.argmax(1) == y).sum().item()
        return loss, correct

    def all_sum(vals):
        t = torch.tensor(vals, dtype=torch.float64, device=device)
        if distributed:
            dist.all_reduce(t)
        return t.tolist()

    kill_at = os.environ.get("CLASSIFIER_STUDIO_JOB_KILL_AT")  # test hook: "epoch,batch,rank"
    sampler = torch.utils.data.distributed.DistributedSampler(range(len(train)), num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False)
    metrics_path = os.path.join(out_dir, "metrics.jsonl")
    if rank == 0:
        with open(metrics_path + ".tmp", "w") as f:
            for m in state["history"]:
                f.write(json.dumps(m) + "\n")
        os.replace(metrics_path + ".tmp", metrics_path)
    steps = 0
    while state["epoch"] < epochs and not state["stoppedEarly"]:
        ep = state["epoch"]
        t0 = time.time()
        sampler.set_epoch(ep)
        idx = np.fromiter(iter(sampler), dtype=np.int64)
        gen = torch.Generator().manual_seed(seed * 1000003 + ep * 7919 + rank)
        ddp.train()
        sums = [0.0, 0.0, 0.0]
        for b, i in enumerate(range(0, len(idx), per_rank)):
            if kill_at:
                ke, kb, kr = (int(v) for v in kill_at.split(","))
                marker = os.path.join(out_dir, ".killed-once")
                if ep + 1 == ke and b == kb and rank == kr and not os.path.exists(marker):
                    open(marker, "w").close()
                    log(f"test hook: rank {rank} kills itself (SIGKILL) in epoch {ep + 1}, batch {b}", 0)
                    os.kill(os.getpid(), signal.SIGKILL)
            xb, yb = train.get(idx[i:i + per_rank])
            x = augment(torch.from_numpy(xb).float(), o.get("augment"), gen).to(device)
            x = preprocess(x, prep, channels)
            y = torch.from_numpy(yb).to(device)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
                logits = ddp(x, out_logits=True)
            loss = loss_fn(logits, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            sums[0] += loss.item() * len(yb)
            sums[1] += (logits.detach().argmax(1) == y).sum().item()
            sums[2] += len(yb)
            steps += 1
            if args.max_steps and steps >= args.max_steps:
                break
        tl, tc, tn = all_sum(sums)
        if distributed:
            # Every worker evaluates (and rank 0 saves) the same model: rank 0's BatchNormalization
            # statistics, as DDP broadcasts them at every training step.
            with torch.no_grad():
                for buf in model.buffers():
                    dist.broadcast(buf, 0)
        vl = va = None
        if val is not None and len(val):
            vidx = np.arange(rank, len(val), world)
            s = all_sum(list(evaluate(val, vidx)))
            vl, va = s[0] / len(val), s[1] / len(val)
        secs = time.time() - t0
        m = {"epoch": ep + 1, "loss": tl / tn, "accuracy": tc / tn, "valLoss": vl, "valAccuracy": va, "lr": optimizer.param_groups[0]["lr"], "seconds": secs, "imagesPerSecond": tn / secs}
        state["history"].append(m)
        logs = {"loss": m["loss"], "accuracy": m["accuracy"], "val_loss": vl, "val_accuracy": va}
        cur = logs.get(ck_monitor)
        if cur is not None and improved(cur, state["best"], ck_mode, ck_delta):
            state["best"], state["bestEpoch"] = cur, ep
            best_state = {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}
        if es:
            ec = logs.get(es["monitor"])
            if ec is not None:
                e = state["es"]
                e["wait"] += 1
                if improved(ec, e["best"], resolve_mode(es["monitor"], es["mode"]), float(es["minDelta"])):
                    e["best"], e["wait"] = ec, 0
                elif e["wait"] >= int(es["patience"]) and ep > 0:
                    state["stoppedEarly"] = True
        if rl:
            rc = logs.get(rl["monitor"])
            if rc is not None:
                r = state["rl"]
                mode = resolve_mode(rl["monitor"], rl["mode"])
                if r["best"] is None:
                    r["best"] = math.inf if mode == "min" else -math.inf
                if r["cooldown"] > 0:
                    r["cooldown"] -= 1
                    r["wait"] = 0
                better = rc < r["best"] - rl["minDelta"] if mode == "min" else rc > r["best"] + rl["minDelta"]
                if better:
                    r["best"], r["wait"] = rc, 0
                elif r["cooldown"] <= 0:
                    r["wait"] += 1
                    cur_lr = optimizer.param_groups[0]["lr"]
                    if r["wait"] >= rl["patience"] and cur_lr > rl["minLr"]:
                        for g in optimizer.param_groups:
                            g["lr"] = max(cur_lr * rl["factor"], rl["minLr"])
                        r["cooldown"], r["wait"] = rl["cooldown"], 0
                        log(f"learning rate reduced to {optimizer.param_groups[0]['lr']:.2e}", rank)
        state["lr"] = optimizer.param_groups[0]["lr"]
        state["epoch"] = ep + 1
        log(f"epoch {ep + 1}/{epochs}: loss {m['loss']:.4f} accuracy {m['accuracy']:.4f} val_loss {vl if vl is None else round(vl, 4)} val_accuracy {va if va is None else round(va, 4)} {secs:.1f} s {m['imagesPerSecond']:.0f} img/s", rank)
        if rank == 0:
            with open(metrics_path, "a") as f:
                f.write(json.dumps(m) + "\n")
            tmp = f"{ck_path}.tmp-{os.getpid()}"
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "state": state, "best": best_state, "scaler": scaler.state_dict() if amp else None}, tmp)
            os.replace(tmp, ck_path)
        if distributed:
            dist.barrier()
        if args.max_steps and steps >= args.max_steps:
            break

    if best_state is None:  # no validation split: the last epoch
        best_state = {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}
        state["bestEpoch"] = state["epoch"] - 1
    if rank == 0:
        model.load_state_dict(best_state)
        write_weights(model, os.path.join(out_dir, "best-weights"))
        if val is not None and len(val):
            model.eval()
            probs = []
            with torch.no_grad():
                for i in range(0, len(val), 256):
                    xb, _ = val.get(np.arange(i, min(len(val), i + 256)))
                    probs.append(model(preprocess(torch.from_numpy(xb).to(device), prep, channels)).float().cpu().numpy())
            np.concatenate(probs).astype("<f4").tofile(os.path.join(out_dir, "val-probs.bin"))
        b = state["bestEpoch"]
        atomic_json(os.path.join(out_dir, "result.json"), {
            "state": "complete", "jobId": job["jobId"], "worldSize": world, "nodes": max(1, world // max(1, local_world)),
            "device": "cuda" if cuda else "cpu", "deviceName": torch.cuda.get_device_name(device) if cuda else "cpu",
            "backend": backend, "mixedPrecision": amp, "torch": torch.__version__, "epochsDone": state["epoch"],
            "stoppedEarly": state["stoppedEarly"], "best": {"epoch": b + 1, "valAccuracy": state["history"][b]["valAccuracy"] if b >= 0 else None, "monitor": ck_monitor, "value": state["best"]},
            "validationImages": len(val) if val is not None else 0, "finishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        })
        log(f"done: best epoch {b + 1}; outputs in {out_dir}", rank)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch CPU peer for bench/train.ts (same architectures, same batches, 2 threads).

Usage: /usr/bin/python3 bench/torch_train.py '<json list of jobs>'
Each job: {"model": "fashion"|"mobilenet_v2", "mode": "train"|"infer"|"finetune", "batch": int,
           "seconds": float, "size": int (mobilenet only), "threads": int (default 2),
           "cut": int (finetune: features[:cut] frozen and run under no_grad, the rest trained;
                  features[k + 1] is Keras's block_k, so fine-tuning from block_11 is cut 12)}
Prints one JSON object per job: {"model", "mode", "batch", "images_per_s", "steps"}
(images_per_s from the median step time: the machine is shared, the median resists spikes).
"""
import json
import sys
import time

import torch
import torch.nn as nn

torch.manual_seed(0)


def fashion_cnn():
    # Keras: Conv2D(32,3,same,relu) MaxPool2 Conv2D(64,3,same,relu) MaxPool2 Flatten
    # Dense(100,relu) Dropout Dense(10,softmax)  -> 333,526 params
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 100), nn.ReLU(), nn.Dropout(0.5), nn.Linear(100, 10),
    )


def mobilenet(num_classes=5):
    import torchvision
    m = torchvision.models.mobilenet_v2(weights=None)
    m.classifier[1] = nn.Linear(m.last_channel, num_classes)
    return m


def run(job):
    torch.set_num_threads(job.get("threads", 2))
    model_name, mode, batch = job["model"], job["mode"], job["batch"]
    seconds = job.get("seconds", 5.0)
    if model_name == "fashion":
        model, shape, nc = fashion_cnn(), (1, 28, 28), 10
        n_params = sum(p.numel() for p in model.parameters())
        assert n_params == 333526, n_params
    else:
        size = job.get("size", 160)
        model, shape, nc = mobilenet(), (3, size, size), 5
    x = torch.randn(batch, *shape)
    if model_name == "mobilenet_v2":
        # Channels-last memory, PyTorch's CPU recommendation for conv nets: 1.5-2x faster here for
        # MobileNetV2 (slower for the small Fashion CNN, which keeps the default layout).
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, nc, (batch,))
    if mode == "finetune":
        # The app's frozen-bottom plan: the bottom forward only, the top trained.
        cut = job["cut"]
        bottom = model.features[:cut].eval()
        for p in bottom.parameters():
            p.requires_grad_(False)
        top = nn.Sequential(model.features[cut:], nn.AdaptiveAvgPool2d(1), nn.Flatten(), model.classifier).train()
        opt = torch.optim.Adam([p for p in top.parameters() if p.requires_grad], lr=1e-4)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            with torch.no_grad():
                f = bottom(x)
            opt.zero_grad()
            loss = loss_fn(top(f), y)
            loss.backward()
            opt.step()
    elif mode == "train":
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    for _ in range(2):
        step()
    times = []
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
        if time.perf_counter() - t0 >= seconds and len(times) >= 3:
            break
    times.sort()
    median = times[len(times) // 2]
    steps = len(times)
    el = median * steps
    return {"model": model_name, "mode": mode, "batch": batch, "images_per_s": steps * batch / el, "steps": steps, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    for job in json.loads(sys.argv[1]):
        print(json.dumps(run(job)), flush=True)

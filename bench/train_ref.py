"""Tight hand-written training loops for three models, each the same model (the class `graphc build`
generated), data, split, batch size, loss, optimizer, clipping and schedule as the generated
training script, and nothing else:

- ``digits``: DigitsCNN on scikit-learn's digits (AdamW, warmup then cosine, label smoothing);
- ``gpt``: models/gpt.model on the shipped Shakespeare passage, windows of 64 characters (a
  language model: (B, T, V) scores, AdamW, gradient clipping);
- ``unet``: models/unet.model on shapes.npz from models/data/make_shapes.py (segmentation:
  (B, 2, H, W) scores, Adam);
- ``resnet50``: models/resnet50.model with the train section bench/gpu.py gives it, on the
  images.npz it writes (SGD with momentum, batch --batch-size).

    python bench/train_ref.py --model digits|gpt|unet|resnet50 --model-dir BUILD_DIR --epochs N
                              --out RUN_DIR [--data shapes.npz] [--text input.txt] [--batch-size B]
                              [--device cuda --bf16 --compile]

Writes RUN_DIR/metrics.jsonl like the generated script: per epoch `seconds` (training and
validation, as there), `val_accuracy` (of the samples, the tokens or the pixels), and `train_samples`."""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--model", choices=["digits", "gpt", "unet", "resnet50"], default="digits")
p.add_argument("--model-dir", required=True)
p.add_argument("--epochs", type=int, default=15)
p.add_argument("--out", required=True)
p.add_argument("--data", default=None, help="unet: shapes.npz (make_shapes.py); resnet50: images.npz")
p.add_argument("--text", default=None, help="gpt: this file instead of the shipped passage (text(...) data)")
p.add_argument("--batch-size", type=int, default=None, help="resnet50: as its train section (default 64)")
p.add_argument("--device", default="cpu")
p.add_argument("--bf16", action="store_true")
p.add_argument("--compile", action="store_true")
args = p.parse_args()
sys.path.insert(0, args.model_dir)
device, seed = torch.device(args.device), 0
torch.manual_seed(seed)


def split(x, y, fraction):
    """As the generated script splits: a seeded permutation, the first round(N * fraction) held out."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(len(x) * fraction))
    return (x[order[n_val:]].to(device), y[order[n_val:]].to(device), x[order[:n_val]].to(device),
            y[order[:n_val]].to(device))


clip = sched = None
if args.model == "digits":
    from digits import DigitsCNN as Model  # noqa: E402
    from sklearn.datasets import load_digits

    ds = load_digits()
    x_train, y_train, x_val, y_val = split((torch.tensor(ds.data, dtype=torch.float32) / 16.0).reshape(-1, 1, 8, 8),
                                           torch.tensor(ds.target, dtype=torch.long), 0.2)
    batch_size, warmup = 64, 1
    model = Model().to(device)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, args.epochs - warmup))], milestones=[warmup])
elif args.model == "gpt":
    from gpt import GPT as Model  # noqa: E402

    from graphc.components.datasets_text import shipped_text  # the passage the script embeds

    text = Path(args.text).read_text(encoding="utf-8") if args.text else shipped_text()
    index = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    x_train, y_train, x_val, y_val = split(ids[:-1].unfold(0, 64, 64), ids[1:].unfold(0, 64, 64), 0.1)
    batch_size, clip = 32, 1.0
    model = Model().to(device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
elif args.model == "resnet50":
    import numpy as np
    from resnet50 import ResNet50 as Model  # noqa: E402

    arrays = np.load(args.data or "images.npz")
    x_train, y_train, x_val, y_val = split(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]), 0.1)
    batch_size = args.batch_size or 64
    model = Model().to(device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=1e-4)
else:
    import numpy as np
    from unet import UNet as Model  # noqa: E402

    arrays = np.load(args.data or "shapes.npz")
    x_train, y_train, x_val, y_val = split(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]), 0.2)
    batch_size = 16
    model = Model().to(device)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def scores(out):
    """(B, T, V) scores of a sequence as the loss wants them, (B, V, T); others as they are."""
    return out.movedim(-1, 1) if out.dim() == 3 else out


net = torch.compile(model) if args.compile else model
amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
with open(out / "metrics.jsonl", "w") as log:
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed + epoch)).to(device)
        for i in range(0, len(perm), batch_size):
            idx = perm[i:i + batch_size]
            with amp:
                loss = loss_fn(scores(net(x_train[idx]).float()), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        net.eval()
        correct = 0
        with torch.no_grad(), amp:
            for i in range(0, len(x_val), batch_size):
                o = scores(net(x_val[i:i + batch_size]).float())
                correct += (o.argmax(1) == y_val[i:i + batch_size]).sum().item()
        if sched is not None:
            sched.step()
        log.write(json.dumps({"epoch": epoch, "val_accuracy": correct / y_val.numel(),
                              "seconds": round(time.perf_counter() - t0, 4), "train_samples": len(x_train)}) + "\n")

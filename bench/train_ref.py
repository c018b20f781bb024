"""A tight hand-written training loop for DigitsCNN on scikit-learn's digits: the same model
(the class `graphc build models/digits.model` generated), data, split, batch size, loss,
optimizer and schedule as the generated train_digits.py, and nothing else.

    python bench/train_ref.py --model-dir BUILD_DIR --epochs 15 --out RUN_DIR [--device cuda --bf16 --compile]

Writes RUN_DIR/metrics.jsonl like the generated script: per epoch `seconds` (training and
validation, as there), `val_accuracy`, and `train_samples`."""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--model-dir", required=True)
p.add_argument("--epochs", type=int, default=15)
p.add_argument("--out", required=True)
p.add_argument("--device", default="cpu")
p.add_argument("--bf16", action="store_true")
p.add_argument("--compile", action="store_true")
args = p.parse_args()
sys.path.insert(0, args.model_dir)
from digits import DigitsCNN  # noqa: E402

device, seed, batch_size, warmup = torch.device(args.device), 0, 64, 1
torch.manual_seed(seed)
ds = load_digits()
x = (torch.tensor(ds.data, dtype=torch.float32) / 16.0).reshape(-1, 1, 8, 8)
y = torch.tensor(ds.target, dtype=torch.long)
order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
n_val = round(len(x) * 0.2)
x_val, y_val = x[order[:n_val]].to(device), y[order[:n_val]].to(device)
x_train, y_train = x[order[n_val:]].to(device), y[order[n_val:]].to(device)

model = DigitsCNN().to(device)
loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
sched = torch.optim.lr_scheduler.SequentialLR(opt, [
    torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=warmup),
    torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, args.epochs - warmup))], milestones=[warmup])
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
                loss = loss_fn(net(x_train[idx]).float(), y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad(), amp:
            acc = (net(x_val).argmax(1) == y_val).float().mean().item()
        sched.step()
        log.write(json.dumps({"epoch": epoch, "val_accuracy": acc, "seconds": round(time.perf_counter() - t0, 4),
                              "train_samples": len(x_train)}) + "\n")

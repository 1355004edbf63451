"""Trains a small classifier on scikit-learn's handwritten digits with PyTorch.

A gpunet job: reads nothing but what the image ships, writes the model
(`model.pt`, its weights) and `metrics.json` (loss and accuracy per epoch)
into $GPUNET_OUTPUT_DIR, and prints loss and accuracy per epoch. Seeds are
fixed and PyTorch runs one thread with deterministic kernels, so two honest
machines write the same bytes, logs included (the speed, printed only with
REPORT_SPEED set, would differ): the job is declared deterministic (image
pinned by id, no network) and audits re-run it and compare. EPOCHS in the
environment sets its length (default 40); HIDDEN and BATCH its size.
"""

import json
import os
import sys
import time

# cuBLAS is deterministic only with a fixed workspace, set before it starts.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch
from sklearn.datasets import load_digits

torch.manual_seed(0)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)
device = "cuda" if torch.cuda.is_available() else "cpu"

digits = load_digits()
x = torch.tensor(digits.data, dtype=torch.float32) / 16.0
y = torch.tensor(digits.target, dtype=torch.long)
# A fixed split: the first 1500 images train, the rest test.
x_train, y_train = x[:1500].to(device), y[:1500].to(device)
x_test, y_test = x[1500:].to(device), y[1500:].to(device)

# HIDDEN (default 128) widens the network and BATCH (default 50) sets the
# batch: a wide network in large batches is work a GPU is for, while the
# default is so small that a GPU waits on kernel launches.
hidden = int(os.environ.get("HIDDEN", "128"))
model = torch.nn.Sequential(
    torch.nn.Linear(64, hidden),
    torch.nn.ReLU(),
    torch.nn.Linear(hidden, hidden // 2),
    torch.nn.ReLU(),
    torch.nn.Linear(hidden // 2, 10),
).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
loss_fn = torch.nn.CrossEntropyLoss()
epochs = int(os.environ.get("EPOCHS", "40"))
batch = int(os.environ.get("BATCH", "50"))

metrics = []
started = time.monotonic()
samples = 0
for epoch in range(1, epochs + 1):
    model.train()
    order = torch.randperm(len(x_train), device=device)
    total = 0.0
    for i in range(0, len(order), batch):
        idx = order[i : i + batch]
        optimizer.zero_grad()
        loss = loss_fn(model(x_train[idx]), y_train[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        samples += len(idx)
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    metrics.append(
        {"epoch": epoch, "loss": round(total / len(x_train), 6), "test_accuracy": round(accuracy, 6)}
    )
    print(f"epoch {epoch:3d}  loss {metrics[-1]['loss']:.4f}  test accuracy {accuracy:.4f}", flush=True)
seconds = time.monotonic() - started

out = os.environ.get("GPUNET_OUTPUT_DIR", ".")
# Weights only, moved to the CPU: the same bytes whatever device trained them.
torch.save({k: v.cpu() for k, v in model.state_dict().items()}, os.path.join(out, "model.pt"))
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump({"device": "gpu" if device == "cuda" else "cpu", "epochs": metrics}, f, indent=1)
# The logs are part of the result, which must not depend on the machine:
# the speed is printed only when asked for (benchmarks), never in audited runs.
if os.environ.get("REPORT_SPEED"):
    print(f"trained {samples} samples in {seconds:.2f} s: {samples / seconds:.0f} samples/s", file=sys.stderr)

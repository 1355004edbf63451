"""Classifies scikit-learn's handwritten digits with the training example's model.

A gpunet job chained to a training job: its input `model.pt` is that job's
output, read from the nodes by its hash (`gpunet job run
examples/inference/inference.toml --inputs-from TRAINING_ORDER`), never
downloaded by the client. Writes `predictions.csv` (image index, label,
prediction) and `accuracy.json` into $GPUNET_OUTPUT_DIR.
"""

import json
import os

import torch
from sklearn.datasets import load_digits

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

inputs = os.environ.get("GPUNET_INPUT_DIR", ".")
out = os.environ.get("GPUNET_OUTPUT_DIR", ".")
model = torch.nn.Sequential(
    torch.nn.Linear(64, 128),
    torch.nn.ReLU(),
    torch.nn.Linear(128, 64),
    torch.nn.ReLU(),
    torch.nn.Linear(64, 10),
)
model.load_state_dict(torch.load(os.path.join(inputs, "model.pt")))
model.eval()

digits = load_digits()
# The images the training job held out.
x = torch.tensor(digits.data[1500:], dtype=torch.float32) / 16.0
labels = digits.target[1500:]
with torch.no_grad():
    predicted = model(x).argmax(1).tolist()

with open(os.path.join(out, "predictions.csv"), "w") as f:
    f.write("index,label,prediction\n")
    for i, (label, p) in enumerate(zip(labels, predicted)):
        f.write(f"{1500 + i},{label},{p}\n")
correct = sum(int(label == p) for label, p in zip(labels, predicted))
with open(os.path.join(out, "accuracy.json"), "w") as f:
    json.dump({"images": len(predicted), "correct": correct}, f)
print(f"classified {len(predicted)} images: {correct} correct ({correct / len(predicted):.2%})")

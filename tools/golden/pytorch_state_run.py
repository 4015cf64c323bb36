"""A PyTorch training run to continue in another program (the README's Install program, ConsumerPackageTests).

A Linear(4, 5) fitted by mean squared error to fixed data with torch.optim.AdamW for 5 steps, then
torch.save(model.state_dict()) -> <dir>/model.pt and torch.save(optimizer.state_dict()) -> <dir>/adamw.pt, then
5 more steps. The data are closed-form (no random numbers), so the continuing program builds the same batch:
    x = sin(0.1 * arange(128)).reshape(32, 4),  y = cos(0.3 * arange(160)).reshape(32, 5)   (float32)
The JSON records the loss of each continued step (the loss at the parameters before that step) and the weight and
bias after the last one: a program that loads both files and takes 5 AdamW steps on the same batch must follow them.

Usage (PyTorch 1.13, Debian's python3-torch):
  /usr/bin/python3 tools/golden/pytorch_state_run.py tests/SharpOptim.Tests/Golden/pytorch_state_run \
      > tests/SharpOptim.Tests/Golden/pytorch_state_run.json
"""
import json
import os
import sys

import torch

from common import flat

STEPS_BEFORE, STEPS_AFTER = 5, 5


def data():
    x = torch.sin(torch.arange(128, dtype=torch.float32) * 0.1).reshape(32, 4)
    y = torch.cos(torch.arange(160, dtype=torch.float32) * 0.3).reshape(32, 5)
    return x, y


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(7)
    model = torch.nn.Linear(4, 5)
    # Not PyTorch's defaults on purpose: the continuing program must take every option from the file.
    opt = torch.optim.AdamW(model.parameters(), lr=2e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)
    x, y = data()

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    before = [step() for _ in range(STEPS_BEFORE)]
    torch.save(model.state_dict(), os.path.join(out_dir, "model.pt"))
    torch.save(opt.state_dict(), os.path.join(out_dir, "adamw.pt"))
    after = [step() for _ in range(STEPS_AFTER)]
    print(json.dumps({
        "torch": torch.__version__,
        "losses_before": before,
        "losses_after": after,
        "weight": flat(model.weight),
        "bias": flat(model.bias),
    }, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])

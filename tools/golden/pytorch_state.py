"""PyTorch optimizer state files and the trajectories that continue from them (for SharpOptim.Interop).

For each optimizer: two parameter groups (a 5x4 weight, a bias) with different hyperparameters, 5 steps on fixed
gradients, then torch.save(optimizer.state_dict()) -> Golden/pytorch_state/<name>.pt, then 5 more steps. The JSON
records the parameters at the save, the 10 gradients and the parameters after each later step, so that a test can
load the file into SharpOptim at the save point and must follow PyTorch's continued trajectory.

Usage (PyTorch 1.13, Debian's python3-torch):
  python3 tools/golden/pytorch_state.py tests/SharpOptim.Tests/Golden/pytorch_state
writes <dir>/<name>.pt for each optimizer and prints the JSON fixture (redirect to <dir>.json).
  python3 tools/golden/pytorch_state.py --check FILE.pt NAME
loads a file written by SharpOptim (PyTorchOptimizerState.Save) into the same PyTorch optimizer and prints its state.
"""
import json
import os
import sys

import torch

from common import flat

STEPS_BEFORE, STEPS_AFTER = 5, 5

OPTIMIZERS = {
    "adamw": lambda groups: torch.optim.AdamW(groups, lr=1e-2, betas=(0.85, 0.99), eps=1e-7, weight_decay=0.05),
    "adam_amsgrad": lambda groups: torch.optim.Adam(groups, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.01, amsgrad=True),
    "sgd_nesterov": lambda groups: torch.optim.SGD(groups, lr=5e-2, momentum=0.9, nesterov=True, weight_decay=1e-3),
}


def problem():
    gen = torch.Generator().manual_seed(2024)
    w = torch.randn(5, 4, generator=gen)
    b = torch.randn(5, generator=gen)
    grads = [(torch.randn(5, 4, generator=gen), torch.randn(5, generator=gen) * 0.5) for _ in range(STEPS_BEFORE + STEPS_AFTER)]
    return w, b, grads


def build(name):
    w0, b0, grads = problem()
    w = torch.nn.Parameter(w0.clone())
    b = torch.nn.Parameter(b0.clone())
    # The second group overrides lr (and, for Adam-style, the weight decay): the file must carry per-group options.
    opt = OPTIMIZERS[name]([{"params": [w]}, {"params": [b], "lr": 2e-2, "weight_decay": 0.0}])
    return w, b, grads, opt


def run(name, out_dir):
    w, b, grads, opt = build(name)
    for t in range(STEPS_BEFORE):
        w.grad, b.grad = grads[t][0].clone(), grads[t][1].clone()
        opt.step()
    torch.save(opt.state_dict(), os.path.join(out_dir, name + ".pt"))
    at_save = {"w": flat(w), "b": flat(b)}
    after = []
    for t in range(STEPS_BEFORE, STEPS_BEFORE + STEPS_AFTER):
        w.grad, b.grad = grads[t][0].clone(), grads[t][1].clone()
        opt.step()
        after.append({"w": flat(w), "b": flat(b)})
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.state_dict()["param_groups"]]
    return {
        "file": name + ".pt",
        "groups": json.loads(json.dumps(groups, default=str)),
        "at_save": at_save,
        "grads": [{"w": flat(gw), "b": flat(gb)} for gw, gb in grads[STEPS_BEFORE:]],
        "after": after,
    }


def check(path, name):
    """Loads a SharpOptim-written file at the save point and continues PyTorch's run from it: the trajectory must be
    the one PyTorch follows from its own file."""
    w, b, grads, opt = build(name)
    _, _, _, ref = build(name)
    ref_w, ref_b = ref.param_groups[0]["params"][0], ref.param_groups[1]["params"][0]
    for t in range(STEPS_BEFORE):
        ref_w.grad, ref_b.grad = grads[t][0].clone(), grads[t][1].clone()
        ref.step()
    with torch.no_grad():
        w.copy_(ref_w)
        b.copy_(ref_b)
    opt.load_state_dict(torch.load(path))
    worst = 0.0
    for t in range(STEPS_BEFORE, STEPS_BEFORE + STEPS_AFTER):
        w.grad, b.grad = grads[t][0].clone(), grads[t][1].clone()
        ref_w.grad, ref_b.grad = grads[t][0].clone(), grads[t][1].clone()
        opt.step()
        ref.step()
        worst = max(worst, (w - ref_w).abs().max().item(), (b - ref_b).abs().max().item())
    print(f"{name}: {path} continued {STEPS_AFTER} steps in PyTorch; max |difference| from PyTorch's own run {worst:.3g}")


if __name__ == "__main__":
    if sys.argv[1] == "--check":
        check(sys.argv[2], sys.argv[3])
    else:
        os.makedirs(sys.argv[1], exist_ok=True)
        print(json.dumps({"torch": torch.__version__, "cases": {n: run(n, sys.argv[1]) for n in OPTIMIZERS}}, indent=1))

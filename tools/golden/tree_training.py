#!/usr/bin/env python3
"""Golden fixture for SharpOptim.Policy.TreeTraining (float64).

Tree Training (Wang et al., "Tree Training: Accelerating Agentic LLMs Training via Shared Prefix Reuse",
arXiv 2511.00413) packs the branches of a tree-shaped rollout into one sequence (each shared token once, position =
depth, tree attention: a token sees its ancestors and itself) and restores per-branch gradients by weighting each tree
token with the branches through it. The paper body was not available: this follows the reconstruction in
shared/papers/policy.md section 8 (a third-party summary of v5 and inclusionAI/AReaL's tree attention, read for
behaviour), written here independently.

Tree (the brief's miniature): a root segment of 20 tokens, 3 children of 6 tokens, each with 2 children of 4 tokens:
6 branches of 30 tokens, 62 distinct tree tokens against 180 branch tokens. The first 4 tokens of every branch are a
prompt without loss; every other token (shared or not) carries loss. Per-branch advantages A_b, per-branch mean
normalisation n_b = 1/|loss tokens of b|, B = 6.

Losses, from the PLAIN per-branch forward (one row per branch, causal attention, positions 0..29):
  linear: L = -(1/B) sum_b n_b A_b sum_t l_bt                       (REINFORCE-style; the gradient-restoration case)
  ppo:    L = -(1/B) sum_b n_b sum_t [min(rho A_b, clip(rho, 0.8, 1.2) A_b) - 0.04 k3]
          rho = exp(l - l_old), k3 = exp(l_ref - l) - (l_ref - l) - 1, l_old / l_ref fixed per tree node.
The same decoder as prefix_grouper.py (CharTransformer's layout and parameter names), block size 32.
The script also evaluates both losses through the tree (one packed row, ancestor mask, depth positions, token weights)
and records the largest differences (checks.*).
Usage: /usr/bin/python3 tools/golden/tree_training.py > tests/SharpOptim.Tests/Golden/tree_training.json
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prefix_grouper import decoder, make_weights, masked_attention, causal_attention, flat  # noqa: E402

torch.set_default_dtype(torch.float64)
VOCAB, BLOCK, PROMPT = 13, 32, 4


def build_branches(gen):
    root = torch.randint(0, VOCAB, (20,), generator=gen).tolist()
    branches = []
    mids = torch.randperm(VOCAB, generator=gen)[:3].tolist()
    for m in mids:
        mid = [m] + torch.randint(0, VOCAB, (5,), generator=gen).tolist()
        leaves = torch.randperm(VOCAB, generator=gen)[:2].tolist()
        for f in leaves:
            branches.append(root + mid + [f] + torch.randint(0, VOCAB, (3,), generator=gen).tolist())
    return branches


def per_branch_logprobs(w, branches):
    """Plain forward of each branch; l [B, T] over the loss tokens t = PROMPT..len-1."""
    rows = []
    for b in branches:
        logits = decoder(w, torch.tensor([b]), torch.arange(len(b)).unsqueeze(0), causal_attention)
        logp = torch.log_softmax(logits[0], -1)
        rows.append(torch.stack([logp[t - 1, b[t]] for t in range(PROMPT, len(b))]))
    return torch.stack(rows)


def tree_logprobs(w, branches):
    """One packed forward over the trie (depth-first order, depth positions, ancestor mask); l [B, T] gathered."""
    nodes = {}          # (parent, token) -> id
    parent, token, depth = [], [], []
    paths = []
    for b in branches:
        p, path = -1, []
        for i, t in enumerate(b):
            key = (p, t)
            if key not in nodes:
                nodes[key] = len(token)
                parent.append(p)
                token.append(t)
                depth.append(i)
            p = nodes[key]
            path.append(p)
        paths.append(path)
    n = len(token)
    allowed = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        j = i
        while j >= 0:
            allowed[i, j] = True
            j = parent[j]
    logits = decoder(w, torch.tensor([token]), torch.tensor([depth]),
                     lambda layer, q, k, v: masked_attention(q, k, v, allowed))
    logp = torch.log_softmax(logits[0], -1)
    rows = [torch.stack([logp[path[t - 1], b[t]] for t in range(PROMPT, len(b))]) for b, path in zip(branches, paths)]
    return torch.stack(rows), n, paths


def losses(l, adv, l_old, l_ref):
    b, t = l.shape
    n = 1.0 / t
    linear = -(adv.unsqueeze(1) * l).sum() * n / b
    ratio = torch.exp(l - l_old)
    a = adv.unsqueeze(1)
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 0.8, 1.2) * a)
    k3 = torch.exp(l_ref - l) - (l_ref - l) - 1
    ppo = -((surrogate - 0.04 * k3).sum(1) * n).sum() / b
    return linear, ppo


def main():
    gen = torch.Generator().manual_seed(20251102)
    w = make_weights(gen, vocab=VOCAB, block=BLOCK, dim=16, layers=2)
    branches = build_branches(gen)
    adv = torch.randn(len(branches), generator=gen)
    names = list(w.keys())

    l_plain = per_branch_logprobs(w, branches)
    l_tree, tree_tokens, paths = tree_logprobs(w, branches)
    # l_old / l_ref: fixed offsets per tree node (so equal for every branch through a token), in [-0.3, 0.3].
    off_old = torch.rand(tree_tokens, generator=gen) * 0.6 - 0.3
    off_ref = torch.rand(tree_tokens, generator=gen) * 0.6 - 0.3
    node_of = torch.tensor([[path[t] for t in range(PROMPT, len(b))] for b, path in zip(branches, paths)])
    l_old = l_plain.detach() + off_old[node_of]
    l_ref = l_plain.detach() + off_ref[node_of]

    lin_p, ppo_p = losses(l_plain, adv, l_old, l_ref)
    g_lin = torch.autograd.grad(lin_p, [w[k] for k in names], retain_graph=True)
    g_ppo = torch.autograd.grad(ppo_p, [w[k] for k in names])
    lin_t, ppo_t = losses(l_tree, adv, l_old, l_ref)
    g_lin_t = torch.autograd.grad(lin_t, [w[k] for k in names], retain_graph=True)
    g_ppo_t = torch.autograd.grad(ppo_t, [w[k] for k in names])

    out = {
        "config": {"vocabulary": VOCAB, "block_size": BLOCK, "dim": 16, "heads": 2, "layers": 2, "prompt": PROMPT,
                   "clip": 0.2, "beta": 0.04},
        "branches": branches,
        "advantages": flat(adv),
        "logp_old": flat(l_old),
        "logp_ref": flat(l_ref),
        "weights": {k: flat(v) for k, v in w.items()},
        "tree_tokens": tree_tokens,
        "branch_tokens": sum(len(b) for b in branches),
        "logp": flat(l_plain),
        "linear": {"loss": float(lin_p), "grads": {k: flat(g) for k, g in zip(names, g_lin)}},
        "ppo": {"loss": float(ppo_p), "grads": {k: flat(g) for k, g in zip(names, g_ppo)}},
        "checks": {
            "python_max_logp_diff": float((l_plain - l_tree).abs().max()),
            "python_linear_loss_diff": abs(float(lin_p) - float(lin_t)),
            "python_ppo_loss_diff": abs(float(ppo_p) - float(ppo_t)),
            "python_linear_max_grad_diff": max(float((a - b).abs().max()) for a, b in zip(g_lin, g_lin_t)),
            "python_ppo_max_grad_diff": max(float((a - b).abs().max()) for a, b in zip(g_ppo, g_ppo_t)),
            "ratios_below_clip": int((torch.exp(l_plain.detach() - l_old) < 0.8).sum()),
            "ratios_above_clip": int((torch.exp(l_plain.detach() - l_old) > 1.2).sum()),
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

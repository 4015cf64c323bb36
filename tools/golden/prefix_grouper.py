#!/usr/bin/env python3
"""Golden fixture for SharpOptim.Policy.PrefixGrouper (float64).

An independent PyTorch implementation of the shared-prefix forward of Prefix Grouper (Liu et al., arXiv 2506.05433;
official code johncaged/PrefixGrouper, read for its behaviour: prompt attention call, completion attention call over
[prompt keys repeated per completion ; own keys] with a bottom-right causal mask, outputs scattered back, the first
completion token predicted by the last prompt position). Written here from that description, not copied.

The decoder mirrors SharpOptim.Tasks.Models.CharTransformer layer by layer (token + learned position embeddings,
pre-LayerNorm blocks: causal multi-head attention with bias-free q/k/v/o projections, a 4x GELU MLP with biases,
final LayerNorm, bias-free lm_head) and its parameter names, so the C# test loads the same fixed weights.

Case: one prompt of P = 7 tokens, G = 4 completions of lengths 3/5/2/4, vocabulary 13, block size 16, width 16,
2 heads, 2 layers. Loss (a nonlinear function of the per-token log-probabilities l):
  A_i   = (r_i - mean r) / (std_unbiased(r) + 1e-4)
  L     = -(1/G) sum_i (1/|o_i|) sum_t [ A_i l_it + min(rho_it A_i, clip(rho_it, 0.8, 1.2) A_i) - 0.04 k3_it ]
  rho   = exp(l - l_old),  k3 = exp(l_ref - l) - (l_ref - l) - 1,  l_old and l_ref fixed numbers in the fixture.
The fixture holds the weights, tokens, rewards, l_old, l_ref, the per-token log-probabilities, the loss and every
parameter gradient of the repeated-prefix forward, the grouped forward's log-probabilities and loss, and the largest
gradient difference between the two forms here (checks.python_max_grad_diff).
Usage: /usr/bin/python3 tools/golden/prefix_grouper.py > tests/SharpOptim.Tests/Golden/prefix_grouper.json
"""
import json
import math

import torch

torch.set_default_dtype(torch.float64)

VOCAB, BLOCK, DIM, HEADS, LAYERS = 13, 16, 16, 2, 2


def make_weights(gen, vocab=VOCAB, block=BLOCK, dim=DIM, layers=LAYERS):
    """Fixed weights with CharTransformer's names and shapes (weights of Linear are [out, in])."""
    def n(*shape, std):
        return torch.randn(*shape, generator=gen) * std

    w = {"wte.weight": n(vocab, dim, std=0.5), "wpe.weight": n(block, dim, std=0.5)}
    for i in range(layers):
        p = f"blocks.{i}."
        w[p + "ln1.weight"] = 1 + n(dim, std=0.1)
        w[p + "ln1.bias"] = n(dim, std=0.1)
        for m in ("q", "k", "v", "o"):
            w[p + f"attn.{m}_proj.weight"] = n(dim, dim, std=0.4)
        w[p + "ln2.weight"] = 1 + n(dim, std=0.1)
        w[p + "ln2.bias"] = n(dim, std=0.1)
        w[p + "mlp.fc.weight"] = n(4 * dim, dim, std=0.3)
        w[p + "mlp.fc.bias"] = n(4 * dim, std=0.1)
        w[p + "mlp.proj.weight"] = n(dim, 4 * dim, std=0.2)
        w[p + "mlp.proj.bias"] = n(dim, std=0.1)
    w["ln_f.weight"] = 1 + n(dim, std=0.1)
    w["ln_f.bias"] = n(dim, std=0.1)
    w["lm_head.weight"] = n(vocab, dim, std=0.5)
    return {k: v.clone().requires_grad_(True) for k, v in w.items()}


def layer_norm(x, w, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, 1e-5)


def masked_attention(q, k, v, allowed):
    """softmax(q k^T / sqrt(d), -inf where not allowed) v; allowed broadcasts to [B, H, Tq, Tk]."""
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    att = att.masked_fill(~allowed, float("-inf"))
    return torch.softmax(att, -1) @ v


def causal_attention(layer, q, k, v):
    tq, tk = q.shape[2], k.shape[2]
    allowed = torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)
    return masked_attention(q, k, v, allowed)


def decoder(w, tokens, positions, attend, heads=HEADS, layers=LAYERS):
    """Logits [B, T, V]; attend(layer, q, k, v) computes attention on [B, H, T, d]."""
    x = w["wte.weight"][tokens] + w["wpe.weight"][positions]
    b, t, c = x.shape
    d = c // heads
    for i in range(layers):
        p = f"blocks.{i}."
        h = layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"])
        q, k, v = (
            (h @ w[p + f"attn.{m}_proj.weight"].T).view(b, t, heads, d).transpose(1, 2) for m in ("q", "k", "v")
        )
        y = attend(i, q, k, v).transpose(1, 2).reshape(b, t, c)
        x = x + y @ w[p + "attn.o_proj.weight"].T
        h = layer_norm(x, w[p + "ln2.weight"], w[p + "ln2.bias"])
        h = torch.nn.functional.gelu(h @ w[p + "mlp.fc.weight"].T + w[p + "mlp.fc.bias"])
        x = x + h @ w[p + "mlp.proj.weight"].T + w[p + "mlp.proj.bias"]
    x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"])
    return x @ w["lm_head.weight"].T


def repeated_logprobs(w, prompt, completions):
    """Plain forward: one row [prompt | completion] per sample; returns l [G, Lmax] (0 on padding) and mask."""
    p, lmax = len(prompt), max(len(c) for c in completions)
    rows, mask = [], torch.zeros(len(completions), lmax)
    out = torch.zeros(len(completions), lmax)
    result = []
    for j, c in enumerate(completions):
        toks = torch.tensor([prompt + c])
        logits = decoder(w, toks, torch.arange(p + len(c)).unsqueeze(0), causal_attention)
        logp = torch.log_softmax(logits[0], -1)
        vals = [logp[p - 1 + t, c[t]] for t in range(len(c))]
        result.append(torch.stack(vals + [torch.zeros(())] * (lmax - len(c))))
        mask[j, : len(c)] = 1
    return torch.stack(result), mask


def grouped_logprobs(w, prompt, completions):
    """Prefix Grouper: one packed row, two attention calls per layer, scatter back; same outputs as repeated."""
    p, g = len(prompt), len(completions)
    lens = [len(c) for c in completions]
    lmax = max(lens)
    tokens = prompt + [t for c in completions for t in c]
    positions = list(range(p)) + [p + t for c in completions for t in range(len(c))]
    n = len(tokens)
    starts = [p + sum(lens[:j]) for j in range(g)]

    def attend(layer, q, k, v):
        # q, k, v: [1, H, n, d]
        qp, kp, vp = q[:, :, :p], k[:, :, :p], v[:, :, :p]
        out_prefix = causal_attention(layer, qp, kp, vp)
        # completion call: right-padded [G, H, Lmax, d]; keys [prefix (repeated) ; own]
        def pad(x, j):
            seg = x[0, :, starts[j]: starts[j] + lens[j]]
            return torch.cat([seg, seg.new_zeros(seg.shape[0], lmax - lens[j], seg.shape[2])], 1)
        qs = torch.stack([pad(q, j) for j in range(g)])
        ks = torch.cat([kp.expand(g, -1, -1, -1), torch.stack([pad(k, j) for j in range(g)])], 2)
        vs = torch.cat([vp.expand(g, -1, -1, -1), torch.stack([pad(v, j) for j in range(g)])], 2)
        allowed = torch.cat([torch.ones(lmax, p, dtype=torch.bool), torch.ones(lmax, lmax, dtype=torch.bool).tril()], 1)
        out_suffix = masked_attention(qs, ks, vs, allowed)
        pieces = [out_prefix[0]] + [out_suffix[j, :, : lens[j]] for j in range(g)]
        return torch.cat(pieces, 1).unsqueeze(0)

    logits = decoder(w, torch.tensor([tokens]), torch.tensor([positions]), attend)
    logp = torch.log_softmax(logits[0], -1)
    result, mask = [], torch.zeros(g, lmax)
    for j, c in enumerate(completions):
        vals = []
        for t in range(len(c)):
            row = p - 1 if t == 0 else starts[j] + t - 1   # first token predicted by the last prompt position
            vals.append(logp[row, c[t]])
        result.append(torch.stack(vals + [torch.zeros(())] * (lmax - len(c))))
        mask[j, : len(c)] = 1
    assert n == p + sum(lens)
    return torch.stack(result), mask


def grpo_loss(logp, mask, rewards, logp_old, logp_ref, clip=0.2, beta=0.04):
    a = (rewards - rewards.mean()) / (rewards.std(unbiased=True) + 1e-4)
    a = a.unsqueeze(1)
    ratio = torch.exp(logp - logp_old)
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 1 - clip, 1 + clip) * a)
    k3 = torch.exp(logp_ref - logp) - (logp_ref - logp) - 1
    per_token = (a * logp + surrogate - beta * k3) * mask
    lengths = mask.sum(1)
    return -(per_token.sum(1) / lengths).mean()


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(20250607)
    w = make_weights(gen)
    prompt = torch.randint(0, VOCAB, (7,), generator=gen).tolist()
    lens = [3, 5, 2, 4]
    completions = [torch.randint(0, VOCAB, (n,), generator=gen).tolist() for n in lens]
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])

    logp_rep, mask = repeated_logprobs(w, prompt, completions)
    # l_old, l_ref: the true values plus fixed offsets in [-0.3, 0.3] so that the clip binds on both sides.
    offsets_old = (torch.rand(logp_rep.shape, generator=gen) * 0.6 - 0.3)
    offsets_ref = (torch.rand(logp_rep.shape, generator=gen) * 0.6 - 0.3)
    logp_old = ((logp_rep.detach() + offsets_old) * mask)
    logp_ref = ((logp_rep.detach() + offsets_ref) * mask)
    loss_rep = grpo_loss(logp_rep, mask, rewards, logp_old, logp_ref)
    names = list(w.keys())
    grads_rep = torch.autograd.grad(loss_rep, [w[k] for k in names])

    logp_grp, mask_grp = grouped_logprobs(w, prompt, completions)
    loss_grp = grpo_loss(logp_grp, mask_grp, rewards, logp_old, logp_ref)
    grads_grp = torch.autograd.grad(loss_grp, [w[k] for k in names])

    ratio = torch.exp(logp_rep.detach() - logp_old)[mask.bool()]
    clipped_low = int((ratio < 0.8).sum())
    clipped_high = int((ratio > 1.2).sum())
    max_grad_diff = max(float((a - b).abs().max()) for a, b in zip(grads_rep, grads_grp))
    out = {
        "config": {"vocabulary": VOCAB, "block_size": BLOCK, "dim": DIM, "heads": HEADS, "layers": LAYERS,
                   "clip": 0.2, "beta": 0.04, "std_eps": 1e-4},
        "prompt": prompt,
        "completions": completions,
        "rewards": flat(rewards),
        "logp_old": flat(logp_old),
        "logp_ref": flat(logp_ref),
        "weights": {k: flat(v) for k, v in w.items()},
        "repeated": {"logp": flat(logp_rep), "loss": float(loss_rep),
                     "grads": {k: flat(g) for k, g in zip(names, grads_rep)}},
        "grouped": {"logp": flat(logp_grp), "loss": float(loss_grp)},
        "checks": {"ratios_below_clip": clipped_low, "ratios_above_clip": clipped_high,
                   "python_loss_diff": abs(float(loss_rep) - float(loss_grp)),
                   "python_max_logp_diff": float((logp_rep - logp_grp).abs().max()),
                   "python_max_grad_diff": max_grad_diff},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()

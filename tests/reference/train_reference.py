#!/usr/bin/env python3
"""Reference for the trainer: a few AdamW steps of a tiny GPT-2 in torch float64.

Written from the GPT-2 definition (pre-LN blocks, Conv1D weights [in, out], tanh GELU, causal softmax attention
scaled by 1/sqrt(head size), final layer norm, head tied to wte) and torch's own AdamW and clip_grad_norm_; it does not
follow the C# code. It writes small fixtures that the C# tests read (CI has no torch):

  tests/fixtures/training/torch-parity/
    config.json   model + optimizer settings, and the tensor names/shapes in the order of params.npy
    params.npy    float32 [P]        initial parameters, the tensors flattened in that order
    inputs.npy    int32   [S, B, T]  token ids per step
    targets.npy   int32   [S, B, T]  next-token targets per step
    losses.npy    float64 [S]        mean cross-entropy (nats) before each step's update
    grads.npy     float64 [S, P]     gradient before clipping at each step
    norms.npy     float64 [S]        global gradient norm at each step
    final.npy     float64 [P]        parameters after the last step

Run:  /usr/bin/python3 tests/reference/train_reference.py   (needs torch and numpy; Debian python3-torch works)
"""
import json
import math
import os
import sys

import numpy as np
import torch

torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "training", "torch-parity")

CFG = dict(vocab_size=61, n_positions=12, n_embd=16, n_layer=2, n_head=2, n_inner=48, layer_norm_epsilon=1e-5)
OPT = dict(lr=2e-2, final_lr_fraction=0.1, warmup=2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.15)
B, T, STEPS, SEED = 3, 10, 4, 1234


def tensor_specs():
    c, i, v, p = CFG["n_embd"], CFG["n_inner"], CFG["vocab_size"], CFG["n_positions"]
    specs = [("wte.weight", (v, c)), ("wpe.weight", (p, c))]
    for l in range(CFG["n_layer"]):
        h = f"h.{l}."
        specs += [(h + "ln_1.weight", (c,)), (h + "ln_1.bias", (c,)),
                  (h + "attn.c_attn.weight", (c, 3 * c)), (h + "attn.c_attn.bias", (3 * c,)),
                  (h + "attn.c_proj.weight", (c, c)), (h + "attn.c_proj.bias", (c,)),
                  (h + "ln_2.weight", (c,)), (h + "ln_2.bias", (c,)),
                  (h + "mlp.c_fc.weight", (c, i)), (h + "mlp.c_fc.bias", (i,)),
                  (h + "mlp.c_proj.weight", (i, c)), (h + "mlp.c_proj.bias", (c,))]
    specs += [("ln_f.weight", (c,)), ("ln_f.bias", (c,))]
    return specs


def decays(name):
    # Weight decay on matrices and embeddings only.
    return name.endswith(".weight") and "ln_" not in name


def layer_norm(x, w, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, CFG["layer_norm_epsilon"])


def forward(P, idx, tgt):
    c, nh = CFG["n_embd"], CFG["n_head"]
    hs = c // nh
    b, t = idx.shape
    x = P["wte.weight"][idx] + P["wpe.weight"][:t][None, :, :]
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for l in range(CFG["n_layer"]):
        h = f"h.{l}."
        a = layer_norm(x, P[h + "ln_1.weight"], P[h + "ln_1.bias"])
        qkv = a @ P[h + "attn.c_attn.weight"] + P[h + "attn.c_attn.bias"]
        q, k, v = qkv.split(c, dim=-1)
        q = q.view(b, t, nh, hs).transpose(1, 2)
        k = k.view(b, t, nh, hs).transpose(1, 2)
        v = v.view(b, t, nh, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        x = x + y @ P[h + "attn.c_proj.weight"] + P[h + "attn.c_proj.bias"]
        m = layer_norm(x, P[h + "ln_2.weight"], P[h + "ln_2.bias"])
        m = torch.nn.functional.gelu(m @ P[h + "mlp.c_fc.weight"] + P[h + "mlp.c_fc.bias"], approximate="tanh")
        x = x + m @ P[h + "mlp.c_proj.weight"] + P[h + "mlp.c_proj.bias"]
    x = layer_norm(x, P["ln_f.weight"], P["ln_f.bias"])
    logits = x @ P["wte.weight"].T
    return torch.nn.functional.cross_entropy(logits.reshape(-1, CFG["vocab_size"]), tgt.reshape(-1))


def lr_at(step, total):
    """1-based step: linear warmup to lr, then linear decay to lr * final fraction at the last step."""
    lr, warm = OPT["lr"], min(OPT["warmup"], total)
    if step <= warm:
        return lr * step / warm
    frac = (step - warm) / (total - warm)
    return lr * (1 - (1 - OPT["final_lr_fraction"]) * frac)


def main():
    rng = np.random.default_rng(SEED)
    specs = tensor_specs()
    init = {}
    for name, shape in specs:
        if "ln_" in name and name.endswith(".weight"):
            a = 1 + 0.1 * rng.standard_normal(shape)   # away from 1 so the layer-norm weight gradient matters
        elif name.endswith(".bias"):
            a = 0.05 * rng.standard_normal(shape)
        else:
            a = 0.1 * rng.standard_normal(shape)       # larger than GPT-2's 0.02 so every path carries signal
        init[name] = a.astype(np.float32)
    flat_init = np.concatenate([init[n].ravel() for n, _ in specs]).astype(np.float32)

    P = {n: torch.tensor(init[n].astype(np.float64), requires_grad=True) for n, _ in specs}
    groups = [
        {"params": [P[n] for n, _ in specs if decays(n)], "weight_decay": OPT["weight_decay"]},
        {"params": [P[n] for n, _ in specs if not decays(n)], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=OPT["lr"], betas=(OPT["beta1"], OPT["beta2"]), eps=OPT["eps"])

    data = rng.integers(0, CFG["vocab_size"], size=(STEPS, B, T + 1))
    inputs = data[:, :, :-1].astype(np.int32)
    targets = data[:, :, 1:].astype(np.int32)
    losses, grads, norms = [], [], []
    for s in range(STEPS):
        opt.zero_grad()
        loss = forward(P, torch.tensor(inputs[s], dtype=torch.long), torch.tensor(targets[s], dtype=torch.long))
        loss.backward()
        grads.append(np.concatenate([P[n].grad.detach().numpy().ravel() for n, _ in specs]))
        norm = torch.nn.utils.clip_grad_norm_([P[n] for n, _ in specs], OPT["clip"])
        norms.append(float(norm))
        for g in opt.param_groups:
            g["lr"] = lr_at(s + 1, STEPS)
        opt.step()
        losses.append(float(loss))
        print(f"step {s + 1}: loss {float(loss):.6f}  grad norm {float(norm):.4f}  lr {lr_at(s + 1, STEPS):.5f}"
              f"  clipped {float(norm) > OPT['clip']}")
    final = np.concatenate([P[n].detach().numpy().ravel() for n, _ in specs])

    os.makedirs(OUT, exist_ok=True)
    meta = dict(CFG)
    meta.update(optimizer=OPT, batch=B, seq_len=T, steps=STEPS, seed=SEED,
                tensors=[{"name": n, "shape": list(s)} for n, s in specs],
                generator="tests/reference/train_reference.py (torch %s, float64)" % torch.__version__)
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(meta, f, indent=2)
    np.save(os.path.join(OUT, "params.npy"), flat_init)
    np.save(os.path.join(OUT, "inputs.npy"), inputs)
    np.save(os.path.join(OUT, "targets.npy"), targets)
    np.save(os.path.join(OUT, "losses.npy"), np.array(losses, dtype=np.float64))
    np.save(os.path.join(OUT, "grads.npy"), np.stack(grads).astype(np.float64))
    np.save(os.path.join(OUT, "norms.npy"), np.array(norms, dtype=np.float64))
    np.save(os.path.join(OUT, "final.npy"), final.astype(np.float64))
    print("wrote", os.path.normpath(OUT), file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Float64 reference for word-level surprisal with the word-boundary correction (numpy only).

Runs the tiny fixture model tests/fixtures/parity/tied-prefix-f32 (a GPT-2 forward written here from the published
definition, checked first against that folder's surprisal.npy from gpt2_reference.py) and aggregates token surprisals
into words the way docs/checkpoints-and-scoring.md defines it (Pimentel & Meister 2024):

    surprisal(w) = sum_i -log2 p(t_i | c, t_1..t_{i-1}) - log2 B(c, t_1..t_k) + [t_1 is a boundary token] * log2 B(c)

where B(x) is the total probability of the boundary tokens as the next token after x. The model has no tokenizer, so
the boundary tokens are a fixed set of ids (id % 4 == 1), and the words of a sequence (the first id is the BOS
context) begin at the first scored token and at every boundary token.

  /usr/bin/python3 tests/reference/word_surprisal_reference.py

writes tests/fixtures/parity/tied-prefix-f32/word_surprisal.npy: float64 (W, 7) rows of
(sequence, first, last, leading_boundary, token_bits, boundary_bits, surprisal_bits) for every sequence of ids.txt
with at least two ids; first/last are token indices in the sequence (the BOS at 0).
"""
import json
import math
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CASE = os.path.join(os.path.dirname(HERE), "fixtures", "parity", "tied-prefix-f32")


def boundary_ids(v):
    return np.array([i % 4 == 1 for i in range(v)])


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", meta
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").astype(np.float64).reshape(meta["shape"])
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def logits(w, cfg, ids):
    """Next-token logits (T, V) after every position of one sequence."""
    c, nh, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    t = len(ids)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][:t]
    hd = c // nh
    mask = np.triu(np.ones((t, t), dtype=bool), 1)
    for layer in range(cfg["n_layer"]):
        p = f"transformer.h.{layer}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = h @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = np.split(qkv, 3, axis=-1)
        heads = []
        for j in range(nh):
            sl = slice(j * hd, (j + 1) * hd)
            s = q[:, sl] @ k[:, sl].T / math.sqrt(hd)
            s[mask] = -np.inf
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            heads.append(s @ v[:, sl])
        x = x + np.concatenate(heads, -1) @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        h = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        x = x + gelu_new(h @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]) @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x @ w["transformer.wte.weight"].T


def log2_softmax(z):
    m = z.max(-1, keepdims=True)
    return (z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))) / math.log(2.0)


def main():
    with open(os.path.join(CASE, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(CASE, "model.safetensors"))
    with open(os.path.join(CASE, "ids.txt")) as f:
        seqs = [[int(x) for x in line.split()] for line in f if line.strip()]
    bound = boundary_ids(cfg["vocab_size"])

    # The forward pass against the torch reference's token surprisals.
    want = np.load(os.path.join(CASE, "surprisal.npy"))
    got = []
    for ids in seqs:
        lp = log2_softmax(logits(w, cfg, ids))
        got.extend(-lp[p - 1, ids[p]] for p in range(1, len(ids)))
    err = np.abs(np.array(got) - want).max()
    assert err < 1e-9, f"numpy forward differs from surprisal.npy by {err}"

    rows = []
    for s, ids in enumerate(seqs):
        if len(ids) < 2:
            continue
        lp = log2_softmax(logits(w, cfg, ids))
        # log2 B after each position: the boundary tokens' total probability.
        log_b = np.log2(np.exp2(lp[:, bound]).sum(-1))
        starts = [1] + [p for p in range(2, len(ids)) if bound[ids[p]]]
        ends = [p - 1 for p in starts[1:]] + [len(ids) - 1]
        for first, last in zip(starts, ends):
            leading = bool(bound[ids[first]])
            token_bits = sum(-lp[p - 1, ids[p]] for p in range(first, last + 1))
            boundary_bits = -log_b[last] + (log_b[first - 1] if leading else 0.0)
            rows.append([s, first, last, float(leading), token_bits, boundary_bits, token_bits + boundary_bits])
    out = os.path.join(CASE, "word_surprisal.npy")
    np.save(out, np.array(rows, dtype=np.float64))
    print(f"{len(rows)} words -> {out} (numpy forward vs surprisal.npy: max error {err:.2e} bits)")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Independent GPT-2 reference for the engine's parity tests.

Written from the published GPT-2 definition (Radford et al. 2019, "Language Models are Unsupervised Multitask
Learners", and the Hugging Face GPT2LMHeadModel conventions for names and options), in float64 torch. It does NOT use
the engine's code, transformers, or the safetensors package: the safetensors files are written byte by byte here.

  /usr/bin/python3 tests/reference/gpt2_reference.py            # regenerate every fixture under tests/fixtures/parity
  /usr/bin/python3 tests/reference/gpt2_reference.py --tiny-random ../shared/fixtures/tiny-random-gpt2

For each case folder it writes config.json + model.safetensors (random tiny model; not for the tiny-random-gpt2
reference, whose model stays in shared/), ids.txt (one sequence per line), surprisal.npy (float64, every target
position 1..len-1 of every sequence in order, in bits), logit_rows.npy (int64 (R, 2): sequence, position) and
logits.npy (float64 (R, V): the next-token logits after those positions).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "tests", "fixtures", "parity")

# ---------------------------------------------------------------- safetensors (format spec, written by hand)

ST_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}


def tensor_bytes(t, dtype):
    """Little-endian bytes of t stored as dtype (F32/F16/BF16), row-major."""
    torch_dtype, _ = ST_DTYPES[dtype]
    x = t.detach().to(torch_dtype).contiguous()
    if dtype == "BF16":
        # numpy has no bfloat16: reinterpret the 16-bit patterns.
        return x.view(torch.int16).numpy().astype("<i2").tobytes()
    return x.numpy().astype(x.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, torch tensor, dtype). Header padded with spaces to a multiple of 8, like the reference writer."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name, t, dtype in tensors:
        b = tensor_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Minimal reader for the F32 tiny-random-gpt2 file (and a self-check of our writer)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        if info["dtype"] == "F32":
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<f4").copy())
        elif info["dtype"] == "F16":
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<f2").copy())
        elif info["dtype"] == "BF16":
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            raise ValueError(f"{path}: dtype {info['dtype']} not handled")
        out[name] = arr.reshape(info["shape"]).to(torch.float64)
    return out


def write_npy(path, arr):
    np.save(path, arr)


# ---------------------------------------------------------------- GPT-2 in float64

def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)   # population variance
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    # GELU, tanh approximation (Hendrycks & Gimpel), as GPT-2 uses.
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gpt2_logits(p, cfg, ids):
    """p: dict of float64 tensors with bare names (wte.weight, h.0.attn.c_attn.weight, ..., head). ids: list of ints.
    Returns logits (T, V) float64."""
    C, NH = cfg["n_embd"], cfg["n_head"]
    HS = C // NH
    eps = cfg["layer_norm_epsilon"]
    T = len(ids)
    idx = torch.tensor(ids, dtype=torch.long)
    x = p["wte.weight"][idx] + p["wpe.weight"][:T]                               # (T, C)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(cfg["n_layer"]):
        g = lambda n: p[f"h.{l}.{n}"]
        a = layer_norm(x, g("ln_1.weight"), g("ln_1.bias"), eps)
        qkv = a @ g("attn.c_attn.weight") + g("attn.c_attn.bias")               # Conv1D: [in, out]
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(T, NH, HS).transpose(0, 1)                                   # (NH, T, HS)
        k = k.view(T, NH, HS).transpose(0, 1)
        v = v.view(T, NH, HS).transpose(0, 1)
        s = q @ k.transpose(-1, -2)                                             # (NH, T, T)
        if cfg.get("scale_attn_weights", True):
            s = s / math.sqrt(HS)
        if cfg.get("scale_attn_by_inverse_layer_idx", False):
            s = s / float(l + 1)
        s = s.masked_fill(~mask, float("-inf"))
        att = torch.softmax(s, dim=-1)
        y = (att @ v).transpose(0, 1).reshape(T, C)
        x = x + (y @ g("attn.c_proj.weight") + g("attn.c_proj.bias"))
        m = layer_norm(x, g("ln_2.weight"), g("ln_2.bias"), eps)
        m = gelu_new(m @ g("mlp.c_fc.weight") + g("mlp.c_fc.bias"))
        x = x + (m @ g("mlp.c_proj.weight") + g("mlp.c_proj.bias"))
    x = layer_norm(x, p["ln_f.weight"], p["ln_f.bias"], eps)
    return x @ p["head"].T                                                      # (T, V)


def surprisal_bits(logits, ids):
    """-log2 p(ids[t] | ids[<t]) for t = 1..T-1."""
    lp = torch.log_softmax(logits[:-1], dim=-1)
    tgt = torch.tensor(ids[1:], dtype=torch.long)
    return -lp[torch.arange(len(ids) - 1), tgt] / math.log(2.0)


def bare_params(stored, cfg):
    """Stored names (with or without 'transformer.') to bare names; the head from lm_head or tied to wte."""
    p = {}
    for name, t in stored.items():
        bare = name[len("transformer."):] if name.startswith("transformer.") else name
        if bare.endswith(".attn.bias") or bare.endswith(".attn.masked_bias"):
            continue
        p[bare] = t
    p["head"] = p["lm_head.weight"] if "lm_head.weight" in p else p["wte.weight"]
    return p


def run_reference(folder, p, cfg, sequences, logit_rows_per_seq):
    """Writes ids.txt, surprisal.npy, logit_rows.npy, logits.npy into folder."""
    surprisal, rows, logits = [], [], []
    for s, ids in enumerate(sequences):
        z = gpt2_logits(p, cfg, ids)
        if len(ids) > 1:
            surprisal.append(surprisal_bits(z, ids).numpy())
        for pos in logit_rows_per_seq(len(ids)):
            rows.append((s, pos))
            logits.append(z[pos].numpy())
    with open(os.path.join(folder, "ids.txt"), "w") as f:
        for ids in sequences:
            f.write(" ".join(str(i) for i in ids) + "\n")
    write_npy(os.path.join(folder, "surprisal.npy"), np.concatenate(surprisal).astype("<f8"))
    write_npy(os.path.join(folder, "logit_rows.npy"), np.array(rows, dtype="<i8").reshape(-1, 2))
    write_npy(os.path.join(folder, "logits.npy"), np.stack(logits).astype("<f8"))


# ---------------------------------------------------------------- random tiny cases

CASES = [
    # name, config, stored dtype, key prefix, untied head, include mask buffers
    ("tied-prefix-f32", dict(vocab_size=96, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=None,
                             layer_norm_epsilon=1e-5), "F32", True, False, False),
    ("inner-untied-noprefix-f16", dict(vocab_size=150, n_positions=16, n_embd=24, n_layer=3, n_head=3, n_inner=40,
                                       layer_norm_epsilon=1e-5), "F16", False, True, True),
    ("inverse-idx-bf16", dict(vocab_size=211, n_positions=20, n_embd=48, n_layer=3, n_head=6, n_inner=64,
                              layer_norm_epsilon=1e-6, scale_attn_by_inverse_layer_idx=True), "BF16", True, False, False),
    ("legacy-nctx-unscaled-bf16-untied", dict(vocab_size=128, n_ctx=12, n_embd=16, n_layer=2, n_head=2, n_inner=None,
                                              layer_norm_epsilon=1e-5, scale_attn_weights=False),
     "BF16", False, True, True),
]


def random_params(cfg, untied, gen):
    V, C, L = cfg["vocab_size"], cfg["n_embd"], cfg["n_layer"]
    P = cfg.get("n_positions", cfg.get("n_ctx"))
    I = cfg["n_inner"] or 4 * C
    n = lambda *shape, std=0.2: torch.randn(*shape, generator=gen, dtype=torch.float64) * std
    p = {"wte.weight": n(V, C, std=0.5), "wpe.weight": n(P, C, std=0.3)}
    for l in range(L):
        h = f"h.{l}."
        p[h + "ln_1.weight"] = 1 + n(C, std=0.1)
        p[h + "ln_1.bias"] = n(C, std=0.1)
        p[h + "attn.c_attn.weight"] = n(C, 3 * C, std=0.3)
        p[h + "attn.c_attn.bias"] = n(3 * C, std=0.1)
        p[h + "attn.c_proj.weight"] = n(C, C, std=0.2)
        p[h + "attn.c_proj.bias"] = n(C, std=0.1)
        p[h + "ln_2.weight"] = 1 + n(C, std=0.1)
        p[h + "ln_2.bias"] = n(C, std=0.1)
        p[h + "mlp.c_fc.weight"] = n(C, I, std=0.2)
        p[h + "mlp.c_fc.bias"] = n(I, std=0.1)
        p[h + "mlp.c_proj.weight"] = n(I, C, std=0.15)
        p[h + "mlp.c_proj.bias"] = n(C, std=0.1)
    p["ln_f.weight"] = 1 + n(C, std=0.1)
    p["ln_f.bias"] = n(C, std=0.1)
    if untied:
        p["lm_head.weight"] = n(V, C, std=0.5)
    return p


def make_case(name, cfg, dtype, prefix, untied, buffers, seed):
    folder = os.path.join(OUT, name)
    os.makedirs(folder, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    params = random_params(cfg, untied, gen)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new"}
    config.update(cfg)
    config["tie_word_embeddings"] = not untied
    config["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    P = cfg.get("n_positions", cfg.get("n_ctx"))
    tensors = []
    for k, t in params.items():
        stored = k if (k == "lm_head.weight" or not prefix) else "transformer." + k
        tensors.append((stored, t, dtype))
    if buffers:
        # Old transformers versions saved the causal mask buffers; readers must ignore them.
        for l in range(cfg["n_layer"]):
            pre = "transformer." if prefix else ""
            tensors.append((f"{pre}h.{l}.attn.bias", torch.tril(torch.ones(1, 1, P, P)), "F32"))
            tensors.append((f"{pre}h.{l}.attn.masked_bias", torch.tensor(-1e4), "F32"))
    write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})

    # The reference computes with exactly the stored (possibly rounded) weights, read back from the file.
    stored = read_safetensors(os.path.join(folder, "model.safetensors"))
    p = bare_params(stored, {})
    full_cfg = dict(cfg, n_positions=P)
    V = cfg["vocab_size"]
    sequences = [torch.randint(0, V, (length,), generator=gen).tolist() for length in range(1, P + 1)]
    # Logits of every position of a few lengths (1, 2, mid, full) keep the fixture small.
    keep = {1, 2, P // 2, P}
    run_reference(folder, p, full_cfg, sequences, lambda length: range(length) if length in keep else [])
    print(f"{name}: {len(sequences)} sequences (lengths 1..{P}), {dtype}, prefix={prefix}, untied={untied}")


def make_tiny_random(model_dir, seed):
    folder = os.path.join(OUT, "tiny-random-gpt2-reference")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    p = bare_params(read_safetensors(os.path.join(model_dir, "model.safetensors")), cfg)
    gen = torch.Generator().manual_seed(seed)
    P, V = cfg["n_positions"], cfg["vocab_size"]
    sequences = [torch.randint(0, V, (length,), generator=gen).tolist() for length in (1, 2, 7, 64, 129, P)]
    # Logits of a few positions per sequence (first, middle, last): all of them would be megabytes.
    run_reference(folder, p, cfg, sequences, lambda length: sorted({0, length // 2, length - 1}))
    print(f"tiny-random-gpt2-reference: {len(sequences)} sequences, lengths {[len(s) for s in sequences]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny-random", default=os.path.join(REPO, "..", "shared", "fixtures", "tiny-random-gpt2"),
                    help="the shared tiny-random-gpt2 folder (skipped when absent)")
    ap.add_argument("--seed", type=int, default=20240501)
    args = ap.parse_args()
    torch.set_default_dtype(torch.float64)
    for i, (name, cfg, dtype, prefix, untied, buffers) in enumerate(CASES):
        make_case(name, cfg, dtype, prefix, untied, buffers, args.seed + i)
    if os.path.isdir(args.tiny_random):
        make_tiny_random(args.tiny_random, args.seed + 100)
    else:
        print(f"{args.tiny_random} not found: tiny-random-gpt2 reference not regenerated", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Independent GPT-NeoX reference for the engine's parity tests.

Written from the GPT-NeoX definition as transformers' GPTNeoXForCausalLM states it (Black et al. 2022; names and
options of modeling_gpt_neox.py: rotary embedding on the first int(head_size * rotary_pct) dimensions of each head in
the rotate_half layout, the fused query_key_value Linear whose outputs are per head q | k | v, parallel or sequential
residual, exact or tanh GELU, untied embed_out), in float64 torch. It shares no code with the engine.

  /usr/bin/python3 tests/reference/gpt_neox_reference.py     # needs Debian's python3-torch and python3-numpy

Writes under tests/fixtures/parity-neox/ one folder per case: config.json, model.safetensors (or pytorch_model.bin,
written by torch.save, with the attention.bias / masked_bias / rotary_emb.inv_freq buffers Pythia's files hold),
ids.txt, surprisal.npy, logit_rows.npy, logits.npy (the same layout as tests/fixtures/parity, see README.md).
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference as ref  # noqa: E402  (safetensors writer/reader, npy writer, surprisal, fixture files)

OUT = os.path.join(ref.REPO, "tests", "fixtures", "parity-neox")
TORCH_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu(x, kind):
    if kind == "gelu":
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def neox_logits(p, cfg, ids):
    """p: float64 tensors with names without the gpt_neox. prefix (embed_in.weight, layers.0..., embed_out.weight)."""
    C, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    HS = C // NH
    R = int(HS * cfg["rotary_pct"])
    eps = cfg["layer_norm_eps"]
    T = len(ids)
    x = p["embed_in.weight"][torch.tensor(ids, dtype=torch.long)]            # (T, C)
    inv_freq = 1.0 / (cfg["rotary_emb_base"] ** (torch.arange(0, R, 2, dtype=torch.float64) / R))
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)       # (T, R/2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()                                           # (T, R)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        g = lambda n: p[f"layers.{l}.{n}"]
        h = layer_norm(x, g("input_layernorm.weight"), g("input_layernorm.bias"), eps)
        qkv = h @ g("attention.query_key_value.weight").T + g("attention.query_key_value.bias")  # (T, 3C)
        qkv = qkv.view(T, NH, 3 * HS).permute(1, 0, 2)                        # (NH, T, 3HS): per head q | k | v
        q, k, v = qkv[..., :HS], qkv[..., HS:2 * HS], qkv[..., 2 * HS:]
        q = torch.cat((q[..., :R] * cos + rotate_half(q[..., :R]) * sin, q[..., R:]), dim=-1)
        k = torch.cat((k[..., :R] * cos + rotate_half(k[..., :R]) * sin, k[..., R:]), dim=-1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(HS)
        s = s.masked_fill(~mask, float("-inf"))
        y = (torch.softmax(s, dim=-1) @ v).permute(1, 0, 2).reshape(T, C)
        attn = y @ g("attention.dense.weight").T + g("attention.dense.bias")

        def mlp(u):
            m = layer_norm(u, g("post_attention_layernorm.weight"), g("post_attention_layernorm.bias"), eps)
            m = gelu(m @ g("mlp.dense_h_to_4h.weight").T + g("mlp.dense_h_to_4h.bias"), cfg["hidden_act"])
            return m @ g("mlp.dense_4h_to_h.weight").T + g("mlp.dense_4h_to_h.bias")

        if cfg["use_parallel_residual"]:
            x = x + attn + mlp(x)
        else:
            x = x + attn
            x = x + mlp(x)
    x = layer_norm(x, p["final_layer_norm.weight"], p["final_layer_norm.bias"], eps)
    head = p["embed_out.weight"] if "embed_out.weight" in p else p["embed_in.weight"]
    return x @ head.T


def random_params(cfg, gen):
    V, C, L, I = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    n = lambda *shape, std=0.2: torch.randn(*shape, generator=gen, dtype=torch.float64) * std
    p = {"embed_in.weight": n(V, C, std=0.5)}
    for l in range(L):
        h = f"layers.{l}."
        p[h + "input_layernorm.weight"] = 1 + n(C, std=0.1)
        p[h + "input_layernorm.bias"] = n(C, std=0.1)
        p[h + "post_attention_layernorm.weight"] = 1 + n(C, std=0.1)
        p[h + "post_attention_layernorm.bias"] = n(C, std=0.1)
        p[h + "attention.query_key_value.weight"] = n(3 * C, C, std=0.3)
        p[h + "attention.query_key_value.bias"] = n(3 * C, std=0.1)
        p[h + "attention.dense.weight"] = n(C, C, std=0.2)
        p[h + "attention.dense.bias"] = n(C, std=0.1)
        p[h + "mlp.dense_h_to_4h.weight"] = n(I, C, std=0.2)
        p[h + "mlp.dense_h_to_4h.bias"] = n(I, std=0.1)
        p[h + "mlp.dense_4h_to_h.weight"] = n(C, I, std=0.15)
        p[h + "mlp.dense_4h_to_h.bias"] = n(C, std=0.1)
    p["final_layer_norm.weight"] = 1 + n(C, std=0.1)
    p["final_layer_norm.bias"] = n(C, std=0.1)
    p["embed_out.weight"] = n(V, C, std=0.5)
    return p


CASES = [
    # name, config, stored dtype, container
    ("parallel-rot025-f32", dict(vocab_size=97, max_position_embeddings=20, hidden_size=32, num_attention_heads=4,
                                 num_hidden_layers=2, intermediate_size=56, rotary_pct=0.25, rotary_emb_base=10000,
                                 use_parallel_residual=True, hidden_act="gelu", layer_norm_eps=1e-5), "F32", "safetensors"),
    ("sequential-rot1-f16", dict(vocab_size=64, max_position_embeddings=16, hidden_size=24, num_attention_heads=3,
                                 num_hidden_layers=3, intermediate_size=40, rotary_pct=1.0, rotary_emb_base=500,
                                 use_parallel_residual=False, hidden_act="gelu", layer_norm_eps=1e-5), "F16", "safetensors"),
    ("odd-parallel-tanh-bf16", dict(vocab_size=101, max_position_embeddings=13, hidden_size=20, num_attention_heads=5,
                                    num_hidden_layers=1, intermediate_size=36, rotary_pct=0.5, rotary_emb_base=10000,
                                    use_parallel_residual=True, hidden_act="gelu_new", layer_norm_eps=1e-6), "BF16", "safetensors"),
    ("pythia-like-bin-f32", dict(vocab_size=50, max_position_embeddings=12, hidden_size=16, num_attention_heads=2,
                                 num_hidden_layers=2, intermediate_size=64, rotary_pct=0.25, rotary_emb_base=10000,
                                 use_parallel_residual=True, hidden_act="gelu", layer_norm_eps=1e-5), "F32", "bin"),
]


def make_case(name, cfg, dtype, container, seed):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    gen = torch.Generator().manual_seed(seed)
    params = random_params(cfg, gen)
    config = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "tie_word_embeddings": False,
              "torch_dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]}
    config.update(cfg)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    P, C, NH = cfg["max_position_embeddings"], cfg["hidden_size"], cfg["num_attention_heads"]
    R = int(C // NH * cfg["rotary_pct"])
    stored_names = {k: (k if k == "embed_out.weight" else "gpt_neox." + k) for k in params}
    buffers = {}
    for l in range(cfg["num_hidden_layers"]):
        # What Pythia's files hold besides the parameters; readers must ignore them.
        buffers[f"gpt_neox.layers.{l}.attention.bias"] = torch.tril(torch.ones(P, P, dtype=torch.bool)).view(1, 1, P, P)
        buffers[f"gpt_neox.layers.{l}.attention.masked_bias"] = torch.tensor(-1e9, dtype=torch.float32)
        buffers[f"gpt_neox.layers.{l}.attention.rotary_emb.inv_freq"] = \
            (1.0 / (cfg["rotary_emb_base"] ** (torch.arange(0, R, 2).float() / R))).to(torch.float32)
    if container == "bin":
        from collections import OrderedDict
        sd = OrderedDict((stored_names[k], v.to(TORCH_DTYPE[dtype])) for k, v in params.items())
        sd.update(buffers)
        torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
        back = torch.load(os.path.join(folder, "pytorch_model.bin"))
        stored = {k: v.to(torch.float64) for k, v in back.items() if k in stored_names.values()}
    else:
        tensors = [(stored_names[k], v, dtype) for k, v in params.items()]
        tensors += [(k, v.to(torch.float32), "F32") for k, v in buffers.items() if v.dtype != torch.bool]
        ref.write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})
        stored = ref.read_safetensors(os.path.join(folder, "model.safetensors"))
    p = {(k[len("gpt_neox."):] if k.startswith("gpt_neox.") else k): v for k, v in stored.items()
         if not (k.endswith(".attention.bias") or k.endswith(".masked_bias") or k.endswith(".inv_freq"))}
    V = cfg["vocab_size"]
    sequences = [torch.randint(0, V, (length,), generator=gen).tolist() for length in range(1, P + 1)]
    keep = {1, 2, P // 2, P}
    surprisal, rows, logits = [], [], []
    for s, ids in enumerate(sequences):
        z = neox_logits(p, cfg, ids)
        if len(ids) > 1:
            surprisal.append(ref.surprisal_bits(z, ids).numpy())
        if len(ids) in keep:
            for pos in range(len(ids)):
                rows.append((s, pos))
                logits.append(z[pos].numpy())
    with open(os.path.join(folder, "ids.txt"), "w") as f:
        for ids in sequences:
            f.write(" ".join(str(i) for i in ids) + "\n")
    ref.write_npy(os.path.join(folder, "surprisal.npy"), np.concatenate(surprisal).astype("<f8"))
    ref.write_npy(os.path.join(folder, "logit_rows.npy"), np.array(rows, dtype="<i8").reshape(-1, 2))
    ref.write_npy(os.path.join(folder, "logits.npy"), np.stack(logits).astype("<f8"))
    print(f"{name}: {dtype} {container}, {len(sequences)} sequences (lengths 1..{P}), rotary dims {R}")


def main():
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    for i, (name, cfg, dtype, container) in enumerate(CASES):
        make_case(name, cfg, dtype, container, 20241201 + i)


if __name__ == "__main__":
    main()

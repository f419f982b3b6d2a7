#!/usr/bin/python3
"""Writes a large random checkpoint in sharded safetensors, for measuring how much host memory loading takes.

    /usr/bin/python3 tests/reference/big_checkpoint.py --shape pythia-1b --dtype BF16 --shard-mb 512 --out /tmp/big
    /usr/bin/python3 tests/reference/big_checkpoint.py --shape llama-7b --dtype BF16 --shard-mb 4800 --out /tmp/llama7b
    /usr/bin/python3 tests/reference/big_checkpoint.py --shape llama-7b --shard-mb 9441 --out /tmp/llama7b-2shards

The last is sharded as the published LLaMA-2-7B BF16 safetensors are (about 9.9 GB and 3.5 GB); --layers N keeps a
shape's width with fewer layers.

Tensors are written one at a time (host memory stays at about one tensor), in transformers' order and names, into
shards of at most --shard-mb MB (a tensor larger than that gets a shard of its own), with model.safetensors.index.json
and config.json as transformers writes them. Weights are random normal * 0.02 (norm weights 1), rounded to BF16 (round
to nearest even) or stored as F32/F16. Not a fixture: the files are far too large for the repository.
"""
import argparse
import json
import os
import struct

import numpy as np

SHAPES = {
    # GPT-NeoX shapes (Pythia)
    "pythia-160m": dict(model_type="gpt_neox", vocab_size=50304, hidden_size=768, num_hidden_layers=12,
                        num_attention_heads=12, intermediate_size=3072, max_position_embeddings=2048),
    "pythia-1b": dict(model_type="gpt_neox", vocab_size=50304, hidden_size=2048, num_hidden_layers=16,
                      num_attention_heads=8, intermediate_size=8192, max_position_embeddings=2048),
    "pythia-6.9b": dict(model_type="gpt_neox", vocab_size=50432, hidden_size=4096, num_hidden_layers=32,
                        num_attention_heads=32, intermediate_size=16384, max_position_embeddings=2048),
    # LLaMA shapes
    "tinyllama": dict(model_type="llama", vocab_size=32000, hidden_size=2048, num_hidden_layers=22, num_attention_heads=32,
                      num_key_value_heads=4, intermediate_size=5632, max_position_embeddings=2048),
    "llama-7b": dict(model_type="llama", vocab_size=32000, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, intermediate_size=11008, max_position_embeddings=4096),
}


def tensors(cfg):
    """(name, shape, is_norm_weight) in transformers' order."""
    V, C, L, I = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    if cfg["model_type"] == "gpt_neox":
        yield "gpt_neox.embed_in.weight", (V, C), False
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            yield p + "input_layernorm.weight", (C,), True
            yield p + "input_layernorm.bias", (C,), False
            yield p + "post_attention_layernorm.weight", (C,), True
            yield p + "post_attention_layernorm.bias", (C,), False
            yield p + "attention.query_key_value.weight", (3 * C, C), False
            yield p + "attention.query_key_value.bias", (3 * C,), False
            yield p + "attention.dense.weight", (C, C), False
            yield p + "attention.dense.bias", (C,), False
            yield p + "mlp.dense_h_to_4h.weight", (I, C), False
            yield p + "mlp.dense_h_to_4h.bias", (I,), False
            yield p + "mlp.dense_4h_to_h.weight", (C, I), False
            yield p + "mlp.dense_4h_to_h.bias", (C,), False
        yield "gpt_neox.final_layer_norm.weight", (C,), True
        yield "gpt_neox.final_layer_norm.bias", (C,), False
        yield "embed_out.weight", (V, C), False
    else:
        NH, NKV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        HD = C // NH
        yield "model.embed_tokens.weight", (V, C), False
        for l in range(L):
            p = f"model.layers.{l}."
            yield p + "input_layernorm.weight", (C,), True
            yield p + "self_attn.q_proj.weight", (NH * HD, C), False
            yield p + "self_attn.k_proj.weight", (NKV * HD, C), False
            yield p + "self_attn.v_proj.weight", (NKV * HD, C), False
            yield p + "self_attn.o_proj.weight", (C, NH * HD), False
            yield p + "post_attention_layernorm.weight", (C,), True
            yield p + "mlp.gate_proj.weight", (I, C), False
            yield p + "mlp.up_proj.weight", (I, C), False
            yield p + "mlp.down_proj.weight", (C, I), False
        yield "model.norm.weight", (C,), True
        yield "lm_head.weight", (V, C), False


ITEM = {"F32": 4, "F16": 2, "BF16": 2}


def encode(a, dtype):
    if dtype == "F32":
        return a.astype("<f4").tobytes()
    if dtype == "F16":
        return a.astype("<f2").tobytes()
    b = a.astype("<f4").view("<u4").astype(np.uint64)
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype("<u2").tobytes()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--dtype", choices=sorted(ITEM), default="BF16")
    ap.add_argument("--shard-mb", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layers", type=int, default=0, help="num_hidden_layers instead of the shape's (0: the shape's)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg = dict(SHAPES[a.shape])
    if a.layers > 0:
        cfg["num_hidden_layers"] = a.layers
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    limit = a.shard_mb * 1024 * 1024
    groups, cur, size = [], [], 0
    for name, shape, norm in tensors(cfg):
        n = int(np.prod(shape)) * ITEM[a.dtype]
        if cur and size + n > limit:
            groups.append(cur)
            cur, size = [], 0
        cur.append((name, shape, norm))
        size += n
    groups.append(cur)
    weight_map, total = {}, 0
    for i, group in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for name, shape, _ in group:
            n = int(np.prod(shape)) * ITEM[a.dtype]
            header[name] = {"dtype": a.dtype, "shape": list(shape), "data_offsets": [off, off + n]}
            off += n
            weight_map[name] = fname
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (-len(h) % 8)
        with open(os.path.join(a.out, fname), "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for name, shape, norm in group:
                x = np.ones(shape, dtype=np.float32) if norm else rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
                f.write(encode(x, a.dtype))
        total += off
        print(f"{fname}: {len(group)} tensors, {off / 2**20:.0f} MiB")
    with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    conf = dict(cfg)
    conf["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[a.dtype]
    conf["tie_word_embeddings"] = False
    if cfg["model_type"] == "gpt_neox":
        conf.update(architectures=["GPTNeoXForCausalLM"], hidden_act="gelu", rotary_pct=0.25, rotary_emb_base=10000,
                    use_parallel_residual=True, layer_norm_eps=1e-5)
    else:
        conf.update(architectures=["LlamaForCausalLM"], hidden_act="silu", rms_norm_eps=1e-5, rope_theta=10000.0,
                    attention_bias=False, mlp_bias=False)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    print(f"{a.shape} {a.dtype}: {total / 2**30:.2f} GiB in {len(groups)} shards -> {a.out}")


if __name__ == "__main__":
    main()

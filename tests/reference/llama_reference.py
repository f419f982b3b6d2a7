#!/usr/bin/python3
"""Independent float64 references of the LLaMA family (llama, olmo, olmo2, qwen2) for the engine's parity tests.

Written from the published definitions as transformers states them (modeling_llama.py, modeling_olmo.py,
modeling_olmo2.py, modeling_qwen2.py and their configuration classes: tensor names, config.json keys and defaults), in numpy float64.
Shares no code with the engine and needs no torch, safetensors or transformers package: the safetensors files are
written byte by byte, BF16 by round-to-nearest-even of the float32 bits.

    /usr/bin/python3 tests/reference/llama_reference.py       # needs Debian's python3-numpy

The four decoders (x: the residual stream, T positions; HD = head_dim; NKV = num_key_value_heads):

  llama   x += o_proj(attn(rope(q_proj(n1(x))), rope(k_proj(n1(x))), v_proj(n1(x))))   n1 = input_layernorm (RMSNorm)
          x += down_proj(silu(gate_proj(n2(x))) * up_proj(n2(x)))                       n2 = post_attention_layernorm
          logits = lm_head(norm(x))                       (lm_head = embed_tokens when tie_word_embeddings)
  olmo    as llama, but every norm is a layer norm without weight or bias (eps 1e-5, fixed in OlmoLayerNorm; no
          tensors in the file) and q, k, v are clamped to [-clip_qkv, clip_qkv] after their projections.
  olmo2   no pre-norm: x += post_attention_layernorm(o_proj(attn(...)));  x += post_feedforward_layernorm(mlp(x));
          q = q_norm(q_proj(x)), k = k_norm(k_proj(x)): RMSNorm over all heads (NH*HD, NKV*HD) before the head split.
  qwen2   as llama, with a bias on q_proj, k_proj and v_proj always (Qwen2Attention: bias=True) and none on o_proj or
          the MLP; Qwen2Config has no attention_bias or mlp_bias. Full attention on every layer: these configs keep
          sliding-window attention off (use_sliding_window false, so sliding_window is None whatever max_window_layers
          says; or, in transformers 5's layout, layer_types all "full_attention" and rope_parameters for rope_theta).

RMSNorm(x) = weight * x / sqrt(mean(x^2) + rms_norm_eps). Rotary: full head_dim, rotate_half layout,
inv_freq = rope_theta ** (-(0, 2, ..., HD-2) / HD), scaled as rope_scaling asks ("linear" or "llama3", see
rope_inv_freq), angle = position * inv_freq, cos/sin repeated over both halves.
Attention scale HD ** -0.5, causal. Grouped-query attention: query head h reads key/value head h // (NH / NKV).
Biases: attention_bias puts a bias on q_proj, k_proj, v_proj and o_proj; mlp_bias on gate_proj, up_proj, down_proj.

Writes under tests/fixtures/parity-llama/ one folder per case: config.json, model.safetensors (or
model.safetensors.index.json + model-0000K-of-0000N.safetensors shards), ids.txt, surprisal.npy, logit_rows.npy,
logits.npy (the layout of tests/fixtures/parity, see README.md). References are computed from the weights as stored
(read back from the written files), so BF16 rounding is the same on both sides.
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "parity-llama")
TORCH_DTYPE = {"F32": "float32", "BF16": "bfloat16"}

# ---------------------------------------------------------------- files


def to_bf16_bits(a):
    """float64 -> bfloat16 bit patterns (uint16), round to nearest even through float32."""
    b = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16
    return b.astype("<u2")


def encode(a, dtype):
    if dtype == "F32":
        return np.ascontiguousarray(a, dtype="<f4").tobytes()
    if dtype == "BF16":
        return to_bf16_bits(a).tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: list of (name, float64 array, dtype). Header: JSON, space-padded to a multiple of 8 bytes."""
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a, dtype in tensors:
        data = encode(a, dtype)
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    return off


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        buf = raw[base + a:base + b]
        if info["dtype"] == "F32":
            x = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif info["dtype"] == "BF16":
            x = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view("<f4").astype(np.float64)
        else:
            raise ValueError(info["dtype"])
        out[name] = x.reshape(info["shape"])
    return out


# ---------------------------------------------------------------- the models in float64


def rms_norm(x, w, eps):
    return w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps))


def plain_layer_norm(x, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate((-x[..., h:], x[..., :h]), axis=-1)


def linear(x, p, name, bias=None):
    """nn.Linear; bias True/False: the definition says whether it has one (the file must agree); None: if stored."""
    if bias is not None:
        assert (name + ".bias" in p) == bias, f"{name}.bias: expected {'a' if bias else 'no'} bias"
    y = x @ p[name + ".weight"].T
    return y + p[name + ".bias"] if name + ".bias" in p else y


def silu(x):
    return x / (1.0 + np.exp(-x))


def head_dim(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


def rope_inv_freq(cfg, HD):
    """rope_theta ** (-(0, 2, ..., HD-2) / HD), scaled as cfg["rope_scaling"] asks (transformers' modeling_rope_utils;
    neither scaling changes the attention: its attention factor is 1):
      linear: inv_freq / factor.
      llama3: wavelength w = 2 pi / inv_freq against O = original_max_position_embeddings:
              w > O / low_freq_factor: inv_freq / factor;  w < O / high_freq_factor: inv_freq;
              otherwise (1 - s) inv_freq / factor + s inv_freq, s = (O / w - low_freq_factor) / (high_freq_factor - low_freq_factor)."""
    inv_freq = cfg["rope_theta"] ** (-np.arange(0, HD, 2, dtype=np.float64) / HD)
    rs = cfg.get("rope_scaling")
    kind = None if rs is None else rs.get("rope_type", rs.get("type"))
    if kind in (None, "default"):
        return inv_freq
    if kind == "linear":
        return inv_freq / rs["factor"]
    assert kind == "llama3", kind
    factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
    original = rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    s = (original / wavelen - low) / (high - low)
    return np.where(wavelen > original / low, inv_freq / factor,
                    np.where(wavelen < original / high, inv_freq, (1 - s) * inv_freq / factor + s * inv_freq))


def rope_bands(cfg, HD):
    """llama3: how many frequencies are divided by factor, interpolated, and left as they are."""
    rs = cfg["rope_scaling"]
    inv_freq = cfg["rope_theta"] ** (-np.arange(0, HD, 2, dtype=np.float64) / HD)
    wavelen = 2 * math.pi / inv_freq
    original = rs["original_max_position_embeddings"]
    low = int((wavelen > original / rs["low_freq_factor"]).sum())
    high = int((wavelen < original / rs["high_freq_factor"]).sum())
    return low, len(wavelen) - low - high, high


def logits(p, cfg, ids):
    """p: float64 tensors by their names in the file (model.embed_tokens.weight, model.layers.N..., lm_head.weight)."""
    kind = cfg["model_type"]
    NH, NKV, L = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["num_hidden_layers"]
    HD = head_dim(cfg)
    T = len(ids)
    eps = cfg.get("rms_norm_eps", 1e-6)
    x = p["model.embed_tokens.weight"][np.array(ids)]
    inv_freq = rope_inv_freq(cfg, HD)
    ang = np.outer(np.arange(T, dtype=np.float64), inv_freq)
    emb = np.concatenate((ang, ang), axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)                                     # (T, HD)
    causal = np.tril(np.ones((T, T), dtype=bool))

    def norm(u, name):
        if kind == "olmo":
            return plain_layer_norm(u)
        return rms_norm(u, p[name + ".weight"], eps)

    for l in range(L):
        pre = f"model.layers.{l}."

        def attention(h):
            qkv_bias = True if kind == "qwen2" else None                     # Qwen2Attention: q/k/v bias=True
            q = linear(h, p, pre + "self_attn.q_proj", qkv_bias)
            k = linear(h, p, pre + "self_attn.k_proj", qkv_bias)
            v = linear(h, p, pre + "self_attn.v_proj", qkv_bias)
            if kind == "olmo" and cfg.get("clip_qkv") is not None:
                c = cfg["clip_qkv"]
                q, k, v = np.clip(q, -c, c), np.clip(k, -c, c), np.clip(v, -c, c)
            if kind == "olmo2":
                q = rms_norm(q, p[pre + "self_attn.q_norm.weight"], eps)
                k = rms_norm(k, p[pre + "self_attn.k_norm.weight"], eps)
            q = q.reshape(T, NH, HD).transpose(1, 0, 2)
            k = k.reshape(T, NKV, HD).transpose(1, 0, 2)
            v = v.reshape(T, NKV, HD).transpose(1, 0, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rep = NH // NKV
            k, v = np.repeat(k, rep, axis=0), np.repeat(v, rep, axis=0)    # head h reads kv head h // rep
            s = q @ k.transpose(0, 2, 1) * HD ** -0.5
            s = np.where(causal, s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = (s / s.sum(-1, keepdims=True)) @ v                          # (NH, T, HD)
            o_bias = False if kind == "qwen2" else None                      # Qwen2Attention: o_proj bias=False
            return linear(a.transpose(1, 0, 2).reshape(T, NH * HD), p, pre + "self_attn.o_proj", o_bias)

        def mlp(h):
            b = False if kind == "qwen2" else None                           # Qwen2MLP: bias=False
            g, u = linear(h, p, pre + "mlp.gate_proj", b), linear(h, p, pre + "mlp.up_proj", b)
            return linear(silu(g) * u, p, pre + "mlp.down_proj", b)

        if kind == "olmo2":
            x = x + norm(attention(x), pre + "post_attention_layernorm")
            x = x + norm(mlp(x), pre + "post_feedforward_layernorm")
        else:
            x = x + attention(norm(x, pre + "input_layernorm"))
            x = x + mlp(norm(x, pre + "post_attention_layernorm"))
    x = norm(x, "model.norm")
    head = p["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else p["lm_head.weight"]
    return x @ head.T


def surprisal_bits(z, ids):
    z = z[:-1]
    m = z.max(-1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))[:, 0]
    return (lse - z[np.arange(len(ids) - 1), np.array(ids[1:])]) / math.log(2.0)


# ---------------------------------------------------------------- random checkpoints


def random_params(cfg, rng):
    kind = cfg["model_type"]
    V, C, L, I = cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    NH, NKV, HD = cfg["num_attention_heads"], cfg["num_key_value_heads"], head_dim(cfg)
    n = lambda *shape, std=0.2: rng.standard_normal(shape) * std
    p = {"model.embed_tokens.weight": n(V, C, std=0.5)}
    for l in range(L):
        h = f"model.layers.{l}."
        if kind in ("llama", "qwen2"):
            p[h + "input_layernorm.weight"] = 1 + n(C, std=0.1)
            p[h + "post_attention_layernorm.weight"] = 1 + n(C, std=0.1)
        if kind == "olmo2":
            p[h + "post_attention_layernorm.weight"] = 1 + n(C, std=0.1)
            p[h + "post_feedforward_layernorm.weight"] = 1 + n(C, std=0.1)
            p[h + "self_attn.q_norm.weight"] = 1 + n(NH * HD, std=0.1)
            p[h + "self_attn.k_norm.weight"] = 1 + n(NKV * HD, std=0.1)
        for name, rows in (("q_proj", NH * HD), ("k_proj", NKV * HD), ("v_proj", NKV * HD)):
            p[h + f"self_attn.{name}.weight"] = n(rows, C, std=0.3)
            if kind == "qwen2":
                p[h + f"self_attn.{name}.bias"] = n(rows, std=0.4)           # large, as Qwen's k biases are
            elif cfg.get("attention_bias"):
                p[h + f"self_attn.{name}.bias"] = n(rows, std=0.1)
        p[h + "self_attn.o_proj.weight"] = n(C, NH * HD, std=0.2)
        if cfg.get("attention_bias"):
            p[h + "self_attn.o_proj.bias"] = n(C, std=0.1)
        p[h + "mlp.gate_proj.weight"] = n(I, C, std=0.25)
        p[h + "mlp.up_proj.weight"] = n(I, C, std=0.25)
        p[h + "mlp.down_proj.weight"] = n(C, I, std=0.2)
        if cfg.get("mlp_bias"):
            p[h + "mlp.gate_proj.bias"] = n(I, std=0.1)
            p[h + "mlp.up_proj.bias"] = n(I, std=0.1)
            p[h + "mlp.down_proj.bias"] = n(C, std=0.1)
    if kind != "olmo":
        p["model.norm.weight"] = 1 + n(C, std=0.1)
    if not cfg["tie_word_embeddings"]:
        p["lm_head.weight"] = n(V, C, std=0.5)
    return p


ARCH = {"llama": "LlamaForCausalLM", "olmo": "OlmoForCausalLM", "olmo2": "Olmo2ForCausalLM", "qwen2": "Qwen2ForCausalLM"}


def config_json(cfg, dtype, layout=4):
    """config.json as transformers writes it for the model type (the keys its configuration class defines); layout 5:
    transformers 5's names (dtype, rope_parameters, layer_types) where the class has them (qwen2 here)."""
    kind = cfg["model_type"]
    c = {"architectures": [ARCH[kind]], "model_type": kind, "hidden_act": "silu", "initializer_range": 0.02,
         "attention_dropout": 0.0, "rope_scaling": None, "use_cache": True, "torch_dtype": TORCH_DTYPE[dtype],
         "attention_bias": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None}
    if kind == "llama":
        c.update({"mlp_bias": False, "pretraining_tp": 1})
    if kind == "olmo":
        c.update({"clip_qkv": None})
    if kind == "qwen2":
        del c["attention_bias"]      # Qwen2Config has none: the q/k/v biases are fixed in Qwen2Attention
        c.update({"use_sliding_window": False, "sliding_window": None, "max_window_layers": 28})
    c.update(cfg)
    if kind == "olmo":
        c.pop("rms_norm_eps", None)  # OlmoConfig has no norm epsilon: OlmoLayerNorm uses 1e-5
    if layout == 5:
        c["dtype"] = c.pop("torch_dtype")
        c["rope_parameters"] = {"rope_type": "default", "rope_theta": c.pop("rope_theta")}
        c["rope_parameters"].update(c.pop("rope_scaling") or {})
        c["layer_types"] = ["full_attention"] * c["num_hidden_layers"]
    return c


CASES = [
    # name, config, stored dtype, shards
    ("llama-gqa-untied-f32", dict(model_type="llama", vocab_size=97, max_position_embeddings=20, hidden_size=32,
                                  intermediate_size=56, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False), "F32", 1),
    ("llama-tied-bias-bf16", dict(model_type="llama", vocab_size=64, max_position_embeddings=16, hidden_size=24,
                                  intermediate_size=40, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                  rms_norm_eps=1e-5, rope_theta=500000.0, attention_bias=True, mlp_bias=True,
                                  tie_word_embeddings=True), "BF16", 1),
    ("llama-odd-heads-headdim-f32", dict(model_type="llama", vocab_size=51, max_position_embeddings=13, hidden_size=18,
                                         intermediate_size=30, num_hidden_layers=2, num_attention_heads=3,
                                         num_key_value_heads=1, head_dim=8, rms_norm_eps=1e-6, rope_theta=10000.0,
                                         tie_word_embeddings=True), "F32", 1),
    ("olmo-clip-f32", dict(model_type="olmo", vocab_size=80, max_position_embeddings=16, hidden_size=32,
                           intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                           rope_theta=10000.0, clip_qkv=2.0, tie_word_embeddings=False), "F32", 1),
    ("olmo2-gqa-f32", dict(model_type="olmo2", vocab_size=90, max_position_embeddings=16, hidden_size=32,
                           intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           rms_norm_eps=1e-6, rope_theta=500000.0, tie_word_embeddings=False), "F32", 1),
    ("olmo2-sharded-bf16", dict(model_type="olmo2", vocab_size=70, max_position_embeddings=12, hidden_size=24,
                                intermediate_size=40, num_hidden_layers=3, num_attention_heads=3, num_key_value_heads=3,
                                rms_norm_eps=1e-6, rope_theta=500000.0, tie_word_embeddings=False), "BF16", 2),
    # qwen2, transformers 4 layout: a sliding_window and max_window_layers below num_hidden_layers, but
    # use_sliding_window false, so every layer has full attention. GQA with an odd head count (9 query, 3 kv heads).
    ("qwen2-gqa-untied-f32", dict(model_type="qwen2", vocab_size=71, max_position_embeddings=17, hidden_size=36,
                                  intermediate_size=48, num_hidden_layers=2, num_attention_heads=9, num_key_value_heads=3,
                                  rms_norm_eps=1e-6, rope_theta=1000000.0, use_sliding_window=False, sliding_window=4096,
                                  max_window_layers=1, tie_word_embeddings=False), "F32", 1),
    # qwen2, transformers 5 layout (dtype, rope_parameters, layer_types all full_attention): tied, multi-query, 3 heads.
    ("qwen2-tied-mqa-bf16", dict(model_type="qwen2", vocab_size=64, max_position_embeddings=14, hidden_size=24,
                                 intermediate_size=40, num_hidden_layers=3, num_attention_heads=3, num_key_value_heads=1,
                                 rms_norm_eps=1e-6, rope_theta=1000000.0, max_window_layers=3,
                                 tie_word_embeddings=True, layout=5), "BF16", 1),
    # Rotary scaling. linear, transformers 5 layout (rope_parameters {rope_type: linear, rope_theta, factor}): every
    # frequency divided by 4.
    ("llama-rope-linear-f32", dict(model_type="llama", vocab_size=67, max_position_embeddings=20, hidden_size=32,
                                   intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                   rms_norm_eps=1e-6, rope_theta=10000.0, rope_scaling={"rope_type": "linear", "factor": 4.0},
                                   tie_word_embeddings=False, layout=5), "F32", 1),
    # llama3, transformers 4 layout (rope_scaling as Llama 3.1's config.json has it, low/high_freq_factor 1 and 4) with
    # a small rope_theta and original_max_position_embeddings so that head size 16's 8 frequencies fall in all three
    # bands (wavelengths 6.3 .. 353 against 64 / 1 and 64 / 4): 3 divided by factor, 3 interpolated, 2 unchanged.
    # max_position_embeddings is the scaled context, original x factor; the sequences are 1..20 tokens long.
    ("llama-rope-llama3-f32", dict(model_type="llama", vocab_size=59, max_position_embeddings=512, hidden_size=32,
                                   intermediate_size=48, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                   rms_norm_eps=1e-6, rope_theta=100.0,
                                   rope_scaling={"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                                 "original_max_position_embeddings": 64, "rope_type": "llama3"},
                                   tie_word_embeddings=True, lengths=20), "F32", 1),
]


def make_case(name, cfg, dtype, shards, seed):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    cfg = dict(cfg)
    layout = cfg.pop("layout", 4)
    lengths = cfg.pop("lengths", cfg["max_position_embeddings"])
    params = random_params(cfg, rng)
    conf = config_json(cfg, dtype, layout)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
        f.write("\n")
    names = list(params)
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), [(k, params[k], dtype) for k in names])
        stored = read_safetensors(os.path.join(folder, "model.safetensors"))
    else:
        # transformers' layout: the embedding and first layers in the first shard, the rest and the head after.
        cut = len(names) // 2
        parts = [names[:cut], names[cut:]]
        weight_map, total, stored = {}, 0, {}
        for i, part in enumerate(parts):
            fname = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
            total += write_safetensors(os.path.join(folder, fname), [(k, params[k], dtype) for k in part])
            weight_map.update({k: fname for k in part})
            stored.update(read_safetensors(os.path.join(folder, fname)))
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
            f.write("\n")
    full = dict(cfg)
    full.setdefault("attention_bias", False)
    V, P = cfg["vocab_size"], lengths
    sequences = [rng.integers(0, V, size=length).tolist() for length in range(1, P + 1)]
    keep = {1, 2, P // 2, P}
    surprisal, rows, logit_rows = [], [], []
    clipped = 0
    for s, ids in enumerate(sequences):
        z = logits(stored, full, ids)
        if len(ids) > 1:
            surprisal.append(surprisal_bits(z, ids))
        if len(ids) in keep:
            for pos in range(len(ids)):
                rows.append((s, pos))
                logit_rows.append(z[pos])
    if cfg["model_type"] == "olmo":
        # The clip must bite: count the clamped q/k/v values of the longest sequence's first layer.
        h = plain_layer_norm(stored["model.embed_tokens.weight"][np.array(sequences[-1])])
        for n in ("q_proj", "k_proj", "v_proj"):
            clipped += int((np.abs(h @ stored[f"model.layers.0.self_attn.{n}.weight"].T) > cfg["clip_qkv"]).sum())
        assert clipped > 0
    with open(os.path.join(folder, "ids.txt"), "w") as f:
        for ids in sequences:
            f.write(" ".join(str(i) for i in ids) + "\n")
    np.save(os.path.join(folder, "surprisal.npy"), np.concatenate(surprisal).astype("<f8"))
    np.save(os.path.join(folder, "logit_rows.npy"), np.array(rows, dtype="<i8").reshape(-1, 2))
    np.save(os.path.join(folder, "logits.npy"), np.stack(logit_rows).astype("<f8"))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    rope = ""
    if cfg.get("rope_scaling"):
        # How far the scaling moves the answer: the same weights with the unscaled rotary.
        plain = dict(full, rope_scaling=None)
        moved = max(float(np.abs(logits(stored, plain, ids) - logits(stored, full, ids)).max()) for ids in sequences)
        rope = f", the unscaled rotary moves the logits by up to {moved:.3g}"
        if cfg["rope_scaling"]["rope_type"] == "llama3":
            rope += ", llama3 frequencies (divided, interpolated, unchanged) %s" % (rope_bands(full, head_dim(full)),)
    print(f"{name}: {dtype}, {shards} file(s), {len(sequences)} sequences (lengths 1..{P}), {size} bytes"
          + (f", {clipped} clipped q/k/v values in layer 0" if clipped else "") + rope, file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    for i, (name, cfg, dtype, shards) in enumerate(CASES):
        make_case(name, cfg, dtype, shards, 20261205 + i)


if __name__ == "__main__":
    main()

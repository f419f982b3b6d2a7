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

The SentencePiece case (tests/fixtures/parity/sp-words-f32) takes words from a text and its tokens from Debian's
python3-sentencepiece with the LLaMA-style fixture tests/fixtures/tokenizers/sp-bpe/tokenizer.model (dummy prefix,
byte fallback), on a random GPT-2-shaped model of that vocabulary written here (seeded; its head scaled so that the
next-token distributions are far from uniform). The boundary tokens are the pieces whose text (decoded by
sentencepiece after a plain piece) begins with Unicode white space (every "▁" piece, the byte pieces of white space),
</s>, and <s> (the BOS before the text), not <unk>; a word is its whitespace-only pieces, then the pieces up to the
next boundary piece. It writes config.json, model.safetensors, text.txt and word_surprisal.npy:
float64 (W, 7) rows of (word, first, last, leading_boundary, token_bits, boundary_bits, surprisal_bits) with first/last
indices into the text's tokens (the BOS is not one of them), the rows `score --text text.txt --words` writes.
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


SP_CASE = os.path.join(os.path.dirname(HERE), "fixtures", "parity", "sp-words-f32")
SP_MODEL = os.path.join(os.path.dirname(HERE), "fixtures", "tokenizers", "sp-bpe", "tokenizer.model")
SP_TEXT = "The quick  brown fox jumps over the lazy dog,\ndoesn't it? Gr\u00fc\u00dfe aus K\u00f6ln: 1984\tE=mc2 \u6771\u4eac!"


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors:
        b = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def sentencepiece_case():
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=SP_MODEL)
    v = sp.get_piece_size()
    ids = sp.encode(SP_TEXT)
    assert sp.decode(ids) == SP_TEXT, "the fixture tokenizer does not round-trip the text"
    # A piece's text is what SentencePiece decodes after a plain piece ("a"), so that "\u2581the" keeps its space.
    # White space is Unicode's White_Space property (str.isspace also takes U+001C..U+001F).
    white = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}
    ref = sp.encode("a")[-1]
    ref_text = sp.decode([ref])
    texts = []
    for i in range(v):
        t = sp.decode([ref, i])
        texts.append(t[len(ref_text):] if t.startswith(ref_text) else sp.decode([i]))
    bound = np.array([len(t) > 0 and t[0] in white for t in texts])
    blank = np.array([len(t) > 0 and all(ch in white for ch in t) for t in texts])
    assert all(bound[i] for i in range(v) if sp.id_to_piece(i).startswith("\u2581")), "a \u2581 piece is not a boundary"
    # The unknown piece's " \u2047 " is a placeholder for text, not white space; <s> and </s> end a word.
    bound[sp.unk_id()] = blank[sp.unk_id()] = False
    bos, eos = sp.bos_id(), sp.eos_id()
    bound[bos] = bound[eos] = True
    blank[bos] = blank[eos] = False

    cfg = {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "layer_norm_epsilon": 1e-05,
           "model_type": "gpt2", "n_embd": 16, "n_head": 2, "n_inner": None, "n_layer": 2, "n_positions": 96,
           "tie_word_embeddings": True, "torch_dtype": "float32", "vocab_size": v}
    c, p_ = cfg["n_embd"], cfg["n_positions"]
    rng = np.random.default_rng(20261205)
    f32 = lambda a: a.astype(np.float32)
    t = [("transformer.wte.weight", f32(rng.normal(0, 0.5, (v, c)))), ("transformer.wpe.weight", f32(rng.normal(0, 0.1, (p_, c))))]
    for layer in range(cfg["n_layer"]):
        pre = f"transformer.h.{layer}."
        t += [(pre + "ln_1.weight", f32(1 + rng.normal(0, 0.1, c))), (pre + "ln_1.bias", f32(rng.normal(0, 0.1, c))),
              (pre + "attn.c_attn.weight", f32(rng.normal(0, 0.3, (c, 3 * c)))), (pre + "attn.c_attn.bias", f32(rng.normal(0, 0.1, 3 * c))),
              (pre + "attn.c_proj.weight", f32(rng.normal(0, 0.3, (c, c)))), (pre + "attn.c_proj.bias", f32(rng.normal(0, 0.1, c))),
              (pre + "ln_2.weight", f32(1 + rng.normal(0, 0.1, c))), (pre + "ln_2.bias", f32(rng.normal(0, 0.1, c))),
              (pre + "mlp.c_fc.weight", f32(rng.normal(0, 0.3, (c, 4 * c)))), (pre + "mlp.c_fc.bias", f32(rng.normal(0, 0.1, 4 * c))),
              (pre + "mlp.c_proj.weight", f32(rng.normal(0, 0.3, (4 * c, c)))), (pre + "mlp.c_proj.bias", f32(rng.normal(0, 0.1, c)))]
    t += [("transformer.ln_f.weight", f32(1 + rng.normal(0, 0.1, c))), ("transformer.ln_f.bias", f32(rng.normal(0, 0.1, c)))]
    os.makedirs(SP_CASE, exist_ok=True)
    write_safetensors(os.path.join(SP_CASE, "model.safetensors"), t)
    with open(os.path.join(SP_CASE, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(SP_CASE, "text.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(SP_TEXT)
    w = read_safetensors(os.path.join(SP_CASE, "model.safetensors"))

    seq = [bos] + ids
    assert len(seq) <= p_, len(seq)
    lp = log2_softmax(logits(w, cfg, seq))
    log_b = np.log2(np.exp2(lp[:, bound]).sum(-1))
    # Words of the tokens: whitespace-only pieces, a first other piece, then the pieces up to the next boundary.
    rows, i, n = [], 0, len(ids)
    while i < n:
        first = i
        while i < n and blank[ids[i]]:
            i += 1
        if i == n:
            break
        i += 1
        while i < n and not bound[ids[i]]:
            i += 1
        last = i - 1
        leading = bool(bound[ids[first]])
        token_bits = sum(-lp[q, seq[q + 1]] for q in range(first, last + 1))
        boundary_bits = -log_b[last + 1] + (log_b[first] if leading else 0.0)
        rows.append([len(rows), first, last, float(leading), token_bits, boundary_bits, token_bits + boundary_bits])
    words = SP_TEXT.split()
    assert len(rows) == len(words), (len(rows), words)
    for r, word in zip(rows, words):
        assert sp.decode(ids[int(r[1]):int(r[2]) + 1]).strip() == word, (r, word)
    out = os.path.join(SP_CASE, "word_surprisal.npy")
    np.save(out, np.array(rows, dtype=np.float64))
    print(f"{len(rows)} words of {len(ids)} SentencePiece tokens -> {out}")


if __name__ == "__main__":
    main()
    sentencepiece_case()

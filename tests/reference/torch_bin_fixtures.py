#!/usr/bin/python3
"""pytorch_model.bin fixtures written by torch.save itself, for the engine's .bin reader.

  /usr/bin/python3 tests/reference/torch_bin_fixtures.py     # needs Debian's python3-torch and python3-numpy

Writes under tests/fixtures/torch-bin/:

  gpt2-f32-shared-head/      tied GPT-2 whose state dict holds lm_head.weight as the very tensor transformer.wte.weight
                             (one shared storage), plus the attn.bias (bool) / attn.masked_bias buffers
  gpt2-f16-strided-untied/   F16, every Conv1D weight saved as a transposed (non-contiguous) view, every bias a slice
                             of one shared storage at its own offset, no key prefix, untied head
  gpt2-bf16-sharded/         BF16 in two shards through pytorch_model.bin.index.json
  malicious/os-system/       a pickle whose REDUCE would call os.system (touches /tmp/lc-pickle-ran-os-system)
  malicious/builtins-eval/   a pickle whose REDUCE would call builtins.eval (creates /tmp/lc-pickle-ran-eval)
  malicious/not-a-state-dict/  a list of tensors
  legacy/                    torch.save(..., _use_new_zipfile_serialization=False): the pre-1.6 format

Each GPT-2 case also gets ids.txt, surprisal.npy, logit_rows.npy and logits.npy from the float64 reference in
gpt2_reference.py, computed from the tensors read back by torch.load (torch's own reader, not the engine's).
"""
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_reference as ref  # noqa: E402

OUT = os.path.join(ref.REPO, "tests", "fixtures", "torch-bin")
TORCH_DTYPE = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


class RunsOsSystem:
    def __reduce__(self):
        return (os.system, ("touch /tmp/lc-pickle-ran-os-system",))


class RunsEval:
    def __reduce__(self):
        import builtins
        return (builtins.eval, ("open('/tmp/lc-pickle-ran-eval', 'w').close()",))


def config_for(cfg, dtype, untied):
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new"}
    config.update(cfg)
    config["tie_word_embeddings"] = not untied
    config["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    return config


def make_case(name, cfg, dtype, untied, seed, build, shards=1):
    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    gen = torch.Generator().manual_seed(seed)
    params = ref.random_params(cfg, untied, gen)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config_for(cfg, dtype, untied), f, indent=2, sort_keys=True)
        f.write("\n")
    sd = build({k: v.to(TORCH_DTYPE[dtype]) for k, v in params.items()})
    if shards == 1:
        torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    else:
        names = list(sd.keys())
        per = (len(names) + shards - 1) // shards
        weight_map = {}
        for i in range(shards):
            part = type(sd)((k, sd[k]) for k in names[i * per:(i + 1) * per])
            fname = f"pytorch_model-{i + 1:05d}-of-{shards:05d}.bin"
            torch.save(part, os.path.join(folder, fname))
            weight_map.update({k: fname for k in part})
        with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f, indent=2)
    # The reference computes from what torch reads back (rounded to the stored dtype).
    stored = {}
    if shards == 1:
        stored.update(torch.load(os.path.join(folder, "pytorch_model.bin")))
    else:
        for fname in sorted(set(weight_map.values())):
            stored.update(torch.load(os.path.join(folder, fname)))
    stored = {k: v.to(torch.float64) for k, v in stored.items() if v.is_floating_point()}
    p = ref.bare_params(stored, cfg)
    P = cfg["n_positions"]
    V = cfg["vocab_size"]
    sequences = [torch.randint(0, V, (length,), generator=gen).tolist() for length in range(1, P + 1)]
    keep = {1, P}
    ref.run_reference(folder, p, cfg, sequences, lambda length: range(length) if length in keep else [])
    print(f"{name}: {dtype}, {shards} file(s), {len(sequences)} sequences")


def shared_head(p):
    sd = {}
    for k, v in p.items():
        sd["transformer." + k] = v
    sd["lm_head.weight"] = sd["transformer.wte.weight"]  # the same tensor: one storage in the file
    L = sum(1 for k in p if k.endswith("ln_1.weight"))
    P = p["wpe.weight"].shape[0]
    for l in range(L):
        sd[f"transformer.h.{l}.attn.bias"] = torch.tril(torch.ones((P, P), dtype=torch.bool)).view(1, 1, P, P)
        sd[f"transformer.h.{l}.attn.masked_bias"] = torch.tensor(-1e4)
    from collections import OrderedDict
    return OrderedDict(sd)


def strided(p):
    from collections import OrderedDict
    sd = OrderedDict()
    biases = [k for k in p if k.endswith(".bias")]
    pool = torch.cat([p[k].reshape(-1) for k in biases])  # one storage; each bias a view at its own offset
    at = 0
    for k, v in p.items():
        if k in biases:
            n = v.numel()
            sd[k] = pool[at:at + n].view(v.shape)
            at += n
        elif v.dim() == 2 and ("mlp" in k or "attn" in k):
            sd[k] = v.t().contiguous().t()  # same values, column-major strides
        else:
            sd[k] = v
    assert any(not t.is_contiguous() for t in sd.values())
    assert any(t.storage_offset() > 0 for t in sd.values())
    return sd


def plain(p):
    from collections import OrderedDict
    return OrderedDict(("transformer." + k if k != "lm_head.weight" else k, v) for k, v in p.items())


def main():
    torch.set_default_dtype(torch.float64)
    os.makedirs(OUT, exist_ok=True)
    make_case("gpt2-f32-shared-head", dict(vocab_size=77, n_positions=14, n_embd=20, n_layer=2, n_head=4, n_inner=None,
                                           layer_norm_epsilon=1e-5), "F32", False, 711, shared_head)
    make_case("gpt2-f16-strided-untied", dict(vocab_size=61, n_positions=11, n_embd=12, n_layer=3, n_head=3, n_inner=28,
                                              layer_norm_epsilon=1e-5), "F16", True, 712, strided)
    make_case("gpt2-bf16-sharded", dict(vocab_size=90, n_positions=9, n_embd=16, n_layer=2, n_head=2, n_inner=None,
                                        layer_norm_epsilon=1e-5), "BF16", False, 713, plain, shards=2)
    mal = os.path.join(OUT, "malicious")
    for name, obj in [("os-system", {"transformer.wte.weight": torch.zeros(2, 2), "x": RunsOsSystem()}),
                      ("builtins-eval", {"x": RunsEval()}),
                      ("not-a-state-dict", [torch.zeros(3)])]:
        os.makedirs(os.path.join(mal, name), exist_ok=True)
        torch.save(obj, os.path.join(mal, name, "pytorch_model.bin"))
    os.makedirs(os.path.join(OUT, "legacy"), exist_ok=True)
    torch.save({"wte.weight": torch.zeros(2, 2)}, os.path.join(OUT, "legacy", "pytorch_model.bin"),
               _use_new_zipfile_serialization=False)
    print("malicious and legacy files written")


if __name__ == "__main__":
    main()

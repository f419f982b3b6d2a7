#!/usr/bin/env python3
"""PyTorch on the CPU at `bench engine --backend cpu`'s GPT-2-small shapes: the yardstick of the CPU engine's goal
(2x PyTorch on the same machine).

A GPT-2 small forward pass (12 layers, 768 wide, 12 heads, V = 50,257, random weights with GPT-2's init scale) written
in plain torch float32 the way a careful user writes one: fused qkv product, causal softmax attention, tanh GELU,
final layer norm, then the head only on the scored rows (K = 10 random positions of each sequence, as the engine
scores the paper's eval set) or on all 127, log-sum-exp for the surprisal. transformers is not needed (Debian's
python3-torch is enough). B = --batch sequences of T = 128 tokens; one warm-up batch, then the median of --repeats;
threads = --threads (default: the machine's cores, as OpenBLAS uses them in the engine).

    /usr/bin/python3 scripts/torch_cpu_baseline.py [--batch 16] [--repeats 3] [--threads 2]

Prints one row per shape in `bench engine`'s layout (tokens/s), to set beside that command's rows from the same
machine and minute.
"""
import argparse
import math
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    V, P, C, L, NH = 50257, 1024, 768, 12, 12
    HS = C // NH

    def normal(*shape, std=0.02):
        return torch.randn(*shape) * std

    wte, wpe = normal(V, C), normal(P, C, std=0.01)
    blocks = []
    for _ in range(L):
        blocks.append({
            "ln1": (torch.ones(C), torch.zeros(C)), "ln2": (torch.ones(C), torch.zeros(C)),
            "qkv": (normal(C, 3 * C), torch.zeros(3 * C)), "proj": (normal(C, C, std=0.02 / math.sqrt(2 * L)), torch.zeros(C)),
            "fc": (normal(C, 4 * C), torch.zeros(4 * C)), "fcproj": (normal(4 * C, C, std=0.02 / math.sqrt(2 * L)), torch.zeros(C)),
        })
    lnf = (torch.ones(C), torch.zeros(C))
    B, T = args.batch, args.seq_len
    mask = torch.full((T, T), float("-inf")).triu(1)

    def hidden(ids):
        x = wte[ids] + wpe[:T]
        for w in blocks:
            h = F.layer_norm(x, (C,), *w["ln1"])
            qkv = torch.addmm(w["qkv"][1], h.view(-1, C), w["qkv"][0]).view(B, T, 3, NH, HS)
            q, k, v = qkv.unbind(2)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)       # (B, NH, T, HS)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + mask, dim=-1)
            a = (att @ v).transpose(1, 2).reshape(-1, C)
            x = x + torch.addmm(w["proj"][1], a, w["proj"][0]).view(B, T, C)
            h = F.layer_norm(x, (C,), *w["ln2"])
            f = F.gelu(torch.addmm(w["fc"][1], h.view(-1, C), w["fc"][0]), approximate="tanh")
            x = x + torch.addmm(w["fcproj"][1], f, w["fcproj"][0]).view(B, T, C)
        return F.layer_norm(x, (C,), *lnf)

    gen = torch.Generator().manual_seed(args.seed + 1)
    ids = torch.randint(0, V, (B, T), generator=gen)
    rows = {}
    for k in (10, T - 1):
        pos = torch.stack([torch.randperm(T - 1, generator=gen)[:k] + 1 for _ in range(B)]).sort(dim=1).values
        rows[k] = pos

    def surprisal(k):
        h = hidden(ids)
        pos = rows[k]
        picked = h.gather(1, (pos - 1)[..., None].expand(-1, -1, C))          # (B, K, C)
        logits = picked @ wte.T                                             # the tied head on K rows only
        tgt = logits.gather(-1, ids.gather(1, pos)[..., None]).squeeze(-1)
        return (torch.logsumexp(logits, dim=-1) - tgt) / math.log(2.0)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, {B} x {T}")
    print(f"{'shape':<36} {'B':>4} {'T':>4} {'K':>4} {'s/batch':>9} {'tokens/s':>10}")
    with torch.inference_mode():
        for k, name in ((10, "gpt2-small, head on 10 positions"), (T - 1, "gpt2-small, head on all 127")):
            surprisal(k)                                                     # warm-up
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                surprisal(k)
                times.append(time.perf_counter() - t0)
            times.sort()
            sec = times[len(times) // 2]
            print(f"{name:<36} {B:>4} {T:>4} {k:>4} {sec:>9.3f} {B * T / sec:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

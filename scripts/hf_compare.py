#!/usr/bin/env python3
"""Hugging Face transformers vs learning-curves on the same GPU, same precision, same weights and token ids.

Makes a random checkpoint with transformers (seeded; or uses --model DIR) of the shape --arch names: gpt2 (GPT-2
small, saved in fp32), tinyllama (TinyLlama-1.1B: llama, 22 layers, 2048 wide, 32 query / 4 kv heads, SwiGLU 5632,
V = 32,000) or olmo2-1b (OLMo-2-1B: olmo2, 16 layers, 2048 wide, 16 heads, SwiGLU 8192, V = 100,352, rope_theta
500,000), the two LLaMA-family shapes saved in bf16 (both sides read the same values; widened for fp32). Writes random
token ids,
scores every position 1..T-1 of every sequence with
  * transformers + PyTorch (AutoModelForCausalLM; bf16 weights for --precision bf16, TF32 matmuls allowed for tf32,
    neither for fp32), at each batch size in --hf-batches, keeping its best, timed with CUDA events;
  * learning-curves score --backend cuda (run twice, on N and on 3N sequences: the difference of the wall times
    is the time for 2N sequences, so process start, model load and kernel compilation cancel out),
checks that both give the same surprisals (max |difference| in bits), and prints tokens/s of each and the ratio.

Then the careful PyTorch user at `bench engine`'s shape (B = --careful-batch sequences of T tokens, the head on
K = --careful-k random positions of each, as the engine scores the paper's eval set): transformers' hidden states with
SDPA attention (the model's base_model, attn_implementation="sdpa"), the head applied only to the rows whose next token
is scored, log-sum-exp in fp32; CUDA events, median of --careful-repeats. With --ours-k10 TOKENS_PER_S (learning-curves'
`bench engine` row for the same shape and precision: "gpt2-small, head on 10 positions", or with --model tinyllama /
olmo2-1b its one row) it prints that ratio too.

  python3 scripts/hf_compare.py --runner "dotnet /path/to/learning-curves.dll" --precision bf16 [--arch tinyllama]
"""
import argparse
import csv
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", required=True, help="command that runs learning-curves, e.g. 'dotnet app/learning-curves.dll'")
    ap.add_argument("--precision", choices=["fp32", "tf32", "bf16"], default="bf16")
    ap.add_argument("--arch", choices=["gpt2", "tinyllama", "olmo2-1b"], default="gpt2",
                    help="shape of the random checkpoint made when --model is not given")
    ap.add_argument("--model", help="a checkpoint folder transformers and learning-curves both read (default: a random one of --arch, seeded)")
    ap.add_argument("--seqs", type=int, default=256, help="N: sequences in the first run (the second has 3N)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--hf-batches", default="8,16,32,64,128,256")
    ap.add_argument("--batch", type=int, default=0, help="learning-curves --batch (default: its own choice)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--careful-batch", type=int, default=128, help="B of the careful user (bench engine's default on CUDA)")
    ap.add_argument("--careful-k", type=int, default=10, help="scored positions per sequence of the careful user")
    ap.add_argument("--careful-repeats", type=int, default=20)
    ap.add_argument("--ours-k10", type=float, default=0.0,
                    help="learning-curves' tokens/s at the careful user's shape (bench engine --backend cuda, same precision)")
    ap.add_argument("--out", help="folder for the ids, CSVs and the summary (default: a temporary folder)")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    if not torch.cuda.is_available():
        print("hf_compare: PyTorch sees no CUDA device", file=sys.stderr)
        return 2
    work = args.out or tempfile.mkdtemp(prefix="lc-hf-compare-")
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(args.seed)

    model_dir = args.model
    if model_dir is None:
        model_dir = os.path.join(work, f"{args.arch}-random")
        make_random_model(args.arch, model_dir)
    hf = to_precision(AutoModelForCausalLM.from_pretrained(model_dir), args.precision).cuda().eval()
    vocab = hf.config.vocab_size

    torch.backends.cuda.matmul.allow_tf32 = args.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = args.precision == "tf32"

    n, t = args.seqs, args.seq_len
    gen = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(0, vocab, (3 * n, t), generator=gen)
    small = os.path.join(work, "ids-n.txt")
    large = os.path.join(work, "ids-3n.txt")
    for path, rows in ((small, ids[:n]), (large, ids)):
        with open(path, "w") as f:
            for r in rows.tolist():
                f.write(" ".join(map(str, r)) + "\n")

    # --- Hugging Face: surprisal of every position, best batch size.
    ln2 = math.log(2.0)

    def hf_surprisal(batch_ids):
        logits = hf(batch_ids).logits[:, :-1, :].float()
        lse = torch.logsumexp(logits, dim=-1)
        tgt = logits.gather(-1, batch_ids[:, 1:, None]).squeeze(-1)
        return (lse - tgt) / ln2

    dev_ids = ids.cuda()
    best = None
    hf_out = None
    with torch.inference_mode():
        for bs in [int(x) for x in args.hf_batches.split(",")]:
            try:
                for i in range(0, min(3 * n, 2 * bs), bs):  # warm-up
                    hf_surprisal(dev_ids[i:i + bs])
                torch.cuda.synchronize()
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                outs = []
                start.record()
                for i in range(0, 3 * n, bs):
                    outs.append(hf_surprisal(dev_ids[i:i + bs]))
                end.record()
                torch.cuda.synchronize()
                sec = start.elapsed_time(end) / 1000.0
            except torch.cuda.OutOfMemoryError:
                print(f"hf batch {bs}: out of memory")
                torch.cuda.empty_cache()
                continue
            tps = 3 * n * t / sec
            print(f"hf batch {bs:4d}: {tps:12.0f} tokens/s")
            if best is None or tps > best[1]:
                best = (bs, tps)
                hf_out = torch.cat(outs).cpu()
    if best is None:
        print("hf_compare: no Hugging Face batch size ran", file=sys.stderr)
        return 1

    # --- learning-curves: two runs; the difference of wall times covers 2N sequences.
    runner = shlex.split(args.runner)

    def ours(ids_path, out_csv):
        cmd = runner + ["score", "--model", model_dir, "--ids", ids_path, "--out", out_csv, "--backend", "cuda",
                        "--precision", args.precision]
        if args.batch:
            cmd += ["--batch", str(args.batch)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stdout + r.stderr, file=sys.stderr)
            raise SystemExit(f"hf_compare: learning-curves score failed (exit {r.returncode})")
        return wall

    csv_n, csv_3n = os.path.join(work, "ours-n.csv"), os.path.join(work, "ours-3n.csv")
    ours(small, csv_n)  # warm-up: kernel compilation cached, files in the page cache
    wall_n = ours(small, csv_n)
    wall_3n = ours(large, csv_3n)
    ours_tps = 2 * n * t / max(wall_3n - wall_n, 1e-9)

    got = torch.zeros(3 * n, t - 1, dtype=torch.float64)
    with open(csv_3n) as f:
        for row in csv.DictReader(f):
            got[int(row["sequence"]), int(row["position"]) - 1] = float(row["surprisal_bits"])
    diff = (got - hf_out.double()).abs()

    lines = [
        f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, precision {args.precision}, model {args.model or args.arch}",
        f"shape: {3 * n} sequences x {t} tokens, vocab {vocab}, surprisal at all {t - 1} positions",
        f"hugging face best: batch {best[0]}, {best[1]:.0f} tokens/s",
        f"learning-curves:   {ours_tps:.0f} tokens/s (wall {wall_n:.2f} s for N, {wall_3n:.2f} s for 3N)",
        f"same surprisals:   max |ours - hf| {diff.max().item():.3e} bits, mean {diff.mean().item():.3e}",
        f"ratio learning-curves / full-logits hugging face: {ours_tps / best[1]:.2f}",
    ]
    lines += careful_user(args, model_dir, dev_ids, hf_out, ln2)
    with open(os.path.join(work, "hf-compare.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def make_random_model(arch, model_dir):
    """A seeded random checkpoint of the named shape (initialised on the GPU: a 1B model initialises in seconds there)."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Olmo2Config

    if arch == "gpt2":
        cfg, dtype = GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12), torch.float32
    elif arch == "tinyllama":
        cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                          num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048, rms_norm_eps=1e-5,
                          tie_word_embeddings=False)
        set_rope_theta(cfg, 10000.0)
        dtype = torch.bfloat16
    else:
        cfg = Olmo2Config(vocab_size=100352, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                          num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=4096,
                          rms_norm_eps=1e-6, tie_word_embeddings=False)
        set_rope_theta(cfg, 500000.0)
        dtype = torch.bfloat16
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(cfg)
    model.to(dtype).save_pretrained(model_dir, safe_serialization=True)
    del model
    torch.cuda.empty_cache()


def set_rope_theta(cfg, theta):
    """rope_theta where this transformers reads it: transformers 5 from rope_parameters, 4 from the attribute."""
    params = getattr(cfg, "rope_parameters", None)
    if isinstance(params, dict):
        params["rope_theta"] = theta
    else:
        cfg.rope_theta = theta


def to_precision(model, precision):
    """bf16 weights for bf16; fp32 (widened where stored in bf16) for fp32 and tf32."""
    import torch

    return model.to(torch.bfloat16 if precision == "bf16" else torch.float32)


def careful_user(args, model_dir, dev_ids, hf_out, ln2):
    """The careful PyTorch user at bench engine's shape; returns the summary lines."""
    import torch
    from transformers import AutoModelForCausalLM

    m = to_precision(AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa"), args.precision).cuda().eval()
    base, head = m.base_model, m.get_output_embeddings()
    b, k = args.careful_batch, args.careful_k
    t = dev_ids.shape[1]
    gen = torch.Generator().manual_seed(args.seed + 1)
    reps = (b + dev_ids.shape[0] - 1) // dev_ids.shape[0]
    ids = dev_ids.repeat(reps, 1)[:b].contiguous()
    # K distinct positions in 1..T-1 per sequence, sorted (the engine's bench draws them the same way).
    pos = torch.stack([torch.randperm(t - 1, generator=gen)[:k] + 1 for _ in range(b)]).sort(dim=1).values.cuda()
    c = m.config.hidden_size

    def careful(batch_ids):
        h = base(batch_ids).last_hidden_state                               # (B, T, C), final norm applied
        rows = h.gather(1, (pos - 1)[..., None].expand(-1, -1, c))          # hidden state before each scored token
        logits = head(rows).float()                                        # (B, K, V): the head on K rows only
        tgt = logits.gather(-1, batch_ids.gather(1, pos)[..., None]).squeeze(-1)
        return (torch.logsumexp(logits, dim=-1) - tgt) / ln2

    with torch.inference_mode():
        for _ in range(3):
            out = careful(ids)
        torch.cuda.synchronize()
        times = []
        for _ in range(args.careful_repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            careful(ids)
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
    times.sort()
    sec = times[len(times) // 2]
    tps = b * t / sec
    # The same surprisals as the full-logits run where the sequences coincide (a check that the careful path is right).
    n = min(b, hf_out.shape[0])
    full = hf_out[:n].double().gather(1, (pos[:n] - 1).cpu())
    diff = (out[:n].double().cpu() - full).abs().max().item()
    lines = [f"careful hugging face (hidden states, head on {k} of {t - 1}, SDPA), B={b}: {tps:.0f} tokens/s, "
             f"{sec * 1000:.2f} ms per batch; max |careful - full| {diff:.2e} bits"]
    if args.ours_k10 > 0:
        lines.append(f"ratio learning-curves / careful hugging face (bench engine, head on {k}): {args.ours_k10 / tps:.2f}")
    return lines


if __name__ == "__main__":
    sys.exit(main())

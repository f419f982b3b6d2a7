// kernels.cu: every CUDA kernel of the engine, extern "C", compiled at run time by NVRTC for the device's architecture.
//
// Shapes are row-major. B = batch, T = sequence length, C = model width, NH = heads, HS = C / NH (head size),
// V = vocabulary, M = rows picked for the output head, I = MLP inner width. All float buffers are fp32 unless the
// name says bf16/f16 (those are raw 16-bit patterns held in unsigned short). Integer sizes are int unless a buffer can
// exceed 2^31 elements (then long long). "grid-stride" kernels accept any grid; the suggested grid is given.
//
// The same file is compiled three ways, and must stay valid for all of them (no host headers, nothing from the CUDA
// toolkit's include folder):
//   * NVRTC on the GPU (the engine);
//   * clang-19 to PTX for sm_80 / sm_90 with -nocudainc (the CI check), with tests/kernel-emu/cuda_min.h force-included;
//   * g++ on the CPU with LC_EMULATION defined and tests/kernel-emu/cuda_emu.h force-included (the kernel emulator:
//     each block's threads run as cooperative fibers).
// Code the emulator cannot run as written: inline PTX. The cp.async (asynchronous global->shared copy, sm_80+) tile
// loads of lc_attention_tile take a plain load loop with the same result under LC_EMULATION (and below sm_80). The
// tensor-core instructions (mma.sync m16n8k16 bf16 and m16n8k8 tf32, ldmatrix x4 / x4.trans, cvt to bf16x2 / tf32,
// 16-byte cp.async) are each wrapped in one small __device__ function (lc_mma_bf16_16816, lc_mma_tf32_1688,
// lc_ldmatrix_x4, lc_ldmatrix_x4_trans, lc_pack_bf16x2, lc_cvt_tf32, lc_cp_async16): inline PTX on sm_80+, the
// emulator's exact warp-collective version (cuda_emu.h, PTX ISA fragment layouts) under LC_EMULATION, a trap below
// sm_80 (the backend launches no tensor-core kernel there). The large matrix products go to cuBLAS; sgemm_tiled is the
// plain fp32 reference/emulation path.
//
// ONE DECLARATION: each kernel's `extern "C" __global__` prototype below is the only declaration it needs. The CUDA
// backend checks every launch against it (KernelDeclarations parses this file), and the kernel emulator and the software
// GPU generate their launchers from it (tests/kernel-emu/kernel-list.sh, kernel_table.h). A new kernel is its code here,
// its contract in this list, and its call in CudaBackend. Parameters are pointers, int, long long or float.
//
// KERNELS (name: parameters with shapes; launch = grid / block / dynamic shared memory bytes)
//
//  embed_forward(out, tokens, wte, wpe, B, T, C)
//      out (B,T,C) = wte[tokens[b,t], :] + wpe[t, :]; tokens (B,T) int (already range-checked); wte (V,C); wpe (maxT,C).
//      launch: grid ceil(B*T*C/256) (grid-stride), block 256, shared 0.
//  layernorm_forward(out, inp, weight, bias, rows, C, eps)
//      out (rows,C) = (x - mean) / sqrt(var + eps) * weight + bias; population variance, two-pass, fp32 statistics.
//      One warp per row. launch: grid ceil(rows / (block/32)), block 256 (any multiple of 32), shared 0.
//  layernorm_forward_bf16(out, inp, weight, bias, rows, C, eps)
//      As layernorm_forward, out (rows,C) bf16: the fp32 result rounded once to nearest even (bf16 mode: the layer
//      norm writes the next product's input). Same launch.
//  fused_residual_layernorm(residual, norm, y, bias, weight, lnBias, rows, C, eps)
//      The fused residual + layer norm (llm.c's fused_residual_forward, with the bias of the product that made y):
//      residual (rows,C) += y (rows,C) + bias (C), stored as x + (y + bias) per element (as residual_bias_add); then
//      norm (rows,C) = layernorm(residual) * weight + lnBias exactly as layernorm_forward computes it from the new
//      residual. One warp per row. launch: grid ceil(rows / (block/32)), block 256 (multiple of 32), shared 0.
//  fused_residual_layernorm_bf16(residual, norm, y, bias, weight, lnBias, rows, C, eps)
//      As fused_residual_layernorm with norm (rows,C) bf16, rounded once. Same launch.
//  epilogue_bias_bf16(out, inp, bias, rows, cols)
//      The Bias epilogue of a product with a bf16 output, where the GEMM cannot apply it (the cublasGemmEx fallback):
//      out (rows,cols) bf16 = round(inp (rows,cols) + bias (cols)), inp the product in fp32 scratch, bias bf16 (a bf16
//      output's bias is bf16, as cuBLASLt takes it).
//      launch: grid ceil(rows*cols/256) (grid-stride), block 256, shared 0.
//  epilogue_bias_gelu_bf16(out, inp, bias, rows, cols)
//      The BiasGeluTanh epilogue likewise: out (rows,cols) bf16 = round(gelu_tanh(inp + bias (cols))). Same launch.
//  bias_add(x, bias, rows, cols)
//      x (rows,cols) += bias (cols), in place (GEMM without a bias epilogue). launch: grid ceil(rows*cols/256)
//      (grid-stride), block 256, shared 0.
//  bias_gelu_forward(x, bias, rows, cols)
//      x (rows,cols) = gelu(x + bias (cols)), in place; bias may be null (then plain gelu).
//      launch: grid ceil(rows*cols/256) (grid-stride), block 256, shared 0.
//  gelu_erf_forward(x, n)
//      x (n) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU (GPT-NeoX), in place, as max(x,0) - |x| erfc(|x|/sqrt 2)/2.
//      launch: grid ceil(n/256) (grid-stride), block 256, shared 0.
//  gelu_erf_forward_bf16(x, n)
//      As gelu_erf_forward on x (n) bf16, in place: widened, computed in fp32, rounded once. Same launch.
//  rotary_forward(qkv, cosT, sinT, B, T, NH, NKV, HS, R)
//      Rotary position embedding (GPT-NeoX / LLaMA rotate_half layout) in place on the NH q heads and NKV k heads of qkv
//      (B,T,(NH+2*NKV)*HS) (NKV = NH without grouped-query attention): in each head, dimensions i and i + R/2
//      (i < R/2) turn by the angle whose cos and sin are cosT, sinT (T, R/2) [t, i]: x1' = x1 c - x2 s,
//      x2' = x2 c + x1 s, each product and sum rounded on its own (no FMA); dimensions R..HS-1 are left alone.
//      R even, 0 < R <= HS. launch: grid ceil(B*T*(NH+NKV)*(R/2)/256) (grid-stride), block 256, shared 0.
//  rotary_forward_bf16(qkv, cosT, sinT, B, T, NH, NKV, HS, R)
//      As rotary_forward on bf16 qkv: each pair widened, turned in fp32, rounded once. Same launch.
//  rmsnorm_forward(out, inp, weight, rows, C, eps)
//      RMSNorm (LLaMA, OLMo-2): out (rows,C) = x / sqrt(mean(x^2) + eps) * weight (C), fp32 statistics. One warp per
//      row. launch: grid ceil(rows / (block/32)), block 256 (multiple of 32), shared 0.
//  rmsnorm_forward_bf16(out, inp, weight, rows, C, eps)
//      As rmsnorm_forward with out (rows,C) bf16, rounded once. Same launch.
//  fused_residual_rmsnorm(residual, norm, y, bias, weight, rows, C, eps)
//      residual (rows,C) += y + bias (C) as x + (y + bias) (bias may be null: x + (y + 0)); then norm (rows,C) =
//      rmsnorm(residual) * weight as rmsnorm_forward. One warp per row; launch as rmsnorm_forward.
//  fused_residual_rmsnorm_bf16(residual, norm, y, bias, weight, rows, C, eps)
//      As fused_residual_rmsnorm with norm (rows,C) bf16. Same launch.
//  swiglu_forward(out, gate, up, rows, inner, ld)
//      SwiGLU: out (rows,inner) = silu(gate) * up, silu(g) = (1 / (1 + exp(-g))) g; gate and up rows at row stride ld
//      (two products: ld = inner; a fused gate|up product: up = gate + inner, ld = 2*inner). launch: grid
//      ceil(rows*inner/256) (grid-stride), block 256, shared 0.
//  swiglu_forward_bf16(out, gate, up, rows, inner, ld)
//      As swiglu_forward on bf16 gate, up and out (fp32 inside, rounded once). Same launch.
//  qk_norm(qkv, qWeight, kWeight, rows, NH, NKV, HS, eps)
//      OLMo-2's QK-norm in place on qkv (rows,(NH+2*NKV)*HS): each row's q (NH*HS values, all heads) RMSNormed with
//      qWeight (NH*HS), its k (NKV*HS) with kWeight (NKV*HS). One warp per (row, q or k).
//      launch: grid ceil(2*rows / (block/32)), block 256 (multiple of 32), shared 0.
//  qk_norm_bf16(qkv, qWeight, kWeight, rows, NH, NKV, HS, eps)
//      As qk_norm on bf16 qkv (fp32 statistics, rounded once). Same launch.
//  clamp_forward(x, n, limit), clamp_forward_bf16(x, n, limit)
//      x (n) = clamp(x, -limit, limit) in place (OLMo's clip_qkv), NaN kept; fp32, resp. bf16 (rounded once).
//      launch: grid ceil(n/256) (grid-stride), block 256, shared 0.
//  residual_add(x, y, n)
//      x (n) += y (n). launch: grid ceil(n/256) (grid-stride), block 256, shared 0.
//  residual_bias_add(x, y, bias, rows, cols)
//      x (rows,cols) += y (rows,cols) + bias (cols): the residual add with the bias of the GEMM that produced y folded
//      in (one pass instead of bias_add + residual_add). launch: grid ceil(rows*cols/256) (grid-stride), block 256.
//  gather_rows(out, inp, rows, count, C)
//      out (count,C) = inp[rows[i], :]; rows (count) int. launch: grid ceil(count*C/256) (grid-stride), block 256.
//  gather_rows_bf16(out, inp, rows, count, C)
//      As gather_rows with out, inp bf16 (an exact copy). Same launch.
//  qkv_split_heads(q, k, v, qkv, B, T, NH, HS)
//      qkv (B,T,3C) holding q|k|v with (NH,HS) per token -> q, k, v each (B,NH,T,HS), for cuBLAS strided-batched
//      products. launch: grid ceil(B*T*C/256) (grid-stride), block 256, shared 0.
//  merge_heads(out, y, B, T, NH, HS)
//      y (B,NH,T,HS) -> out (B,T,C). launch: grid ceil(B*T*C/256) (grid-stride), block 256, shared 0.
//  softmax_causal(att, BH, Tq, Tk, past, scale)
//      att (BH,Tq,Tk) raw scores q.k in place -> probabilities of softmax(scale * score) over keys j <= past + i
//      (query i sits at absolute position past + i); masked entries are written as 0. Full attention: Tq = Tk = T,
//      past = 0. One warp per row. launch: grid ceil(BH*Tq / (block/32)), block 256 (multiple of 32), shared 0.
//  GROUPED-QUERY ATTENTION: every attention kernel below takes NKV, the k/v head count (NKV divides NH; NKV = NH
//  without grouped-query attention). qkv rows hold q (NH heads) | k (NKV heads) | v (NKV heads), row stride
//  (NH+2*NKV)*HS ("3C" below when NKV = NH), C = NH*HS; q head h reads k/v head h / (NH/NKV); caches are (B,maxT,NKV*HS).
//  attention_fused(out, qkv, B, T, NH, NKV, HS, scale)
//      Causal attention straight from qkv (B,T,3C) to out (B,T,C): flash-style, keys/values streamed through
//      shared memory in tiles of 32, online softmax with a running max and sum per query, one warp per query row.
//      Requires HS <= 128 (use the cuBLAS + softmax_causal path otherwise).
//      launch: grid (ceil(T / (block/32)), NH, B), block 256 (multiple of 32),
//              shared = (32*(HS+1) + 32*HS + (block/32)*HS) * 4 bytes (HS=64, block 256: 18,560 bytes), plus 4 KiB of
//              static shared memory the kernel declares itself.
//  attention_bf16_hs64(out, qkv, B, T, NH, NKV, HS, scale, cosT, sinT, R),
//  attention_bf16_hs128(out, qkv, B, T, NH, NKV, HS, scale, cosT, sinT, R)
//      Causal attention on tensor cores, bf16: qkv (B,T,3C) bf16 (row stride 3C, no permute) -> out (B,T,C) bf16.
//      HS = 64, resp. 128 (one kernel per head size; other head sizes: attention_fused_bf16), any T >= 1. One block per 64 queries of one (b, h),
//      4 warps of 16 query rows; K/V tiles of 64 keys through shared memory (rows padded to HS+8 bf16), S = Q K^T and
//      O += P V on mma.sync m16n8k16 with fp32 accumulation, ldmatrix loads (x4 for Q and K, x4.trans for V), fp32
//      online softmax (running max and sum, exp2), P rounded to bf16 for P V and summed as rounded. Only key tiles at
//      or below the diagonal are visited; the causal mask is applied on the diagonal tile only. Needs sm_80+.
//      FUSED ROTARY (this kernel, attention_tf32_*, attention_fp32_*): R = 0: none (cosT, sinT unused, may be null).
//      R > 0 (even, <= HS): q and k are those rotary_forward(_bf16)(qkv, cosT, sinT, B, T, NH, NKV, HS, R) would leave
//      (cosT, sinT (T, R/2) of positions 0..T-1): the Q tile and each K tile turned in shared memory as loaded, pairs
//      (i, i + R/2) in fp32, products and sums rounded one by one, stored back in qkv's type (bf16: rounded once). The
//      output is bit for bit that of rotary_forward(_bf16) then this kernel with R = 0; qkv is only read.
//      launch: grid (ceil(T/64), NH, B) (blockIdx.x runs from the last query tile down), block 128 (exactly),
//              shared = 2 * 64 * (HS+8) * 2 bytes (HS=64: 18,432; HS=128: 34,816), no static shared memory.
//  attention_tf32_hs64(out, qkv, B, T, NH, NKV, HS, scale, cosT, sinT, R),
//  attention_tf32_hs128(out, qkv, B, T, NH, NKV, HS, scale, cosT, sinT, R)
//      Causal attention on tensor cores, tf32, fp32 storage: qkv (B,T,3C) -> out (B,T,C), both fp32. HS = 64, resp.
//      128, any T >= 1, sm_80+. Structure of attention_bf16 on mma.sync m16n8k8 tf32 (operands rounded by
//      cvt.rna.tf32): 4 warps of 16 query rows, Q fragments loaded from global memory once, K/V tiles of 32 keys in
//      shared memory (K rows padded to HS+4 floats, V rows to HS+8: conflict-free fragment reads), P moved from the
//      accumulator layout to the A layout by warp shuffles. Key tiles at or below the diagonal only, masked on the two
//      tiles that meet the block's queries. Fused rotary as attention_bf16 (Q elements turned as read from global
//      memory, each K tile in shared memory).
//      launch: grid (ceil(T/64), NH, B), block 128 (exactly), shared = 32*(HS+4)*4 + 32*(HS+8)*4 bytes
//              (HS=64: 17,920; HS=128: 34,304).
//  attention_fp32_hs64(out, qkv, B, T, NH, NKV, HS, scale, cosT, sinT, R),
//  attention_fp32_hs128(out, qkv, B, T, NH, NKV, HS, scale, cosT, sinT, R)
//      Causal attention in exact fp32 arithmetic (the parity mode), tiled SIMT: qkv (B,T,3C) -> out (B,T,C). HS <= 64,
//      resp. 64 < HS <= 128; any T >= 1. One block of 128 threads per 32 queries of one (b, h); each thread a 4x2
//      register tile of scores and a 4 x ceil(HS/16) tile of outputs; Q tile in shared memory, K then V of each
//      32-key tile in one shared buffer (rows padded to HS+1), P through a 32x33 shared tile; online softmax
//      (dot * scale, expf) over the key tiles at or below the diagonal, the mask on the diagonal tile only. Fused rotary
//      as attention_bf16 (the Q tile and each K tile in shared memory).
//      launch: grid (ceil(T/32), NH, B), block 128 (exactly), shared = (2*32*(HS+1) + 32*33) * 4 bytes
//              (HS=64: 20,864; HS=128: 37,248).
//  attention_fused_bf16(out, qkv, B, T, NH, NKV, HS, scale)
//      attention_fused on bf16 qkv (B,T,3C) and bf16 out (B,T,C), fp32 arithmetic inside (widened on load, out rounded
//      to nearest even). Same limits and launch as attention_fused.
//  kv_cache_write(kCache, vCache, qkv, B, Tnew, past, maxT, C, KVC)
//      kCache, vCache (B,maxT,KVC)[b, past+i, :] = k, v of qkv (B,Tnew,C+2*KVC) row i (KVC = NKV*HS, C = NH*HS; KVC = C
//      without grouped-query attention). Run before attention_cached.
//      launch: grid ceil(B*Tnew*KVC/256) (grid-stride), block 256, shared 0.
//  attention_cached(out, qkv, kCache, vCache, B, Tnew, past, maxT, NH, NKV, HS, scale)
//      Decoding attention: query i of qkv (B,Tnew,3C) (absolute position past+i) attends to cached keys/values
//      0..past+i of kCache, vCache (B,maxT,C). out (B,Tnew,C). Same method and limits as attention_fused.
//      launch: grid (ceil(Tnew / (block/32)), NH, B), block 256, shared as attention_fused.
//  kv_cache_write_bf16(kCache, vCache, qkv, B, Tnew, past, maxT, C, KVC)
//      kv_cache_write with bf16 caches and bf16 qkv (a copy of the bits). Same launch.
//  attention_cached_bf16(out, qkv, kCache, vCache, B, Tnew, past, maxT, NH, NKV, HS, scale)
//      attention_cached on bf16 qkv (B,Tnew,3C), bf16 caches (B,maxT,C) and bf16 out (B,Tnew,C); fp32 arithmetic
//      inside. Same limits and launch as attention_cached.
//  attention_cached_split(partial, qkv, kCache, vCache, B, past, maxT, NH, NKV, HS, scale)
//      Split-K decoding of one new query per sequence: qkv (B,1,(NH+2*NKV)*HS) holds q | k | v (its k/v already in the
//      caches), kCache, vCache (B,maxT,NKV*HS); q head h reads k/v head h / (NH/NKV) (NKV divides NH; NKV = NH without
//      grouped-query attention). Block (c, h, b) attends q to keys c*256 .. min(c*256+255, past) and writes partial
//      (B,NH,chunks,HS+2) [b,h,c,:] = (max of the scaled scores, sum of exp(score - max), sum of exp(score - max) v (HS)),
//      fp32. HS <= 128. launch: grid (chunks = ceil((past+1)/256), NH, B), block 128 (exactly), shared 0 (static
//      2,080 bytes).
//  attention_cached_split_bf16(partial, qkv, kCache, vCache, B, past, maxT, NH, NKV, HS, scale)
//      As attention_cached_split on bf16 qkv and caches; partial fp32. Same launch.
//  attention_cached_combine(out, partial, B, NH, HS, chunks)
//      out (B,1,NH*HS) [b, h*HS + d] = sum_c exp(m_c - M) acc_c[d] / sum_c exp(m_c - M) l_c over the partials of
//      attention_cached_split (M the largest m_c). One warp per (b, h). launch: grid ceil(B*NH / (block/32)), block 256
//      (multiple of 32), shared 0.
//  attention_cached_combine_bf16(out, partial, B, NH, HS, chunks)
//      As attention_cached_combine with out bf16, rounded once. Same launch.
//  surprisal_chunk(state, logits, targets, M, cols, ld, chunkStart)
//      One chunk of the fused output head. logits (M, ld) holds columns chunkStart..chunkStart+cols-1 of
//      z = hidden @ head^T (written by cuBLAS, cols <= ld; with a head padded to a multiple of 128 rows the product
//      fills ld columns and cols counts only the real vocabulary in the chunk, so padding never enters the sums); state (3, M) = running max | running sum of exp(z - max) |
//      target logit z[targets[m]], merged online chunk by chunk (chunkStart == 0 initializes it; the target logit
//      stays NaN unless some chunk holds the target). targets (M) int. Never forms probabilities.
//      One block per row. launch: grid M, block 256 (multiple of 32, <= 1024), shared 0.
//  surprisal_finish(out, state, M)
//      out (M) = (max + log(sum) - z_target) / ln 2, surprisal in bits. launch: grid ceil(M/256), block 256.
//  convert_f32_to_bf16(out, inp, n)
//      out (n) bf16 bits = inp (n) rounded to nearest even (NaN stays NaN). launch: grid ceil(n/256) (grid-stride).
//  convert_bf16_to_f32(out, inp, n)
//      out (n) = inp (n) bf16 bits, exact. launch: grid ceil(n/256) (grid-stride), block 256.
//  sgemm_tiled(c, a, b, bias, M, N, K, lda, ldb, ldc, transB, strideA, strideB, strideC, alpha)
//      Plain fp32 tiled GEMM, batched by blockIdx.z: c[z] (M,N; ldc) = alpha * a[z] (M,K; lda) @ op(b[z]) + bias (N),
//      op(b) = b (K,N; ldb) when transB == 0 (Conv1D layout), b^T with b (N,K; ldb) when transB != 0 (the head,
//      q @ k^T); bias may be null. Batch z offsets: a + z*strideA, b + z*strideB, c + z*strideC.
//      Used under emulation and as the correctness reference for cuBLAS. 64x64 tile, 16-deep k slices, 4x4 outputs
//      per thread. launch: grid (ceil(N/64), ceil(M/64), batch), block 256 (exactly), shared 0 (static 8.5 KB).
//
// CHANGELOG
//   2026-11-25  first full set of kernels with their final signatures (gelu_forward kept from the skeleton).
//   2026-11-25  attention_fused/attention_cached: probabilities through 4 KiB of static shared memory instead of a
//               shuffle per key (no change to names, parameters, grid, block or the dynamic shared size).
//   2026-11-25  new kernel residual_bias_add (nothing else changed).
//   2026-12-03  new kernels gelu_erf_forward and rotary_forward, for GPT-NeoX / Pythia; gelu_forward removed (never
//               launched: bias_gelu_forward with a null bias is the plain GELU) and convert_f16_to_f32 (never
//               launched: f16 checkpoints are widened on the host while they load).
//   2026-12-04  no kernel changed: the prototypes became the one declaration (see ONE DECLARATION above).
//   2026-12-04  bf16 data path (issue 21): new kernels layernorm_forward_bf16, fused_residual_layernorm(_bf16),
//               epilogue_bias_bf16, epilogue_bias_gelu_bf16, gelu_erf_forward_bf16, rotary_forward_bf16,
//               gather_rows_bf16; surprisal_chunk's cols is the real vocabulary of the chunk when ld is padded.
//               epilogue_bias_bf16 / epilogue_bias_gelu_bf16 take a bf16 bias (a bf16 output's bias is bf16).
//   2026-12-04  new kernels attention_bf16_hs64 / _hs128 (tensor cores: mma.sync m16n8k16 + ldmatrix), attention_fused_bf16,
//               kv_cache_write_bf16, attention_cached_bf16 (bf16 activations), attention_tf32_hs64 / _hs128 (tf32
//               tensor cores), attention_fp32_hs64 / _hs128 (tiled fp32 SIMT). attention_fused / attention_cached
//               unchanged (their body is now a template over fp32 / bf16 element types).
//   2026-12-05  new kernels attention_cached_split(_bf16) + attention_cached_combine(_bf16): split-K decoding over long
//               caches (issue 22 item 4), with a kv-head count for grouped-query attention. Nothing else changed.
//   2026-12-05  grouped-query attention (issue 23 item 4): every attention kernel, kv_cache_write(_bf16) and
//               rotary_forward(_bf16) take the kv-head count (NKV, or KVC = NKV*HS) and the (NH+2*NKV)*HS row stride;
//               rotary_forward takes (NH, NKV, HS) instead of (C, NH). New kernels rmsnorm_forward(_bf16),
//               fused_residual_rmsnorm(_bf16), swiglu_forward(_bf16), qk_norm(_bf16), clamp_forward(_bf16). With NKV = NH
//               the results are unchanged.
//   2026-12-05  fused rotary (issue 22 item 1): attention_bf16_hs64 / _hs128, attention_tf32_hs64 / _hs128 and
//               attention_fp32_hs64 / _hs128 take three more parameters after scale: cosT, sinT (T, R/2) and R (0: no
//               rotary, as before). rotary_forward(_bf16) rounds every product and sum on its own (explicit mul.rn /
//               add.rn: no FMA contraction; bit for bit CpuOps.Rotary), which the fused kernels share. Grid, block and
//               shared memory unchanged.

#ifndef LC_DYNAMIC_SHARED
// Dynamic shared memory (the launch's shared bytes); the emulator defines its own version of this macro.
#define LC_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define LC_FULL_MASK 0xffffffffu
#define LC_INV_LN2 1.4426950408889634f

__device__ __forceinline__ float lc_neg_inf() { return __int_as_float((int)0xff800000u); }
__device__ __forceinline__ float lc_nan() { return __int_as_float(0x7fc00000); }
__device__ __forceinline__ int lc_min(int a, int b) { return a < b ? a : b; }

__device__ __forceinline__ float lc_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(LC_FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float lc_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(LC_FULL_MASK, v, o));
    return v;
}

__device__ __forceinline__ float lc_gelu(float v)
{
    float cube = 0.044715f * v * v * v;
    return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + cube)));
}

// bf16 as raw bits: round to nearest even (NaN stays a quiet NaN), and the exact widening.
__device__ __forceinline__ unsigned short lc_bf16(float f)
{
    unsigned u = (unsigned)__float_as_int(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
    return (unsigned short)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float lc_f32(unsigned short h) { return __int_as_float((int)((unsigned)h << 16)); }

// Element access for kernels templated on the element type: fp32 as is, bf16 (raw bits in unsigned short) widened
// exactly on load and rounded to nearest even on store (lc_bf16).
__device__ __forceinline__ float lc_ld(const float* p) { return *p; }
__device__ __forceinline__ float lc_ld(const unsigned short* p) { return lc_f32(*p); }
__device__ __forceinline__ void lc_st(float* p, float v) { *p = v; }
__device__ __forceinline__ void lc_st(unsigned short* p, float v) { *p = lc_bf16(v); }

__device__ __forceinline__ float lc_gelu_erf(float v)
{
    float a = fabsf(v);
    return fmaxf(v, 0.0f) - 0.5f * a * erfcf(a * 0.70710678118654752f);
}

// Mean and 1/std of one row x (C) by a warp: two passes, population variance (layernorm_forward's arithmetic).
__device__ __forceinline__ void lc_row_stats(const float* x, int C, float eps, float& mean, float& rstd)
{
    int lane = threadIdx.x & 31;
    float s = 0.0f;
    for (int i = lane; i < C; i += 32) s += x[i];
    mean = lc_warp_sum(s) / C;
    // Two passes over the row (it is in L1/L2 by now): the one-pass E[x^2]-E[x]^2 form loses digits when |mean| >> std.
    float q = 0.0f;
    for (int i = lane; i < C; i += 32) { float d = x[i] - mean; q += d * d; }
    float var = lc_warp_sum(q) / C;
    rstd = 1.0f / sqrtf(var + eps);
}

// ---------------------------------------------------------------------------------------------------------------
// Embedding, layer norm, elementwise

// out (B,T,C) = wte[tokens[b,t]] + wpe[t]. tokens (B,T), wte (V,C), wpe (maxT,C)
extern "C" __global__ void embed_forward(float* __restrict__ out, const int* __restrict__ tokens,
    const float* __restrict__ wte, const float* __restrict__ wpe, int B, int T, int C)
{
    long long n = (long long)B * T * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long bt = i / C;
        int c = (int)(i - bt * C);
        int t = (int)(bt % T);
        out[i] = wte[(long long)tokens[bt] * C + c] + wpe[(long long)t * C + c];
    }
}

// out (rows,C) = layernorm(inp (rows,C)) * weight (C) + bias (C); one warp per row
extern "C" __global__ void layernorm_forward(float* __restrict__ out, const float* __restrict__ inp,
    const float* __restrict__ weight, const float* __restrict__ bias, int rows, int C, float eps)
{
    int warps = blockDim.x >> 5;
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * warps + (threadIdx.x >> 5);
    if (row >= rows) return; // whole warp leaves together
    const float* x = inp + (long long)row * C;
    float mean, rstd;
    lc_row_stats(x, C, eps, mean, rstd);
    float* y = out + (long long)row * C;
    for (int i = lane; i < C; i += 32) y[i] = (x[i] - mean) * rstd * weight[i] + bias[i];
}

// As layernorm_forward, out (rows,C) bf16
extern "C" __global__ void layernorm_forward_bf16(unsigned short* __restrict__ out, const float* __restrict__ inp,
    const float* __restrict__ weight, const float* __restrict__ bias, int rows, int C, float eps)
{
    int warps = blockDim.x >> 5;
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * warps + (threadIdx.x >> 5);
    if (row >= rows) return; // whole warp leaves together
    const float* x = inp + (long long)row * C;
    float mean, rstd;
    lc_row_stats(x, C, eps, mean, rstd);
    unsigned short* y = out + (long long)row * C;
    for (int i = lane; i < C; i += 32) y[i] = lc_bf16((x[i] - mean) * rstd * weight[i] + bias[i]);
}

// residual (rows,C) += y + bias (C); then the row's mean and 1/std, for the fused residual + layer norm. Each lane
// reads back only the elements it wrote itself, so no barrier is needed between the add and the statistics.
__device__ __forceinline__ float* lc_residual_row(float* residual, const float* y, const float* bias, long long row, int C,
    float eps, float& mean, float& rstd)
{
    int lane = threadIdx.x & 31;
    float* x = residual + row * C;
    const float* yr = y + row * C;
    for (int i = lane; i < C; i += 32) x[i] = x[i] + (yr[i] + bias[i]);
    lc_row_stats(x, C, eps, mean, rstd);
    return x;
}

// residual (rows,C) += y + bias; norm (rows,C) = layernorm(residual) * weight + lnBias; one warp per row
extern "C" __global__ void fused_residual_layernorm(float* __restrict__ residual, float* __restrict__ norm,
    const float* __restrict__ y, const float* __restrict__ bias, const float* __restrict__ weight,
    const float* __restrict__ lnBias, int rows, int C, float eps)
{
    int warps = blockDim.x >> 5;
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * warps + (threadIdx.x >> 5);
    if (row >= rows) return; // whole warp leaves together
    float mean, rstd;
    const float* x = lc_residual_row(residual, y, bias, row, C, eps, mean, rstd);
    float* o = norm + (long long)row * C;
    for (int i = lane; i < C; i += 32) o[i] = (x[i] - mean) * rstd * weight[i] + lnBias[i];
}

// As fused_residual_layernorm, norm (rows,C) bf16
extern "C" __global__ void fused_residual_layernorm_bf16(float* __restrict__ residual, unsigned short* __restrict__ norm,
    const float* __restrict__ y, const float* __restrict__ bias, const float* __restrict__ weight,
    const float* __restrict__ lnBias, int rows, int C, float eps)
{
    int warps = blockDim.x >> 5;
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * warps + (threadIdx.x >> 5);
    if (row >= rows) return; // whole warp leaves together
    float mean, rstd;
    const float* x = lc_residual_row(residual, y, bias, row, C, eps, mean, rstd);
    unsigned short* o = norm + (long long)row * C;
    for (int i = lane; i < C; i += 32) o[i] = lc_bf16((x[i] - mean) * rstd * weight[i] + lnBias[i]);
}

// ---- LLaMA-family ops: RMSNorm, fused residual + RMSNorm, SwiGLU, QK-norm, clamp

// out row (C) = x * (1 / sqrt(mean(x^2) + eps)) * weight; one warp, fp32 statistics
template <class TO, class TI>
__device__ __forceinline__ void lc_rmsnorm_row(TO* out, const TI* x, const float* weight, int C, float eps)
{
    int lane = threadIdx.x & 31;
    float q = 0.0f;
    for (int i = lane; i < C; i += 32) { float v = lc_ld(x + i); q += v * v; }
    float rstd = 1.0f / sqrtf(lc_warp_sum(q) / C + eps);
    for (int i = lane; i < C; i += 32) lc_st(out + i, lc_ld(x + i) * rstd * weight[i]);
}

// out (rows,C) = rmsnorm(inp (rows,C)) * weight (C); one warp per row
extern "C" __global__ void rmsnorm_forward(float* __restrict__ out, const float* __restrict__ inp,
    const float* __restrict__ weight, int rows, int C, float eps)
{
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return; // whole warp leaves together
    lc_rmsnorm_row(out + (long long)row * C, inp + (long long)row * C, weight, C, eps);
}

// As rmsnorm_forward, out (rows,C) bf16
extern "C" __global__ void rmsnorm_forward_bf16(unsigned short* __restrict__ out, const float* __restrict__ inp,
    const float* __restrict__ weight, int rows, int C, float eps)
{
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    lc_rmsnorm_row(out + (long long)row * C, inp + (long long)row * C, weight, C, eps);
}

// residual (rows,C) += y + bias (bias may be null: x + (y + 0)); norm = rmsnorm(residual) * weight; one warp per row.
// Each lane reads back only what it wrote.
template <class TO>
__device__ __forceinline__ void lc_residual_rmsnorm(float* residual, TO* norm, const float* y, const float* bias,
    const float* weight, int rows, int C, float eps)
{
    int lane = threadIdx.x & 31;
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    float* x = residual + (long long)row * C;
    const float* yr = y + (long long)row * C;
    for (int i = lane; i < C; i += 32) x[i] = x[i] + (yr[i] + (bias ? bias[i] : 0.0f));
    lc_rmsnorm_row(norm + (long long)row * C, x, weight, C, eps);
}

extern "C" __global__ void fused_residual_rmsnorm(float* __restrict__ residual, float* __restrict__ norm,
    const float* __restrict__ y, const float* __restrict__ bias, const float* __restrict__ weight, int rows, int C, float eps)
{
    lc_residual_rmsnorm(residual, norm, y, bias, weight, rows, C, eps);
}

extern "C" __global__ void fused_residual_rmsnorm_bf16(float* __restrict__ residual, unsigned short* __restrict__ norm,
    const float* __restrict__ y, const float* __restrict__ bias, const float* __restrict__ weight, int rows, int C, float eps)
{
    lc_residual_rmsnorm(residual, norm, y, bias, weight, rows, C, eps);
}

// out (rows,inner) = silu(gate) * up, silu(g) = g / (1 + exp(-g)) computed as (1 / (1 + exp(-g))) g; gate and up rows
// at row stride ld (a fused gate|up product: up = gate + inner, ld = 2*inner)
template <class T_>
__device__ __forceinline__ void lc_swiglu(T_* out, const T_* gate, const T_* up, int rows, int inner, int ld)
{
    long long n = (long long)rows * inner;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long r = i / inner;
        long long src = r * ld + (i - r * inner);
        float g = lc_ld(gate + src);
        lc_st(out + i, 1.0f / (1.0f + expf(-g)) * g * lc_ld(up + src));
    }
}

extern "C" __global__ void swiglu_forward(float* __restrict__ out, const float* __restrict__ gate, const float* __restrict__ up,
    int rows, int inner, int ld)
{
    lc_swiglu(out, gate, up, rows, inner, ld);
}

extern "C" __global__ void swiglu_forward_bf16(unsigned short* __restrict__ out, const unsigned short* __restrict__ gate,
    const unsigned short* __restrict__ up, int rows, int inner, int ld)
{
    lc_swiglu(out, gate, up, rows, inner, ld);
}

// OLMo-2's QK-norm in place: warp w = 2*row + part; part 0 RMSNorms the q of the row (NH*HS values at offset 0) with
// qWeight, part 1 the k (NKV*HS at offset NH*HS) with kWeight; rows of qkv (rows,(NH+2*NKV)*HS)
template <class T_>
__device__ __forceinline__ void lc_qk_norm(T_* qkv, const float* qWeight, const float* kWeight, int rows, int NH, int NKV, int HS, float eps)
{
    int w = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (w >= 2 * rows) return;
    int row = w >> 1, part = w & 1;
    T_* x = qkv + (long long)row * (NH + 2 * NKV) * HS + (part ? (long long)NH * HS : 0LL);
    lc_rmsnorm_row(x, x, part ? kWeight : qWeight, (part ? NKV : NH) * HS, eps);
}

extern "C" __global__ void qk_norm(float* qkv, const float* __restrict__ qWeight, const float* __restrict__ kWeight,
    int rows, int NH, int NKV, int HS, float eps)
{
    lc_qk_norm(qkv, qWeight, kWeight, rows, NH, NKV, HS, eps);
}

extern "C" __global__ void qk_norm_bf16(unsigned short* qkv, const float* __restrict__ qWeight, const float* __restrict__ kWeight,
    int rows, int NH, int NKV, int HS, float eps)
{
    lc_qk_norm(qkv, qWeight, kWeight, rows, NH, NKV, HS, eps);
}

// x (n) = clamp(x, -limit, limit) in place (OLMo's clip_qkv); NaN stays NaN
template <class T_>
__device__ __forceinline__ void lc_clamp(T_* x, long long n, float limit)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = lc_ld(x + i);
        lc_st(x + i, v < -limit ? -limit : (v > limit ? limit : v));
    }
}

extern "C" __global__ void clamp_forward(float* x, long long n, float limit) { lc_clamp(x, n, limit); }

extern "C" __global__ void clamp_forward_bf16(unsigned short* x, long long n, float limit) { lc_clamp(x, n, limit); }

// out (rows,cols) bf16 = inp (rows,cols) + bias (cols): the Bias epilogue of the cublasGemmEx fallback
extern "C" __global__ void epilogue_bias_bf16(unsigned short* __restrict__ out, const float* __restrict__ inp,
    const unsigned short* __restrict__ bias, int rows, int cols)
{
    long long n = (long long)rows * cols;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = lc_bf16(inp[i] + lc_f32(bias[i % cols]));
}

// out (rows,cols) bf16 = gelu_tanh(inp (rows,cols) + bias (cols)): the BiasGeluTanh epilogue of the fallback
extern "C" __global__ void epilogue_bias_gelu_bf16(unsigned short* __restrict__ out, const float* __restrict__ inp,
    const unsigned short* __restrict__ bias, int rows, int cols)
{
    long long n = (long long)rows * cols;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = lc_bf16(lc_gelu(inp[i] + lc_f32(bias[i % cols])));
}

// x (rows,cols) += bias (cols)
extern "C" __global__ void bias_add(float* __restrict__ x, const float* __restrict__ bias, int rows, int cols)
{
    long long n = (long long)rows * cols;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] += bias[i % cols];
}

// x (rows,cols) = gelu(x + bias (cols)); bias may be null
extern "C" __global__ void bias_gelu_forward(float* __restrict__ x, const float* __restrict__ bias, int rows, int cols)
{
    long long n = (long long)rows * cols;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float v = x[i];
        if (bias) v += bias[i % cols];
        x[i] = lc_gelu(v);
    }
}

// x (n) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU (GPT-NeoX), in place. Written as max(x, 0) - |x| erfc(|x|/sqrt 2) / 2
// (as CpuOps.GeluErf): the erf form loses the small negative tail to cancellation (1 + erf(z) for z << 0).
extern "C" __global__ void gelu_erf_forward(float* x, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] = lc_gelu_erf(x[i]);
}

// As gelu_erf_forward on x (n) bf16
extern "C" __global__ void gelu_erf_forward_bf16(unsigned short* x, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] = lc_bf16(lc_gelu_erf(lc_f32(x[i])));
}

// Rotary position embedding on q and k of qkv (B,T,3C), in place, from the angle table cosT, sinT (T, R/2). The table
// comes from the host (CpuOps.RotaryTable, double precision): device sin/cos would need the slow-path argument reduction
// (local memory) for angles of thousands of radians, and a float angle would be off by ~1e-4 there.
// The pairs (i, i + R/2) of the NH q heads and NKV k heads (the first NH+NKV head slots of each row of HS), rotated in
// place; row stride (NH+2*NKV)*HS.
// Products and sums rounded one by one (never contracted to an FMA, whatever the compiler's --fmad): the rotary turn
// gives the same bits in rotary_forward and in the attention kernels that apply it to their tiles, and matches
// CpuOps.Rotary (separate multiplies and adds).
__device__ __forceinline__ float lc_mul_rn(float a, float b)
{
#if defined(LC_EMULATION)
    return a * b;
#else
    float r;
    asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
#endif
}

__device__ __forceinline__ float lc_add_rn(float a, float b)
{
#if defined(LC_EMULATION)
    return a + b;
#else
    float r;
    asm("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
#endif
}

// The rotate-half turn of one pair (dimensions i and i + R/2) by the angle with cosine c and sine s:
// x1' = x1 c - x2 s, x2' = x2 c + x1 s.
__device__ __forceinline__ void lc_rope_pair(float& x1, float& x2, float c, float s)
{
    float y1 = lc_add_rn(lc_mul_rn(x1, c), -lc_mul_rn(x2, s));
    float y2 = lc_add_rn(lc_mul_rn(x2, c), lc_mul_rn(x1, s));
    x1 = y1;
    x2 = y2;
}

template <class T_>
__device__ __forceinline__ void lc_rotary(T_* qkv, const float* cosT, const float* sinT, int B, int T, int NH, int NKV, int HS, int R)
{
    int half = R / 2, parts = NH + NKV;
    long long rs = (long long)(NH + 2 * NKV) * HS;
    long long n = (long long)B * T * parts * half;
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += (long long)gridDim.x * blockDim.x) {
        int i = (int)(idx % half);
        long long rest = idx / half;
        int part = (int)(rest % parts); // q heads 0..NH-1, then k heads
        long long row = rest / parts;   // b * T + t
        int t = (int)(row % T);
        T_* p = qkv + row * rs + (long long)part * HS + i;
        float c = cosT[t * half + i], s = sinT[t * half + i];
        float x1 = lc_ld(p), x2 = lc_ld(p + half);
        lc_rope_pair(x1, x2, c, s);
        lc_st(p, x1);
        lc_st(p + half, x2);
    }
}

// The rotary turn applied by the attention kernels on their own tiles (the fused rotary: R > 0): rows [0, rows) of a
// shared tile (row stride ld, rows of one head) hold positions r0..; each pair turns in fp32 by cosT, sinT (T, R/2) and
// is stored back in the tile's type (bf16: rounded once), exactly as rotary_forward(_bf16) would have stored it in qkv.
// Rows at positions >= T (the zero fill) are left alone. No barrier: the caller syncs before and after.
template <class T_>
__device__ __forceinline__ void lc_rope_tile(T_* tile, int ld, int rows, int r0, int T, const float* cosT, const float* sinT, int R)
{
    int half = R >> 1;
    for (int idx = threadIdx.x; idx < rows * half; idx += blockDim.x) {
        int r = idx / half, i = idx - r * half;
        if (r0 + r >= T) continue;
        T_* p = tile + r * ld + i;
        float x1 = lc_ld(p), x2 = lc_ld(p + half);
        lc_rope_pair(x1, x2, cosT[(r0 + r) * half + i], sinT[(r0 + r) * half + i]);
        lc_st(p, x1);
        lc_st(p + half, x2);
    }
}

// Dimension d of an fp32 head row at position pos after the rotary turn of its first R dimensions (R = 0: as stored).
__device__ __forceinline__ float lc_rope_at(const float* row, int d, int pos, const float* cosT, const float* sinT, int R)
{
    int half = R >> 1;
    if (d >= R) return row[d];
    int i = d < half ? d : d - half;
    float x1 = row[i], x2 = row[i + half];
    lc_rope_pair(x1, x2, cosT[pos * half + i], sinT[pos * half + i]);
    return d < half ? x1 : x2;
}

extern "C" __global__ void rotary_forward(float* __restrict__ qkv, const float* __restrict__ cosT, const float* __restrict__ sinT,
    int B, int T, int NH, int NKV, int HS, int R)
{
    lc_rotary(qkv, cosT, sinT, B, T, NH, NKV, HS, R);
}

// As rotary_forward on bf16 qkv: each pair widened, turned in fp32, rounded once
extern "C" __global__ void rotary_forward_bf16(unsigned short* __restrict__ qkv, const float* __restrict__ cosT,
    const float* __restrict__ sinT, int B, int T, int NH, int NKV, int HS, int R)
{
    lc_rotary(qkv, cosT, sinT, B, T, NH, NKV, HS, R);
}

// x (n) += y (n)
extern "C" __global__ void residual_add(float* __restrict__ x, const float* __restrict__ y, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] += y[i];
}

// x (rows,cols) += y (rows,cols) + bias (cols)
extern "C" __global__ void residual_bias_add(float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ bias,
    int rows, int cols)
{
    long long n = (long long)rows * cols;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        x[i] += y[i] + bias[i % cols];
}

// out (count,C) = inp[rows[i], :]; rows (count)
extern "C" __global__ void gather_rows(float* __restrict__ out, const float* __restrict__ inp,
    const int* __restrict__ rows, int count, int C)
{
    long long n = (long long)count * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long r = i / C;
        int c = (int)(i - r * C);
        out[i] = inp[(long long)rows[r] * C + c];
    }
}

// out (count,C) = inp[rows[i], :], bf16; rows (count)
extern "C" __global__ void gather_rows_bf16(unsigned short* __restrict__ out, const unsigned short* __restrict__ inp,
    const int* __restrict__ rows, int count, int C)
{
    long long n = (long long)count * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        long long r = i / C;
        int c = (int)(i - r * C);
        out[i] = inp[(long long)rows[r] * C + c];
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Attention, unfused path: qkv_split_heads -> cuBLAS q @ k^T -> softmax_causal -> cuBLAS att @ v -> merge_heads

// qkv (B,T,3C) -> q, k, v (B,NH,T,HS)
extern "C" __global__ void qkv_split_heads(float* __restrict__ q, float* __restrict__ k, float* __restrict__ v,
    const float* __restrict__ qkv, int B, int T, int NH, int HS)
{
    int C = NH * HS;
    long long n = (long long)B * T * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        // i indexes the destination (b, h, t, d) so the writes are coalesced
        int d = (int)(i % HS);
        long long r = i / HS;
        int t = (int)(r % T);
        r /= T;
        int h = (int)(r % NH);
        long long b = r / NH;
        const float* src = qkv + (b * T + t) * 3LL * C + (long long)h * HS + d;
        q[i] = src[0];
        k[i] = src[C];
        v[i] = src[2 * C];
    }
}

// y (B,NH,T,HS) -> out (B,T,C)
extern "C" __global__ void merge_heads(float* __restrict__ out, const float* __restrict__ y, int B, int T, int NH, int HS)
{
    int C = NH * HS;
    long long n = (long long)B * T * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        // i indexes the destination (b, t, h, d)
        int d = (int)(i % HS);
        long long r = i / HS;
        int h = (int)(r % NH);
        r /= NH;
        int t = (int)(r % T);
        long long b = r / T;
        out[i] = y[((b * NH + h) * T + t) * HS + d];
    }
}

// att (BH,Tq,Tk): scores -> softmax(scale * scores) over keys j <= past + i, masked entries 0; one warp per row
extern "C" __global__ void softmax_causal(float* att, int BH, int Tq, int Tk, int past, float scale)
{
    int warps = blockDim.x >> 5;
    int lane = threadIdx.x & 31;
    long long row = (long long)blockIdx.x * warps + (threadIdx.x >> 5);
    if (row >= (long long)BH * Tq) return; // whole warp leaves together
    int i = (int)(row % Tq);
    int last = lc_min(past + i, Tk - 1); // last key this query may see
    float* a = att + row * Tk;
    float m = lc_neg_inf();
    for (int j = lane; j <= last; j += 32) m = fmaxf(m, a[j] * scale);
    m = lc_warp_max(m);
    float s = 0.0f;
    for (int j = lane; j <= last; j += 32) s += expf(a[j] * scale - m);
    s = lc_warp_sum(s);
    float inv = 1.0f / s;
    for (int j = lane; j < Tk; j += 32) a[j] = j <= last ? expf(a[j] * scale - m) * inv : 0.0f;
}

// ---------------------------------------------------------------------------------------------------------------
// Attention, fused flash-style path

#define LC_ATT_BK 32     // keys per shared-memory tile: one key per lane when scoring
#define LC_ATT_MAX_HS 128 // four output dims per lane


// Copies rows [k0, k0+nk) of a (rows, HS) slice with row stride `stride` into shared memory with row stride `ld`.
// On sm_80+ fp32 copies are asynchronous: lc_attention_tile_wait() (then __syncthreads) before reading them.
__device__ __forceinline__ void lc_attention_tile(float* dst, int ld, const float* src, long long stride, int k0, int nk, int HS)
{
    int n = nk * HS;
    for (int idx = threadIdx.x; idx < n; idx += blockDim.x) {
        int r = idx / HS;
        int d = idx - r * HS;
        const float* g = src + (long long)(k0 + r) * stride + d;
        float* s = dst + r * ld + d;
#if !defined(LC_EMULATION) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
        // Asynchronous copy straight to shared memory (no register round trip); waited for below.
        unsigned saddr;
        asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(saddr) : "l"(s));
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" :: "r"(saddr), "l"(g) : "memory");
#else
        *s = *g;
#endif
    }
}

// The bf16 version widens to fp32 on the way (a plain load: nothing to wait for).
__device__ __forceinline__ void lc_attention_tile(float* dst, int ld, const unsigned short* src, long long stride, int k0, int nk, int HS)
{
    int n = nk * HS;
    for (int idx = threadIdx.x; idx < n; idx += blockDim.x) {
        int r = idx / HS;
        int d = idx - r * HS;
        dst[r * ld + d] = lc_ld(src + (long long)(k0 + r) * stride + d);
    }
}

__device__ __forceinline__ void lc_attention_tile_wait()
{
#if !defined(LC_EMULATION) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
#endif
}

// Shared body of attention_fused and attention_cached for one (batch, head) and blockDim.x/32 queries.
// q row i at q + i*qStride; key/value row j at k/v + j*kvStride; out row i at out + i*outStride.
// Query i (0..nq-1) sits at absolute position past + i and sees keys 0..past+i.
// TO and TI: float or unsigned short (bf16), for the output and the inputs.
template <class TO, class TI>
__device__ void lc_flash_attention(TO* out, long long outStride, const TI* q, long long qStride,
    const TI* k, const TI* v, long long kvStride, int nq, int past, int HS, float scale)
{
    LC_DYNAMIC_SHARED(float, lc_smem);
    // (warps, BK): each warp's probabilities of the current key tile, read back as broadcasts in the P @ V loop. Static,
    // so the dynamic size formula does not depend on it; one shared store per lane replaces a shuffle per key.
    __shared__ float lc_p[32 * LC_ATT_BK];
    int warps = blockDim.x >> 5;
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    float* ks = lc_smem;                       // (BK, HS+1): padded so lane j reading key j hits its own bank
    float* vs = ks + LC_ATT_BK * (HS + 1);     // (BK, HS)
    float* qs = vs + LC_ATT_BK * HS;           // (warps, HS), pre-scaled
    int i0 = blockIdx.x * warps;
    int i = i0 + warp;
    bool active = i < nq;
    for (int d = lane; d < HS; d += 32) qs[warp * HS + d] = active ? lc_ld(q + (long long)i * qStride + d) * scale : 0.0f;

    float m = lc_neg_inf(); // running max of the scores seen so far
    float l = 0.0f;         // running sum of exp(score - m)
    float acc[LC_ATT_MAX_HS / 32] = {0.0f, 0.0f, 0.0f, 0.0f};
    int keyEnd = past + lc_min(i0 + warps, nq); // keys any query of this block needs
    for (int kt = 0; kt < keyEnd; kt += LC_ATT_BK) {
        int nk = lc_min(LC_ATT_BK, keyEnd - kt);
        __syncthreads(); // the previous tile is consumed (and qs is written, on the first pass)
        lc_attention_tile(ks, HS + 1, k, kvStride, kt, nk, HS);
        lc_attention_tile(vs, HS, v, kvStride, kt, nk, HS);
        lc_attention_tile_wait(); // both tiles in flight together
        __syncthreads();
        if (active && kt <= past + i) { // uniform across the warp
            int j = kt + lane;
            bool ok = lane < nk && j <= past + i;
            float s = lc_neg_inf();
            if (ok) {
                const float* qr = qs + warp * HS;
                const float* kr = ks + lane * (HS + 1);
                float dot = 0.0f;
                for (int d = 0; d < HS; d++) dot += qr[d] * kr[d];
                s = dot;
            }
            // Key kt is always visible here, so mn is finite and exp(-inf) gives the 0 weights.
            float mn = fmaxf(m, lc_warp_max(s));
            float corr = expf(m - mn);
            float p = ok ? expf(s - mn) : 0.0f;
            l = l * corr + lc_warp_sum(p);
#pragma unroll
            for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) acc[r] *= corr;
            int visible = lc_min(nk, past + i - kt + 1);
            float* pw = lc_p + warp * LC_ATT_BK;
            pw[lane] = p;
            __syncwarp();
            for (int jj = 0; jj < visible; jj++) {
                float pj = pw[jj];
                const float* vr = vs + jj * HS;
#pragma unroll
                for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) {
                    int d = lane + 32 * r;
                    if (d < HS) acc[r] += pj * vr[d];
                }
            }
            m = mn;
            __syncwarp(); // every lane has read pw before the next tile overwrites it
        }
    }
    if (active) {
        float inv = 1.0f / l;
#pragma unroll
        for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) {
            int d = lane + 32 * r;
            if (d < HS) lc_st(out + (long long)i * outStride + d, acc[r] * inv);
        }
    }
}

// Causal attention of one (b, h) block of queries, q | k | v rows of qkv (B,T,(NH+2*NKV)*HS); q head h reads k/v head
// h / (NH/NKV). out (B,T,NH*HS).
template <class T_>
__device__ __forceinline__ void lc_fused_block(T_* out, const T_* qkv, int T, int NH, int NKV, int HS, float scale)
{
    int h = blockIdx.y;
    long long b = blockIdx.z;
    int C = NH * HS;
    long long rs = (long long)(NH + 2 * NKV) * HS;
    const T_* q = qkv + b * T * rs + (long long)h * HS;
    const T_* k = qkv + b * T * rs + C + (long long)(h / (NH / NKV)) * HS;
    lc_flash_attention(out + b * T * C + (long long)h * HS, C, q, rs, k, k + (long long)NKV * HS, rs, T, 0, HS, scale);
}

// out (B,T,C) = causal attention of qkv (B,T,(NH+2*NKV)*HS); grid (ceil(T/warps), NH, B)
extern "C" __global__ void attention_fused(float* __restrict__ out, const float* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale)
{
    (void)B; // the grid's z extent
    lc_fused_block(out, qkv, T, NH, NKV, HS, scale);
}

// attention_fused on bf16 qkv and output (fp32 arithmetic inside): the SIMT path for head sizes attention_bf16 does
// not take, and for devices without bf16 tensor cores
extern "C" __global__ void attention_fused_bf16(unsigned short* __restrict__ out, const unsigned short* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale)
{
    (void)B;
    lc_fused_block(out, qkv, T, NH, NKV, HS, scale);
}

// kCache, vCache (B,maxT,KVC)[b, past+i] = k, v of qkv (B,Tnew,C+2*KVC)[b, i] (an exact copy)
template <class T_>
__device__ __forceinline__ void lc_kv_cache_write(T_* kCache, T_* vCache, const T_* qkv, int B, int Tnew, int past, int maxT,
    int C, int KVC)
{
    long long n = (long long)B * Tnew * KVC;
    long long rs = C + 2LL * KVC;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        int c = (int)(i % KVC);
        long long r = i / KVC;
        int t = (int)(r % Tnew);
        long long b = r / Tnew;
        long long dst = (b * maxT + past + t) * KVC + c;
        kCache[dst] = qkv[r * rs + C + c];
        vCache[dst] = qkv[r * rs + C + KVC + c];
    }
}

extern "C" __global__ void kv_cache_write(float* __restrict__ kCache, float* __restrict__ vCache,
    const float* __restrict__ qkv, int B, int Tnew, int past, int maxT, int C, int KVC)
{
    lc_kv_cache_write(kCache, vCache, qkv, B, Tnew, past, maxT, C, KVC);
}

// kv_cache_write with bf16 caches and qkv
extern "C" __global__ void kv_cache_write_bf16(unsigned short* __restrict__ kCache, unsigned short* __restrict__ vCache,
    const unsigned short* __restrict__ qkv, int B, int Tnew, int past, int maxT, int C, int KVC)
{
    lc_kv_cache_write(kCache, vCache, qkv, B, Tnew, past, maxT, C, KVC);
}

// out (B,Tnew,NH*HS) = attention of the new queries in qkv (B,Tnew,(NH+2*NKV)*HS) over kCache, vCache
// (B,maxT,NKV*HS) positions 0..past+i
template <class T_>
__device__ __forceinline__ void lc_cached_block(T_* out, const T_* qkv, const T_* kCache, const T_* vCache, int Tnew, int past,
    int maxT, int NH, int NKV, int HS, float scale)
{
    int h = blockIdx.y;
    long long b = blockIdx.z;
    int C = NH * HS;
    long long kvC = (long long)NKV * HS;
    long long rs = C + 2 * kvC;
    const T_* q = qkv + b * Tnew * rs + (long long)h * HS;
    long long kv = b * maxT * kvC + (long long)(h / (NH / NKV)) * HS;
    lc_flash_attention(out + b * Tnew * C + (long long)h * HS, C, q, rs, kCache + kv, vCache + kv, kvC, Tnew, past, HS, scale);
}

extern "C" __global__ void attention_cached(float* __restrict__ out, const float* __restrict__ qkv,
    const float* __restrict__ kCache, const float* __restrict__ vCache,
    int B, int Tnew, int past, int maxT, int NH, int NKV, int HS, float scale)
{
    (void)B; // the grid's z extent
    lc_cached_block(out, qkv, kCache, vCache, Tnew, past, maxT, NH, NKV, HS, scale);
}

// attention_cached on bf16 qkv, caches and output (fp32 arithmetic inside)
extern "C" __global__ void attention_cached_bf16(unsigned short* __restrict__ out, const unsigned short* __restrict__ qkv,
    const unsigned short* __restrict__ kCache, const unsigned short* __restrict__ vCache,
    int B, int Tnew, int past, int maxT, int NH, int NKV, int HS, float scale)
{
    (void)B;
    lc_cached_block(out, qkv, kCache, vCache, Tnew, past, maxT, NH, NKV, HS, scale);
}

// Split-K decoding: one query row per sequence (Tnew = 1), the cache cut into chunks of LC_SPLIT_CHUNK keys, one
// block of LC_SPLIT_THREADS threads per (chunk, head, sequence). Each warp takes every (LC_SPLIT_THREADS/32)-th key of
// the chunk (the whole warp on one key: a coalesced row read and a warp-sum dot product), keeps its own running max,
// sum and weighted V in fp32; the block merges its warps and writes one partial (max, sum, weighted V (HS)) in fp32;
// attention_cached_combine merges the chunks' partials and normalises.
#define LC_SPLIT_CHUNK 256
#define LC_SPLIT_THREADS 128

// Keys 0..nkeys-1 at k/v + j*kvStride; q pre-scaled in registers (lane d, d+32, ...). partial (HS+2) floats.
template <class TI>
__device__ void lc_attention_split(float* partial, const TI* q, const TI* k, const TI* v, long long kvStride,
    int nkeys, int HS, float scale)
{
    __shared__ float lc_sm[LC_SPLIT_THREADS / 32];
    __shared__ float lc_sl[LC_SPLIT_THREADS / 32];
    __shared__ float lc_sacc[LC_SPLIT_THREADS / 32][LC_ATT_MAX_HS];
    const int warps = LC_SPLIT_THREADS / 32;
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    float qr[LC_ATT_MAX_HS / 32], acc[LC_ATT_MAX_HS / 32];
#pragma unroll
    for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) {
        int d = lane + 32 * r;
        qr[r] = d < HS ? lc_ld(q + d) * scale : 0.0f;
        acc[r] = 0.0f;
    }
    float m = lc_neg_inf(), l = 0.0f;
    int j0 = blockIdx.x * LC_SPLIT_CHUNK;
    int j1 = lc_min(j0 + LC_SPLIT_CHUNK, nkeys);
    for (int j = j0 + warp; j < j1; j += warps) {
        const TI* kr = k + (long long)j * kvStride;
        float dot = 0.0f;
#pragma unroll
        for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) {
            int d = lane + 32 * r;
            if (d < HS) dot += qr[r] * lc_ld(kr + d);
        }
        float s = lc_warp_sum(dot);
        float mn = fmaxf(m, s);
        float corr = expf(m - mn); // 0 on the warp's first key (m = -inf)
        float p = expf(s - mn);
        l = l * corr + p;
        const TI* vr = v + (long long)j * kvStride;
#pragma unroll
        for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) {
            int d = lane + 32 * r;
            acc[r] = acc[r] * corr + (d < HS ? p * lc_ld(vr + d) : 0.0f);
        }
        m = mn;
    }
    if (lane == 0) { lc_sm[warp] = m; lc_sl[warp] = l; }
#pragma unroll
    for (int r = 0; r < LC_ATT_MAX_HS / 32; r++) lc_sacc[warp][lane + 32 * r] = acc[r];
    __syncthreads();
    // Merge the warps (a warp without keys has m = -inf and weight 0; every chunk holds at least one key).
    float mb = lc_sm[0];
    for (int w = 1; w < warps; w++) mb = fmaxf(mb, lc_sm[w]);
    for (int d = threadIdx.x; d < HS + 2; d += LC_SPLIT_THREADS) {
        float t = 0.0f;
        for (int w = 0; w < warps; w++) {
            float f = expf(lc_sm[w] - mb);
            t += f * (d == 1 ? lc_sl[w] : lc_sacc[w][d < 2 ? 0 : d - 2]);
        }
        partial[d] = d == 0 ? mb : t;
    }
}

// Block (chunk, h, b) of attention_cached_split: the pointers of its query, kv head and partial.
template <class TI>
__device__ __forceinline__ void lc_attention_split_block(float* partial, const TI* qkv, const TI* kCache, const TI* vCache,
    int past, int maxT, int NH, int NKV, int HS, float scale)
{
    int h = blockIdx.y;
    long long b = blockIdx.z;
    int kvh = h / (NH / NKV);
    long long kvC = (long long)NKV * HS;
    const TI* q = qkv + b * (NH + 2LL * NKV) * HS + (long long)h * HS;
    long long kv = b * maxT * kvC + (long long)kvh * HS;
    float* p = partial + (((long long)b * NH + h) * gridDim.x + blockIdx.x) * (HS + 2);
    lc_attention_split(p, q, kCache + kv, vCache + kv, kvC, past + 1, HS, scale);
}

// partial (B, NH, chunks, HS+2) of the new query of each sequence (qkv (B,1,(NH+2*NKV)*HS)) over cached keys 0..past
extern "C" __global__ void attention_cached_split(float* __restrict__ partial, const float* __restrict__ qkv,
    const float* __restrict__ kCache, const float* __restrict__ vCache,
    int B, int past, int maxT, int NH, int NKV, int HS, float scale)
{
    (void)B; // the grid's z extent
    lc_attention_split_block(partial, qkv, kCache, vCache, past, maxT, NH, NKV, HS, scale);
}

// attention_cached_split on bf16 qkv and caches (fp32 arithmetic and partials)
extern "C" __global__ void attention_cached_split_bf16(float* __restrict__ partial, const unsigned short* __restrict__ qkv,
    const unsigned short* __restrict__ kCache, const unsigned short* __restrict__ vCache,
    int B, int past, int maxT, int NH, int NKV, int HS, float scale)
{
    (void)B; // the grid's z extent
    lc_attention_split_block(partial, qkv, kCache, vCache, past, maxT, NH, NKV, HS, scale);
}

// out (B,1,NH*HS) row (b, h) = the chunks' partials merged: sum_c exp(m_c - M) acc_c / sum_c exp(m_c - M) l_c
template <class TO>
__device__ void lc_attention_combine(TO* out, const float* partial, int rows, int NH, int HS, int chunks)
{
    int warps = blockDim.x >> 5;
    int row = blockIdx.x * warps + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= rows) return; // whole warp leaves together
    const float* p = partial + (long long)row * chunks * (HS + 2);
    float mb = lc_neg_inf();
    for (int c = 0; c < chunks; c++) mb = fmaxf(mb, p[(long long)c * (HS + 2)]);
    float l = 0.0f;
    for (int c = 0; c < chunks; c++) l += expf(p[(long long)c * (HS + 2)] - mb) * p[(long long)c * (HS + 2) + 1];
    float inv = 1.0f / l;
    int b = row / NH, h = row - b * NH;
    TO* o = out + (long long)b * NH * HS + (long long)h * HS;
    for (int d = lane; d < HS; d += 32) {
        float t = 0.0f;
        for (int c = 0; c < chunks; c++) t += expf(p[(long long)c * (HS + 2)] - mb) * p[(long long)c * (HS + 2) + 2 + d];
        lc_st(o + d, t * inv);
    }
}

extern "C" __global__ void attention_cached_combine(float* __restrict__ out, const float* __restrict__ partial,
    int B, int NH, int HS, int chunks)
{
    lc_attention_combine(out, partial, B * NH, NH, HS, chunks);
}

extern "C" __global__ void attention_cached_combine_bf16(unsigned short* __restrict__ out, const float* __restrict__ partial,
    int B, int NH, int HS, int chunks)
{
    lc_attention_combine(out, partial, B * NH, NH, HS, chunks);
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor-core building blocks (sm_80+). Each wraps one PTX instruction; under LC_EMULATION the emulator's exact version
// (tests/kernel-emu/cuda_emu.h: same register fragment layouts, per the PTX ISA). Fragment layouts, with g = lane / 4
// and t = lane % 4, for mma m16n8k16 bf16 (two bf16 per 32-bit register, the lower-indexed one in the low half):
//   A (16x16, row): a[0] = (row g, cols 2t,2t+1), a[1] = (g+8, 2t..), a[2] = (g, 2t+8..), a[3] = (g+8, 2t+8..)
//   B (16x8, col):  b[0] = (k rows 2t,2t+1, col g), b[1] = (k rows 2t+8,2t+9, col g)
//   C/D (16x8):     c[0], c[1] = (row g, cols 2t, 2t+1), c[2], c[3] = (row g+8, cols 2t, 2t+1)
// and for m16n8k8 tf32: a[0] = (g, t), a[1] = (g+8, t), a[2] = (g, t+4), a[3] = (g+8, t+4); b[0] = (k t, col g),
// b[1] = (k t+4, col g); C/D as above.

#if !defined(LC_EMULATION) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define LC_TENSOR_CORES 1
#endif

// The 32-bit shared-state-space address of a generic pointer into shared memory.
__device__ __forceinline__ unsigned lc_smem_u32(const void* p)
{
#if defined(LC_EMULATION)
    return (unsigned)(unsigned long long)p; // unused by the emulator
#else
    unsigned a;
    asm volatile("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
#endif
}

// d = A (16x16 bf16) @ B (16x8 bf16) + c, fp32 accumulation; d may be c.
__device__ __forceinline__ void lc_mma_bf16_16816(float d[4], const unsigned a[4], const unsigned b[2], const float c[4])
{
#if defined(LC_EMULATION)
    lc_emu::mma(0, d, a, b, c);
#elif defined(LC_TENSOR_CORES)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
    (void)d; (void)a; (void)b; (void)c;
    asm volatile("trap;"); // no tensor-core kernel is launched below sm_80
#endif
}

// d = A (16x8 tf32) @ B (8x8 tf32) + c, fp32 accumulation; d may be c. Operands are fp32 bit patterns rounded by
// lc_cvt_tf32 (the instruction ignores the low 13 bits).
__device__ __forceinline__ void lc_mma_tf32_1688(float d[4], const unsigned a[4], const unsigned b[2], const float c[4])
{
#if defined(LC_EMULATION)
    lc_emu::mma(1, d, a, b, c);
#elif defined(LC_TENSOR_CORES)
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
    (void)d; (void)a; (void)b; (void)c;
    asm volatile("trap;");
#endif
}

// ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: four 8x8 matrices of 16-bit elements; lane 8i + r gives the address
// of row r of matrix i (16 bytes, 16-byte aligned, in shared memory) and every lane gets r[i] of matrix i: row g,
// columns 2t, 2t+1 (low, high half); with .trans the elements (row 2t, col g) and (row 2t+1, col g).
__device__ __forceinline__ void lc_ldmatrix_x4(unsigned r[4], const void* row)
{
#if defined(LC_EMULATION)
    lc_emu::ldmatrix(4, false, r, row);
#elif defined(LC_TENSOR_CORES)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
        : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(lc_smem_u32(row)) : "memory");
#else
    (void)r; (void)row;
    asm volatile("trap;");
#endif
}

__device__ __forceinline__ void lc_ldmatrix_x4_trans(unsigned r[4], const void* row)
{
#if defined(LC_EMULATION)
    lc_emu::ldmatrix(4, true, r, row);
#elif defined(LC_TENSOR_CORES)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
        : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(lc_smem_u32(row)) : "memory");
#else
    (void)r; (void)row;
    asm volatile("trap;");
#endif
}

// Two fp32 values rounded to bf16 (nearest even) and packed: lo in the low half (cvt.rn.bf16x2.f32).
__device__ __forceinline__ unsigned lc_pack_bf16x2(float lo, float hi)
{
#if defined(LC_EMULATION)
    return (unsigned)lc_emu::f32ToBf16(lo) | ((unsigned)lc_emu::f32ToBf16(hi) << 16);
#elif defined(LC_TENSOR_CORES)
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
#else
    unsigned a = (unsigned)__float_as_int(lo), b = (unsigned)__float_as_int(hi);
    a = (a & 0x7fffffffu) > 0x7f800000u ? (a >> 16) | 0x40u : (a + 0x7fffu + ((a >> 16) & 1u)) >> 16;
    b = (b & 0x7fffffffu) > 0x7f800000u ? (b >> 16) | 0x40u : (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
    return a | (b << 16);
#endif
}

__device__ __forceinline__ float lc_bf16_lo(unsigned x) { return __int_as_float((int)(x << 16)); }
__device__ __forceinline__ float lc_bf16_hi(unsigned x) { return __int_as_float((int)(x & 0xffff0000u)); }

// fp32 -> tf32 bit pattern, nearest with ties away from zero (cvt.rna.tf32.f32).
__device__ __forceinline__ unsigned lc_cvt_tf32(float x)
{
#if defined(LC_EMULATION)
    return lc_emu::f32ToTf32(x);
#elif defined(LC_TENSOR_CORES)
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#else
    return (unsigned)__float_as_int(x);
#endif
}

// 16 bytes global -> shared (cp.async.cg on sm_80+, waited for by lc_cp_async_wait); both 16-byte aligned.
__device__ __forceinline__ void lc_cp_async16(void* dst, const void* src)
{
#if defined(LC_EMULATION)
    lc_emu::cp_async16(dst, src);
#elif defined(LC_TENSOR_CORES)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" :: "r"(lc_smem_u32(dst)), "l"(src) : "memory");
#else
    const unsigned* s = (const unsigned*)src;
    unsigned* d = (unsigned*)dst;
    d[0] = s[0]; d[1] = s[1]; d[2] = s[2]; d[3] = s[3];
#endif
}

__device__ __forceinline__ void lc_cp_async_wait()
{
#if defined(LC_TENSOR_CORES)
    asm volatile("cp.async.commit_group;" ::: "memory");
    asm volatile("cp.async.wait_group 0;" ::: "memory");
#endif
}

// ---------------------------------------------------------------------------------------------------------------
// Attention on tensor cores, bf16: flash-style, one block of 4 warps per 64 queries of one (batch, head); each warp
// owns 16 query rows. K and V tiles of 64 keys go through shared memory (rows padded by 8 bf16 = 16 bytes, so the 8
// row addresses of an ldmatrix hit 8 different 16-byte bank groups); S = Q K^T and O += P V on mma m16n8k16 with fp32
// accumulators; fp32 online softmax (running max and sum per row, exp2 with scale*log2(e) folded in). Only key tiles
// at or below the diagonal are visited, the mask is applied on the diagonal tile only.

#define LC_FA_BQ 64  // queries per block (16 per warp)
#define LC_FA_BK 64  // keys per tile
#define LC_FA_PAD 8  // bf16 elements of padding per shared row

// The scores of one warp's mma accumulators (NT n-tiles of 8 keys from key k0; C/D layout: s[j][0..1] row g = rowA,
// s[j][2..3] row g+8 = rowB, columns 2t, 2t+1) scaled by sl2 (scale / ln 2) in place, keys past a row's own position
// masked to -inf on the diagonal tile, and each row's maximum over its 4 lanes merged into xA, xB (the running maxima
// on entry). Shared by attention_bf16 and attention_tf32.
template <int NT>
__device__ __forceinline__ void lc_scale_mask_rowmax(float (&s)[NT][4], float sl2, bool diag, int k0, int t, int rowA,
    int rowB, float& xA, float& xB)
{
#pragma unroll
    for (int j = 0; j < NT; j++) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int key = k0 + j * 8 + 2 * t + (i & 1);
            float v = s[j][i] * sl2;
            if (diag && key > (i < 2 ? rowA : rowB)) v = lc_neg_inf();
            s[j][i] = v;
            if (i < 2) xA = fmaxf(xA, v); else xB = fmaxf(xB, v);
        }
    }
    // A row's scores sit in the 4 lanes of its group.
    xA = fmaxf(xA, __shfl_xor_sync(LC_FULL_MASK, xA, 1));
    xA = fmaxf(xA, __shfl_xor_sync(LC_FULL_MASK, xA, 2));
    xB = fmaxf(xB, __shfl_xor_sync(LC_FULL_MASK, xB, 1));
    xB = fmaxf(xB, __shfl_xor_sync(LC_FULL_MASK, xB, 2));
}

// Rows [r0, r0+64) of a (rows, HS) bf16 slice with row stride `stride` -> shared (64, HS+PAD); rows >= nrows are 0.
template <int HS>
__device__ __forceinline__ void lc_fa_load_tile(unsigned short* dst, const unsigned short* src, long long stride, int r0, int nrows)
{
    const int chunks = HS / 8; // 16-byte pieces per row
    for (int idx = threadIdx.x; idx < 64 * chunks; idx += blockDim.x) {
        int r = idx / chunks, c = (idx - r * chunks) * 8;
        unsigned short* s = dst + r * (HS + LC_FA_PAD) + c;
        if (r0 + r < nrows) lc_cp_async16(s, src + (long long)(r0 + r) * stride + c);
        else { unsigned* z = (unsigned*)s; z[0] = 0u; z[1] = 0u; z[2] = 0u; z[3] = 0u; }
    }
}

template <int HS>
__device__ void lc_attention_bf16(unsigned short* out, const unsigned short* qkv, int T, int NH, int NKV, float scale,
    const float* cosT, const float* sinT, int R)
{
    const int LD = HS + LC_FA_PAD;
    const int KSTEPS = HS / 16; // k-steps of S = Q K^T
    const int DT = HS / 8;      // 8-wide column tiles of O
    LC_DYNAMIC_SHARED(float, lc_smem);
    unsigned short* ks = reinterpret_cast<unsigned short*>(lc_smem); // (64, LD); the Q tile passes through it first
    unsigned short* vs = ks + LC_FA_BK * LD;                         // (64, LD)
    int C = NH * HS;
    long long rs = (long long)(NH + 2 * NKV) * HS; // q (NH heads) | k (NKV) | v (NKV)
    int qt = (int)gridDim.x - 1 - (int)blockIdx.x; // the longest rows (most key tiles) start first
    int h = blockIdx.y;
    long long b = blockIdx.z;
    const unsigned short* base = qkv + b * T * rs + (long long)h * HS;
    const unsigned short* kbase = qkv + b * T * rs + C + (long long)(h / (NH / NKV)) * HS; // this q head's k/v head
    const unsigned short* vbase = kbase + (long long)NKV * HS;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int mi = lane >> 3, mr = lane & 7; // the ldmatrix matrix and row this lane addresses
    int q0 = qt * LC_FA_BQ;
    int rowA = q0 + warp * 16 + g, rowB = rowA + 8; // this lane's two query rows

    lc_fa_load_tile<HS>(ks, base, rs, q0, T);
    lc_cp_async_wait();
    __syncthreads();
    if (R > 0) { // the fused rotary on the Q tile, before its fragments are read
        lc_rope_tile(ks, LD, LC_FA_BQ, q0, T, cosT, sinT, R);
        __syncthreads();
    }
    unsigned qa[KSTEPS][4];
#pragma unroll
    for (int kk = 0; kk < KSTEPS; kk++)
        lc_ldmatrix_x4(qa[kk], ks + (warp * 16 + mr + (mi & 1) * 8) * LD + kk * 16 + (mi >> 1) * 8);

    float o[DT][4];
#pragma unroll
    for (int d = 0; d < DT; d++) { o[d][0] = 0.0f; o[d][1] = 0.0f; o[d][2] = 0.0f; o[d][3] = 0.0f; }
    float mA = lc_neg_inf(), mB = lc_neg_inf(); // running max (log2 units) of rows A and B
    float lA = 0.0f, lB = 0.0f;                 // this lane's part of the running sums
    const float sl2 = scale * LC_INV_LN2;
    for (int kt = 0; kt <= qt; kt++) {
        __syncthreads(); // the previous tiles (or the Q tile) are consumed
        lc_fa_load_tile<HS>(ks, kbase, rs, kt * LC_FA_BK, T);
        lc_fa_load_tile<HS>(vs, vbase, rs, kt * LC_FA_BK, T);
        lc_cp_async_wait();
        __syncthreads();
        if (R > 0) { // and on each K tile
            lc_rope_tile(ks, LD, LC_FA_BK, kt * LC_FA_BK, T, cosT, sinT, R);
            __syncthreads();
        }

        bool diag = kt == qt;
        float s[8][4]; // S (16 x 64): n-tile j holds keys 8j..8j+7
#pragma unroll
        for (int j = 0; j < 8; j++) { s[j][0] = 0.0f; s[j][1] = 0.0f; s[j][2] = 0.0f; s[j][3] = 0.0f; }
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
            for (int j = 0; j < 8; j += 2) {
                // On the diagonal tile, keys 8j.. lie wholly above this warp's rows when j/2 > warp: their scores are
                // masked anyway, so the warp skips them (a warp-uniform branch; the results do not change).
                if (diag && (j >> 1) > warp) continue;
                unsigned kb[4]; // B fragments of key n-tiles j (kb[0..1]) and j+1 (kb[2..3])
                lc_ldmatrix_x4(kb, ks + (j * 8 + mr + (mi >> 1) * 8) * LD + kk * 16 + (mi & 1) * 8);
                lc_mma_bf16_16816(s[j], qa[kk], kb, s[j]);
                lc_mma_bf16_16816(s[j + 1], qa[kk], kb + 2, s[j + 1]);
            }
        }
        float xA = mA, xB = mB;
        lc_scale_mask_rowmax(s, sl2, diag, kt * LC_FA_BK, t, rowA, rowB, xA, xB);
        // Key kt*64 <= every row of this block is visible, so xA, xB are finite; exp2(-inf) = 0 on the first tile.
        float cA = exp2f(mA - xA), cB = exp2f(mB - xB);
        mA = xA;
        mB = xB;
        unsigned pa[4][4]; // P (16 x 64) as A fragments of four 16-key k-steps
#pragma unroll
        for (int j = 0; j < 8; j++) {
            unsigned pA = lc_pack_bf16x2(exp2f(s[j][0] - xA), exp2f(s[j][1] - xA));
            unsigned pB = lc_pack_bf16x2(exp2f(s[j][2] - xB), exp2f(s[j][3] - xB));
            // The sums take the rounded weights: the output is then a convex combination of the V rows.
            lA = lA * (j == 0 ? cA : 1.0f) + lc_bf16_lo(pA) + lc_bf16_hi(pA);
            lB = lB * (j == 0 ? cB : 1.0f) + lc_bf16_lo(pB) + lc_bf16_hi(pB);
            pa[j >> 1][(j & 1) * 2 + 0] = pA; // C layout (g, 2t..) of n-tile j = A layout (g, 2t..) or (g, 2t+8..)
            pa[j >> 1][(j & 1) * 2 + 1] = pB;
        }
#pragma unroll
        for (int d = 0; d < DT; d++) { o[d][0] *= cA; o[d][1] *= cA; o[d][2] *= cB; o[d][3] *= cB; }
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            if (diag && kk > warp) continue; // weights 0: keys above this warp's rows
#pragma unroll
            for (int d = 0; d < DT; d += 2) {
                unsigned vb[4]; // B fragments of column tiles d (vb[0..1]) and d+1 (vb[2..3]), keys 16kk..16kk+15
                lc_ldmatrix_x4_trans(vb, vs + (kk * 16 + mr + (mi & 1) * 8) * LD + d * 8 + (mi >> 1) * 8);
                lc_mma_bf16_16816(o[d], pa[kk], vb, o[d]);
                lc_mma_bf16_16816(o[d + 1], pa[kk], vb + 2, o[d + 1]);
            }
        }
    }
    lA += __shfl_xor_sync(LC_FULL_MASK, lA, 1);
    lA += __shfl_xor_sync(LC_FULL_MASK, lA, 2);
    lB += __shfl_xor_sync(LC_FULL_MASK, lB, 1);
    lB += __shfl_xor_sync(LC_FULL_MASK, lB, 2);
    float iA = 1.0f / lA, iB = 1.0f / lB;
    unsigned short* oA = out + (b * T + rowA) * (long long)C + (long long)h * HS + 2 * t;
    unsigned short* oB = oA + 8LL * C;
#pragma unroll
    for (int d = 0; d < DT; d++) {
        if (rowA < T) *reinterpret_cast<unsigned*>(oA + d * 8) = lc_pack_bf16x2(o[d][0] * iA, o[d][1] * iA);
        if (rowB < T) *reinterpret_cast<unsigned*>(oB + d * 8) = lc_pack_bf16x2(o[d][2] * iB, o[d][3] * iB);
    }
}

// Register caps (head size 64: 4 blocks of 128 threads per SM, so 128 registers; bf16 128: 3 blocks, 170 registers;
// tf32 128 stays uncapped: at 170 it spills), declared ahead of the definitions: the kernel tables take each
// kernel's name from the definition line (the extern "C" linkage, __global__, void, then the name).
extern "C" {
__global__ void __launch_bounds__(128, 4) attention_bf16_hs64(unsigned short* __restrict__ out,
    const unsigned short* __restrict__ qkv, int B, int T, int NH, int NKV, int HS, float scale,
    const float* __restrict__ cosT, const float* __restrict__ sinT, int R);
__global__ void __launch_bounds__(128, 4) attention_tf32_hs64(float* __restrict__ out, const float* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale, const float* __restrict__ cosT, const float* __restrict__ sinT, int R);
__global__ void __launch_bounds__(128, 3) attention_bf16_hs128(unsigned short* __restrict__ out,
    const unsigned short* __restrict__ qkv, int B, int T, int NH, int NKV, int HS, float scale,
    const float* __restrict__ cosT, const float* __restrict__ sinT, int R);
}

// out (B,T,C) bf16 = causal attention of qkv (B,T,3C) bf16, HS = 64; grid (ceil(T/64), NH, B), block 128. One kernel
// per head size: each gets the registers its own fragments need (the 64 one more blocks per SM).
extern "C" __global__ void attention_bf16_hs64(unsigned short* __restrict__ out,
    const unsigned short* __restrict__ qkv, int B, int T, int NH, int NKV, int HS, float scale,
    const float* __restrict__ cosT, const float* __restrict__ sinT, int R)
{
    (void)B; // the grid's z extent
    if (HS == 64) lc_attention_bf16<64>(out, qkv, T, NH, NKV, scale, cosT, sinT, R);
}

// The same for HS = 128.
extern "C" __global__ void attention_bf16_hs128(unsigned short* __restrict__ out,
    const unsigned short* __restrict__ qkv, int B, int T, int NH, int NKV, int HS, float scale,
    const float* __restrict__ cosT, const float* __restrict__ sinT, int R)
{
    (void)B;
    if (HS == 128) lc_attention_bf16<128>(out, qkv, T, NH, NKV, scale, cosT, sinT, R);
}

// ---------------------------------------------------------------------------------------------------------------
// Attention on tensor cores, tf32: fp32 qkv and output, the bf16 kernel's structure on mma m16n8k8 tf32. Q fragments
// come straight from global memory (once per block), K and V tiles of 32 keys go through shared memory as fp32 (K rows
// padded to HS+4 floats, V rows to HS+8, so the fragment reads of a warp hit 32 different banks); P moves from the
// accumulator layout to the A layout with warp shuffles. Operands rounded by cvt.rna.tf32.

#define LC_FT_BK 32 // keys per tile

// Rows [r0, r0+rows) of a (rows, HS) fp32 slice with row stride `stride` -> shared (rows, ld); rows >= nrows are 0.
template <int HS>
__device__ __forceinline__ void lc_ft_load_tile(float* dst, int ld, const float* src, long long stride, int r0, int rows, int nrows)
{
    const int chunks = HS / 4; // 16-byte pieces per row
    for (int idx = threadIdx.x; idx < rows * chunks; idx += blockDim.x) {
        int r = idx / chunks, c = (idx - r * chunks) * 4;
        float* s = dst + r * ld + c;
        if (r0 + r < nrows) lc_cp_async16(s, src + (long long)(r0 + r) * stride + c);
        else { s[0] = 0.0f; s[1] = 0.0f; s[2] = 0.0f; s[3] = 0.0f; }
    }
}

template <int HS>
__device__ void lc_attention_tf32(float* out, const float* qkv, int T, int NH, int NKV, float scale,
    const float* cosT, const float* sinT, int R)
{
    const int LDK = HS + 4, LDV = HS + 8;
    const int KSTEPS = HS / 8; // k-steps of S = Q K^T
    const int DT = HS / 8;     // 8-wide column tiles of O
    LC_DYNAMIC_SHARED(float, lc_smem);
    float* ks = lc_smem;             // (32, LDK)
    float* vs = ks + LC_FT_BK * LDK; // (32, LDV)
    int C = NH * HS;
    long long rs = (long long)(NH + 2 * NKV) * HS; // q (NH heads) | k (NKV) | v (NKV)
    int qt = (int)gridDim.x - 1 - (int)blockIdx.x; // the longest rows first
    int h = blockIdx.y;
    long long b = blockIdx.z;
    const float* base = qkv + b * T * rs + (long long)h * HS;
    const float* kbase = qkv + b * T * rs + C + (long long)(h / (NH / NKV)) * HS; // this q head's k/v head
    const float* vbase = kbase + (long long)NKV * HS;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int q0 = qt * LC_FA_BQ;
    int rowA = q0 + warp * 16 + g, rowB = rowA + 8;

    unsigned qa[KSTEPS][4];
    if (R > 0) { // the fused rotary: each Q element turned as rotary_forward would have stored it
        const float* rA = base + (long long)rowA * rs;
        const float* rB = base + (long long)rowB * rs;
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
            qa[kk][0] = lc_cvt_tf32(rowA < T ? lc_rope_at(rA, kk * 8 + t, rowA, cosT, sinT, R) : 0.0f);
            qa[kk][1] = lc_cvt_tf32(rowB < T ? lc_rope_at(rB, kk * 8 + t, rowB, cosT, sinT, R) : 0.0f);
            qa[kk][2] = lc_cvt_tf32(rowA < T ? lc_rope_at(rA, kk * 8 + t + 4, rowA, cosT, sinT, R) : 0.0f);
            qa[kk][3] = lc_cvt_tf32(rowB < T ? lc_rope_at(rB, kk * 8 + t + 4, rowB, cosT, sinT, R) : 0.0f);
        }
    } else {
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
            const float* pA = base + (long long)rowA * rs + kk * 8 + t;
            const float* pB = base + (long long)rowB * rs + kk * 8 + t;
            qa[kk][0] = lc_cvt_tf32(rowA < T ? pA[0] : 0.0f);
            qa[kk][1] = lc_cvt_tf32(rowB < T ? pB[0] : 0.0f);
            qa[kk][2] = lc_cvt_tf32(rowA < T ? pA[4] : 0.0f);
            qa[kk][3] = lc_cvt_tf32(rowB < T ? pB[4] : 0.0f);
        }
    }
    float o[DT][4];
#pragma unroll
    for (int d = 0; d < DT; d++) { o[d][0] = 0.0f; o[d][1] = 0.0f; o[d][2] = 0.0f; o[d][3] = 0.0f; }
    float mA = lc_neg_inf(), mB = lc_neg_inf(), lA = 0.0f, lB = 0.0f;
    const float sl2 = scale * LC_INV_LN2;
    int tiles = lc_min(2 * qt + 2, (T + LC_FT_BK - 1) / LC_FT_BK); // key tiles at or below the diagonal
    for (int kt = 0; kt < tiles; kt++) {
        __syncthreads(); // the previous tiles are consumed
        lc_ft_load_tile<HS>(ks, LDK, kbase, rs, kt * LC_FT_BK, LC_FT_BK, T);
        lc_ft_load_tile<HS>(vs, LDV, vbase, rs, kt * LC_FT_BK, LC_FT_BK, T);
        lc_cp_async_wait();
        __syncthreads();
        if (R > 0) { // the fused rotary on the K tile
            lc_rope_tile(ks, LDK, LC_FT_BK, kt * LC_FT_BK, T, cosT, sinT, R);
            __syncthreads();
        }

        bool diag = kt >= 2 * qt; // the two key tiles that meet this block's queries
        int above = (kt - 2 * qt) * LC_FT_BK - warp * 16; // on those, n-tile j is wholly masked when 8j > 15 - above
        float s[4][4]; // S (16 x 32): n-tile j holds keys 8j..8j+7
#pragma unroll
        for (int j = 0; j < 4; j++) { s[j][0] = 0.0f; s[j][1] = 0.0f; s[j][2] = 0.0f; s[j][3] = 0.0f; }
#pragma unroll
        for (int kk = 0; kk < KSTEPS; kk++) {
#pragma unroll
            for (int j = 0; j < 4; j++) {
                if (diag && above + 8 * j > 15) continue; // masked anyway: the warp skips it (warp-uniform)
                const float* kr = ks + (j * 8 + g) * LDK + kk * 8 + t; // b0 = (dim t, key g), b1 = (dim t+4, key g)
                unsigned kb[2] = {lc_cvt_tf32(kr[0]), lc_cvt_tf32(kr[4])};
                lc_mma_tf32_1688(s[j], qa[kk], kb, s[j]);
            }
        }
        float xA = mA, xB = mB;
        lc_scale_mask_rowmax(s, sl2, diag, kt * LC_FT_BK, t, rowA, rowB, xA, xB);
        // Key 0 of tile 0 is visible to every row, so the running max is finite from the first tile on; a tile wholly
        // above a row's diagonal leaves its max alone (corr 1, weights 0).
        float cA = exp2f(mA - xA), cB = exp2f(mB - xB);
        mA = xA;
        mB = xB;
        lA *= cA;
        lB *= cB;
#pragma unroll
        for (int d = 0; d < DT; d++) { o[d][0] *= cA; o[d][1] *= cA; o[d][2] *= cB; o[d][3] *= cB; }
        int srcLo = (lane & ~3) | (t >> 1), srcHi = srcLo + 2; // lanes holding columns t and t+4 of a row pair
#pragma unroll
        for (int j = 0; j < 4; j++) {
            // P of n-tile j, accumulator layout: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1), rounded to tf32.
            unsigned p0 = lc_cvt_tf32(exp2f(s[j][0] - xA)), p1 = lc_cvt_tf32(exp2f(s[j][1] - xA));
            unsigned p2 = lc_cvt_tf32(exp2f(s[j][2] - xB)), p3 = lc_cvt_tf32(exp2f(s[j][3] - xB));
            lA += __int_as_float((int)p0) + __int_as_float((int)p1);
            lB += __int_as_float((int)p2) + __int_as_float((int)p3);
            // A layout for the 8 keys of this k-step: a0 = (g, t), a1 = (g+8, t), a2 = (g, t+4), a3 = (g+8, t+4).
            unsigned e0 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p0, srcLo), e1 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p1, srcLo);
            unsigned e2 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p2, srcLo), e3 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p3, srcLo);
            unsigned f0 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p0, srcHi), f1 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p1, srcHi);
            unsigned f2 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p2, srcHi), f3 = (unsigned)__shfl_sync(LC_FULL_MASK, (int)p3, srcHi);
            bool odd = t & 1;
            unsigned pa[4] = {odd ? e1 : e0, odd ? e3 : e2, odd ? f1 : f0, odd ? f3 : f2};
            if (diag && above + 8 * j > 15) continue; // weights 0
#pragma unroll
            for (int d = 0; d < DT; d++) {
                const float* vr = vs + (j * 8 + t) * LDV + d * 8 + g; // b0 = (key t, dim g), b1 = (key t+4, dim g)
                unsigned vb[2] = {lc_cvt_tf32(vr[0]), lc_cvt_tf32(vr[4 * LDV])};
                lc_mma_tf32_1688(o[d], pa, vb, o[d]);
            }
        }
    }
    lA += __shfl_xor_sync(LC_FULL_MASK, lA, 1);
    lA += __shfl_xor_sync(LC_FULL_MASK, lA, 2);
    lB += __shfl_xor_sync(LC_FULL_MASK, lB, 1);
    lB += __shfl_xor_sync(LC_FULL_MASK, lB, 2);
    float iA = 1.0f / lA, iB = 1.0f / lB;
    float* oA = out + (b * T + rowA) * (long long)C + (long long)h * HS + 2 * t;
    float* oB = oA + 8LL * C;
#pragma unroll
    for (int d = 0; d < DT; d++) {
        if (rowA < T) { oA[d * 8] = o[d][0] * iA; oA[d * 8 + 1] = o[d][1] * iA; }
        if (rowB < T) { oB[d * 8] = o[d][2] * iB; oB[d * 8 + 1] = o[d][3] * iB; }
    }
}

// out (B,T,C) = causal attention of qkv (B,T,3C), fp32 storage, tf32 tensor cores, HS = 64; grid (ceil(T/64), NH, B),
// block 128
extern "C" __global__ void attention_tf32_hs64(float* __restrict__ out, const float* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale, const float* __restrict__ cosT, const float* __restrict__ sinT, int R)
{
    (void)B;
    if (HS == 64) lc_attention_tf32<64>(out, qkv, T, NH, NKV, scale, cosT, sinT, R);
}

// The same for HS = 128.
extern "C" __global__ void attention_tf32_hs128(float* __restrict__ out, const float* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale, const float* __restrict__ cosT, const float* __restrict__ sinT, int R)
{
    (void)B;
    if (HS == 128) lc_attention_tf32<128>(out, qkv, T, NH, NKV, scale, cosT, sinT, R);
}

// ---------------------------------------------------------------------------------------------------------------
// Attention in exact fp32 arithmetic, tiled SIMT (the parity mode's kernel): one block of 128 threads per 32 queries of
// one (batch, head); thread (ty = tid/16, tx = tid%16) owns query rows 4ty..4ty+3 and, per tile of 32 keys, the scores
// of keys tx and tx+16 (a 4x2 register tile) and output columns tx + 16j (a 4 x HS/16 register tile). The Q tile stays
// in shared memory; K and then V of each tile take turns in one shared buffer (rows padded to HS+1 floats: 16 threads
// reading 16 rows hit 16 banks); the probabilities go through a 32x33 shared tile. A row's 16 threads are 16
// consecutive lanes: row max and sum by half-warp shuffles. Online softmax over the tiles at or below the diagonal;
// the mask on the diagonal tile only. Scores are dot * scale, weights expf(s - max), as CpuOps.Attention.

#define LC_F32_BQ 32 // queries per block, and keys per tile

template <int NJ> // output columns per thread: HS <= 16 * NJ
__device__ void lc_attention_fp32(float* out, const float* qkv, int T, int NH, int NKV, int HS, float scale,
    const float* cosT, const float* sinT, int R)
{
    LC_DYNAMIC_SHARED(float, lc_smem);
    const int LD = HS + 1;
    float* qs = lc_smem;                  // (32, LD)
    float* kvs = qs + LC_F32_BQ * LD;     // (32, LD): K, then V of the current tile
    float* ps = kvs + LC_F32_BQ * LD;     // (32, 33)
    int C = NH * HS;
    long long rs = (long long)(NH + 2 * NKV) * HS; // q (NH heads) | k (NKV) | v (NKV)
    int qt = (int)gridDim.x - 1 - (int)blockIdx.x; // the longest rows first
    int h = blockIdx.y;
    long long b = blockIdx.z;
    const float* base = qkv + b * T * rs + (long long)h * HS;
    const float* kbase = qkv + b * T * rs + C + (long long)(h / (NH / NKV)) * HS; // this q head's k/v head
    const float* vbase = kbase + (long long)NKV * HS;
    int tid = threadIdx.x, ty = tid >> 4, tx = tid & 15;
    int q0 = qt * LC_F32_BQ;
    for (int idx = tid; idx < LC_F32_BQ * HS; idx += blockDim.x) {
        int r = idx / HS, d = idx - r * HS;
        qs[r * LD + d] = q0 + r < T ? base[(long long)(q0 + r) * rs + d] : 0.0f;
    }
    if (R > 0) { // the fused rotary on the Q tile (the loop's first barrier publishes it)
        __syncthreads();
        lc_rope_tile(qs, LD, LC_F32_BQ, q0, T, cosT, sinT, R);
    }
    float m[4], l[4], acc[4][NJ];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        m[i] = lc_neg_inf();
        l[i] = 0.0f;
#pragma unroll
        for (int j = 0; j < NJ; j++) acc[i][j] = 0.0f;
    }
    for (int kt = 0; kt <= qt; kt++) {
        int k0 = kt * LC_F32_BQ;
        __syncthreads(); // the previous V tile is consumed (and qs written, on the first pass)
        for (int idx = tid; idx < LC_F32_BQ * HS; idx += blockDim.x) {
            int r = idx / HS, d = idx - r * HS;
            kvs[r * LD + d] = k0 + r < T ? kbase[(long long)(k0 + r) * rs + d] : 0.0f;
        }
        __syncthreads();
        if (R > 0) { // and on each K tile
            lc_rope_tile(kvs, LD, LC_F32_BQ, k0, T, cosT, sinT, R);
            __syncthreads();
        }
        float s[4][2];
#pragma unroll
        for (int i = 0; i < 4; i++) { s[i][0] = 0.0f; s[i][1] = 0.0f; }
        const float* k0r = kvs + tx * LD;
        const float* k1r = kvs + (tx + 16) * LD;
        for (int d = 0; d < HS; d++) {
            float ka = k0r[d], kb = k1r[d];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float qv = qs[(4 * ty + i) * LD + d];
                s[i][0] += qv * ka;
                s[i][1] += qv * kb;
            }
        }
        bool diag = kt == qt;
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int row = q0 + 4 * ty + i;
            float s0 = s[i][0] * scale, s1 = s[i][1] * scale;
            if (diag && k0 + tx > row) s0 = lc_neg_inf();
            if (diag && k0 + tx + 16 > row) s1 = lc_neg_inf();
            float mx = fmaxf(m[i], fmaxf(s0, s1));
            mx = fmaxf(mx, __shfl_xor_sync(LC_FULL_MASK, mx, 1));
            mx = fmaxf(mx, __shfl_xor_sync(LC_FULL_MASK, mx, 2));
            mx = fmaxf(mx, __shfl_xor_sync(LC_FULL_MASK, mx, 4));
            mx = fmaxf(mx, __shfl_xor_sync(LC_FULL_MASK, mx, 8));
            // Key k0 <= row is visible to every row of the tile (k0 <= q0), so mx is finite from the first tile on.
            float corr = expf(m[i] - mx);
            m[i] = mx;
            float p0 = expf(s0 - mx), p1 = expf(s1 - mx);
            l[i] = l[i] * corr + p0 + p1;
#pragma unroll
            for (int j = 0; j < NJ; j++) acc[i][j] *= corr;
            ps[(4 * ty + i) * 33 + tx] = p0;
            ps[(4 * ty + i) * 33 + tx + 16] = p1;
        }
        __syncthreads(); // K consumed, P written
        for (int idx = tid; idx < LC_F32_BQ * HS; idx += blockDim.x) {
            int r = idx / HS, d = idx - r * HS;
            kvs[r * LD + d] = k0 + r < T ? vbase[(long long)(k0 + r) * rs + d] : 0.0f;
        }
        __syncthreads();
        for (int k = 0; k < LC_F32_BQ; k++) { // masked weights are 0 (and V rows past T are zero-filled)
            const float* vr = kvs + k * LD;
            float pv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) pv[i] = ps[(4 * ty + i) * 33 + k];
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                int c = tx + 16 * j;
                float v = c < HS ? vr[c] : 0.0f;
#pragma unroll
                for (int i = 0; i < 4; i++) acc[i][j] += pv[i] * v;
            }
        }
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float sum = l[i];
        sum += __shfl_xor_sync(LC_FULL_MASK, sum, 1);
        sum += __shfl_xor_sync(LC_FULL_MASK, sum, 2);
        sum += __shfl_xor_sync(LC_FULL_MASK, sum, 4);
        sum += __shfl_xor_sync(LC_FULL_MASK, sum, 8);
        int row = q0 + 4 * ty + i;
        if (row < T) {
            float inv = 1.0f / sum;
            float* o = out + (b * T + row) * (long long)C + (long long)h * HS;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                int c = tx + 16 * j;
                if (c < HS) o[c] = acc[i][j] * inv;
            }
        }
    }
}

// out (B,T,C) = causal attention of qkv (B,T,3C), exact fp32, HS <= 64; grid (ceil(T/32), NH, B), block 128
extern "C" __global__ void attention_fp32_hs64(float* __restrict__ out, const float* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale, const float* __restrict__ cosT, const float* __restrict__ sinT, int R)
{
    (void)B;
    if (HS <= 64) lc_attention_fp32<4>(out, qkv, T, NH, NKV, HS, scale, cosT, sinT, R);
}

// The same for 64 < HS <= 128.
extern "C" __global__ void attention_fp32_hs128(float* __restrict__ out, const float* __restrict__ qkv,
    int B, int T, int NH, int NKV, int HS, float scale, const float* __restrict__ cosT, const float* __restrict__ sinT, int R)
{
    (void)B;
    if (HS > 64 && HS <= 128) lc_attention_fp32<8>(out, qkv, T, NH, NKV, HS, scale, cosT, sinT, R);
}

// ---------------------------------------------------------------------------------------------------------------
// Output head: surprisal with an online logsumexp over logit chunks

// Merges the (max, sum of exp(x - max)) pair (m2, s2) into (m, s).
__device__ __forceinline__ void lc_lse_merge(float& m, float& s, float m2, float s2)
{
    if (m2 == lc_neg_inf()) return; // nothing seen on that side
    if (m2 > m) { s = s * expf(m - m2) + s2; m = m2; }
    else s += s2 * expf(m2 - m);
}

// state (3,M) = max | sum | target logit, updated with logits (M, ld) columns chunkStart..chunkStart+cols-1; block per row
extern "C" __global__ void surprisal_chunk(float* __restrict__ state, const float* __restrict__ logits,
    const int* __restrict__ targets, int M, int cols, int ld, int chunkStart)
{
    __shared__ float wm[32];
    __shared__ float ws[32];
    int row = blockIdx.x;
    if (row >= M) return; // whole block leaves together
    const float* z = logits + (long long)row * ld;
    float m = lc_neg_inf(), s = 0.0f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float x = z[j];
        if (x > m) { s = s * expf(m - x) + 1.0f; m = x; } // expf(-inf) = 0 on the first element
        else s += expf(x - m);
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(LC_FULL_MASK, m, o);
        float s2 = __shfl_xor_sync(LC_FULL_MASK, s, o);
        lc_lse_merge(m, s, m2, s2);
    }
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
    if (lane == 0) { wm[warp] = m; ws[warp] = s; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < warps; w++) lc_lse_merge(m, s, wm[w], ws[w]);
        if (chunkStart != 0) lc_lse_merge(m, s, state[row], state[M + row]);
        state[row] = m;
        state[M + row] = s;
        int t = targets[row] - chunkStart;
        if (t >= 0 && t < cols) state[2 * M + row] = z[t];
        else if (chunkStart == 0) state[2 * M + row] = lc_nan(); // NaN until the chunk holding the target comes
    }
}

// out (M) = (max + log(sum) - z_target) / ln 2 from state (3,M)
extern "C" __global__ void surprisal_finish(float* __restrict__ out, const float* __restrict__ state, int M)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < M) out[i] = (state[i] + logf(state[M + i]) - state[2 * M + i]) * LC_INV_LN2;
}

// ---------------------------------------------------------------------------------------------------------------
// Dtype conversion (16-bit values as raw bits, so no toolkit header is needed)

// out (n) bf16 = inp (n) f32, round to nearest even
extern "C" __global__ void convert_f32_to_bf16(unsigned short* __restrict__ out, const float* __restrict__ inp, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = lc_bf16(inp[i]);
}

// out (n) f32 = inp (n) bf16
extern "C" __global__ void convert_bf16_to_f32(float* __restrict__ out, const unsigned short* __restrict__ inp, long long n)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = __int_as_float((int)((unsigned)inp[i] << 16));
}

// ---------------------------------------------------------------------------------------------------------------
// Plain tiled SGEMM (emulation path and reference)

#define LC_GEMM_BM 64
#define LC_GEMM_BN 64
#define LC_GEMM_BK 16

// c[z] (M,N) = alpha * a[z] (M,K) @ op(b[z]) + bias (N); grid (ceil(N/64), ceil(M/64), batch), block 256
extern "C" __global__ void sgemm_tiled(float* __restrict__ c, const float* __restrict__ a, const float* __restrict__ b,
    const float* __restrict__ bias, int M, int N, int K, int lda, int ldb, int ldc, int transB,
    long long strideA, long long strideB, long long strideC, float alpha)
{
    __shared__ float as[LC_GEMM_BK][LC_GEMM_BM + 1]; // (BK, BM): a tile stored k-major; +1 avoids bank conflicts on the transposing store
    __shared__ float bs[LC_GEMM_BK][LC_GEMM_BN + 1]; // (BK, BN)
    a += blockIdx.z * strideA;
    b += blockIdx.z * strideB;
    c += blockIdx.z * strideC;
    int m0 = blockIdx.y * LC_GEMM_BM, n0 = blockIdx.x * LC_GEMM_BN;
    int tid = threadIdx.x;
    int tx = tid & 15, ty = tid >> 4; // this thread's outputs: rows ty + 16r, columns tx + 16c (coalesced stores)
    float acc[4][4];
#pragma unroll
    for (int r = 0; r < 4; r++)
#pragma unroll
        for (int q = 0; q < 4; q++) acc[r][q] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += LC_GEMM_BK) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int idx = tid + 256 * e;
            int row = idx >> 4, kk = idx & 15; // a: 16 consecutive k per row
            int gm = m0 + row, gk = k0 + kk;
            as[kk][row] = (gm < M && gk < K) ? a[(long long)gm * lda + gk] : 0.0f;
            if (transB) {
                int col = idx >> 4, kb = idx & 15; // b (N,K): consecutive k are contiguous
                int gn = n0 + col, gkb = k0 + kb;
                bs[kb][col] = (gn < N && gkb < K) ? b[(long long)gn * ldb + gkb] : 0.0f;
            } else {
                int kb = idx >> 6, col = idx & 63; // b (K,N): consecutive n are contiguous
                int gn = n0 + col, gkb = k0 + kb;
                bs[kb][col] = (gn < N && gkb < K) ? b[(long long)gkb * ldb + gn] : 0.0f;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < LC_GEMM_BK; kk++) {
            float av[4], bv[4];
#pragma unroll
            for (int r = 0; r < 4; r++) av[r] = as[kk][ty + 16 * r];
#pragma unroll
            for (int q = 0; q < 4; q++) bv[q] = bs[kk][tx + 16 * q];
#pragma unroll
            for (int r = 0; r < 4; r++)
#pragma unroll
                for (int q = 0; q < 4; q++) acc[r][q] += av[r] * bv[q];
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 4; r++) {
        int gm = m0 + ty + 16 * r;
        if (gm >= M) continue;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            int gn = n0 + tx + 16 * q;
            if (gn < N) c[(long long)gm * ldc + gn] = alpha * acc[r][q] + (bias ? bias[gn] : 0.0f);
        }
    }
}

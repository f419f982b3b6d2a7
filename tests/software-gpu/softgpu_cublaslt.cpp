// softgpu_cublaslt.cpp: the software GPU's libcublasLt.so.12: the cuBLASLt calls CublasLtGemm binds (handle, version,
// status strings, matmul descriptors, matrix layouts, preferences, the heuristic, cublasLtMatmul), following
// cuBLASLt's documented semantics:
//   D = epilogue(alpha op(A) op(B) + beta C + bias), bias (rows of D) broadcast over the columns, added before the
//   activation; C read only when beta != 0; C may be D (in place, with the same layout).
// Layouts: type, rows, cols, ld (elements), order column-major (default) or row-major, batch count and strided batch
// offset (equal batch counts on every matrix; the bias is shared by the batch). Types: compute 32F / 32F_PEDANTIC with
// A and B both f32, f16 or bf16 (D f32, or the inputs' 16-bit type), compute 32F_FAST_TF32 with f32 A, B, D (inputs
// rounded to TF32, nearest, ties away, as cvt.rna.tf32.f32), scale type f32, alpha and beta on the host; C's type is
// D's. The bias has D's type (CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE unset, or set to D's type: the documented default;
// any other bias type is CUBLAS_STATUS_NOT_SUPPORTED here). Epilogues DEFAULT, RELU, BIAS, RELU_BIAS, GELU, GELU_BIAS
// (GELU is the tanh form, GPT-2's gelu_new, computed in double); the AUX and gradient epilogues are NOT_SUPPORTED.
// The heuristic returns one algorithm for a supported problem (and none, with CUBLAS_STATUS_NOT_SUPPORTED, otherwise);
// that algorithm asks for min(1 MiB, the preference's workspace) of workspace, which cublasLtMatmul must be given
// (CUBLAS_STATUS_INVALID_VALUE when smaller) and which the product overwrites when it runs, as a real kernel's scratch.
// Bad descriptors and inconsistent layouts are CUBLAS_STATUS_INVALID_VALUE. The product is stream work of the driver
// shim (deferred like kernels), after every operand range (A, B, C when read, D, bias, workspace) has been checked
// against the device allocations.
#include "softgpu.h"
#include "softgpu_blas.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))

namespace {

// cublasLtMatmulDescAttributes_t
enum : int { kDescCompute = 0, kDescScale = 1, kDescPointerMode = 2, kDescTransA = 3, kDescTransB = 4, kDescTransC = 5,
    kDescEpilogue = 7, kDescBiasPointer = 8, kDescBiasBatchStride = 10, kDescBiasDataType = 26 };
// cublasLtEpilogue_t
enum : uint32_t { kEpiDefault = 1, kEpiRelu = 2, kEpiBias = 4, kEpiReluBias = 6, kEpiGelu = 32, kEpiGeluBias = 36 };
// cublasLtMatrixLayoutAttribute_t
enum : int { kLayoutType = 0, kLayoutOrder = 1, kLayoutRows = 2, kLayoutCols = 3, kLayoutLd = 4, kLayoutBatch = 5, kLayoutBatchStride = 6 };
enum : int { kOrderCol = 0, kOrderRow = 1 };
// cublasLtMatmulPreferenceAttributes_t
enum : int { kPrefSearchMode = 0, kPrefMaxWorkspace = 1, kPrefMinAlignA = 5, kPrefMinAlignD = 8 };

constexpr uint64_t kAlgoMagic = 0x4c43534c54414c47ull; // identifies an algorithm this shim's heuristic returned
constexpr uint64_t kAlgoWorkspace = 1u << 20;

struct Desc
{
    int compute, scale, pointerMode = 0, transA = 0, transB = 0, transC = 0;
    uint32_t epilogue = kEpiDefault;
    uint64_t bias = 0;
    int64_t biasBatchStride = 0;
    int biasType = -1;
};

struct Layout
{
    int type;
    uint64_t rows, cols;
    int64_t ld;
    int order = kOrderCol, batch = 1;
    int64_t batchStride = 0;
};

struct Pref
{
    uint32_t searchMode = 0;
    uint64_t maxWorkspace = 0;
};

struct Algo
{
    uint64_t magic, workspace, reserved[6];
};

struct HeuristicResult
{
    Algo algo;
    size_t workspaceSize;
    int state;
    float wavesCount;
    int reserved[4];
};

std::mutex g_mutex;
std::set<void*> g_handles, g_descs, g_layouts, g_prefs;

bool live(std::set<void*>& s, void* p)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    return p && s.count(p);
}

template <class T> int create(std::set<void*>& s, T** out, T value)
{
    if (!out) return kInvalidValue;
    auto* p = new T(value);
    std::lock_guard<std::mutex> lock(g_mutex);
    s.insert(p);
    *out = p;
    return kSuccess;
}

template <class T> int destroy(std::set<void*>& s, T* p)
{
    if (!p) return kSuccess; // destroying NULL is allowed
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!s.erase(p)) return kInvalidValue;
    delete p;
    return kSuccess;
}

bool knownType(int t) { return t == kR32F || t == kR16F || t == kR16BF; }

// Element (i, j) of a layout: column-major i + j ld, row-major i ld + j.
size_t at(const Layout& l, uint64_t i, uint64_t j) { return l.order == kOrderCol ? (size_t)(i + j * l.ld) : (size_t)(i * l.ld + j); }

// Elements one matrix of a layout spans.
size_t span(const Layout& l)
{
    if (l.rows == 0 || l.cols == 0) return 0;
    return l.order == kOrderCol ? (size_t)((l.cols - 1) * l.ld + l.rows) : (size_t)((l.rows - 1) * l.ld + l.cols);
}

bool layoutValid(const Layout& l)
{
    if (!knownType(l.type) || l.batch < 1 || l.ld < 0) return false;
    if (l.order != kOrderCol && l.order != kOrderRow) return false;
    uint64_t need = l.order == kOrderCol ? l.rows : l.cols;
    return (uint64_t)l.ld >= std::max<uint64_t>(1, need);
}

bool supportedEpilogue(uint32_t e)
{
    return e == kEpiDefault || e == kEpiRelu || e == kEpiBias || e == kEpiReluBias || e == kEpiGelu || e == kEpiGeluBias;
}

bool hasBias(uint32_t e) { return (e & kEpiBias) != 0; }

// The problem a descriptor and four layouts describe: INVALID_VALUE when inconsistent, NOT_SUPPORTED when cuBLASLt
// (as this shim models it) offers no algorithm, else success with m, n, k.
int validate(const Desc& d, const Layout& a, const Layout& b, const Layout& c, const Layout& dl, uint64_t& m, uint64_t& n, uint64_t& k)
{
    auto validOp = [](int op) { return op == 0 || op == 1 || op == 2; };
    if (!validOp(d.transA) || !validOp(d.transB) || !validOp(d.transC)) return kInvalidValue;
    if (!layoutValid(a) || !layoutValid(b) || !layoutValid(c) || !layoutValid(dl)) return kInvalidValue;
    m = dl.rows;
    n = dl.cols;
    uint64_t aRows = d.transA == 0 ? a.rows : a.cols, aCols = d.transA == 0 ? a.cols : a.rows;
    uint64_t bRows = d.transB == 0 ? b.rows : b.cols, bCols = d.transB == 0 ? b.cols : b.rows;
    k = aCols;
    if (aRows != m || bCols != n || bRows != k || c.rows != m || c.cols != n) return kInvalidValue;
    if (a.batch != dl.batch || b.batch != dl.batch || c.batch != dl.batch) return kInvalidValue;
    if (d.transC != 0) return kNotSupported; // documented: only CUBLAS_OP_N
    if (d.pointerMode != 0) return kNotSupported;
    if (d.scale != kR32F) return kNotSupported;
    if (!supportedEpilogue(d.epilogue)) return kNotSupported;
    if (c.type != dl.type || c.order != dl.order) return kNotSupported;
    if (a.type != b.type) return kNotSupported;
    if (d.compute == kCompute32FFastTf32) {
        if (a.type != kR32F || dl.type != kR32F) return kNotSupported;
    }
    else if (d.compute == kCompute32F || d.compute == kCompute32FPedantic) {
        if (a.type == kR32F ? dl.type != kR32F : !(dl.type == kR32F || dl.type == a.type)) return kNotSupported;
    }
    else return kNotSupported;
    if (hasBias(d.epilogue) && d.biasType != -1 && d.biasType != dl.type) return kNotSupported;
    return kSuccess;
}

struct Work
{
    Desc d;
    Layout a, b, c, dl;
    uint64_t m, n, k;
    float alpha, beta;
    uint64_t pa, pb, pc, pd, workspace, workspaceBytes;
};

double geluTanh(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

int runMatmul(void* ctx, char* why, size_t whyLen)
{
    const Work& w = *static_cast<Work*>(ctx);
    int biasType = w.d.biasType == -1 ? w.dl.type : w.d.biasType;
    bool bias = hasBias(w.d.epilogue);
    for (int p = 0; p < w.dl.batch; p++) {
        uint64_t a = w.pa + (uint64_t)(p * w.a.batchStride) * elemSize(w.a.type), b = w.pb + (uint64_t)(p * w.b.batchStride) * elemSize(w.b.type),
                 c = w.pc + (uint64_t)(p * w.c.batchStride) * elemSize(w.c.type), d = w.pd + (uint64_t)(p * w.dl.batchStride) * elemSize(w.dl.type);
        uint64_t biasPtr = w.d.bias + (uint64_t)(p * w.d.biasBatchStride) * elemSize(biasType);
        char inner[400];
        struct { const char* what; uint64_t ptr; size_t bytes; } ranges[] = {
            {"A", a, span(w.a) * elemSize(w.a.type)},
            {"B", b, span(w.b) * elemSize(w.b.type)},
            {"C", c, w.beta != 0 ? span(w.c) * elemSize(w.c.type) : 0},
            {"D", d, span(w.dl) * elemSize(w.dl.type)},
            {"bias", biasPtr, bias ? w.m * elemSize(biasType) : 0},
            {"workspace", w.workspace, w.workspaceBytes},
        };
        for (const auto& r : ranges) {
            if (r.bytes == 0) continue;
            if (int e = lcsg_check_device_range(r.ptr, r.bytes, inner, sizeof inner)) {
                std::snprintf(why, whyLen, "cublasLtMatmul: operand %s of batch %d: %s", r.what, p, inner);
                return e;
            }
        }
        // The algorithm's scratch: overwritten as a real kernel's would be, so a workspace shared with queued work shows.
        if (w.workspaceBytes) std::memset(reinterpret_cast<void*>(w.workspace), 0xa5, w.workspaceBytes);
        bool tf32 = w.d.compute == kCompute32FFastTf32;
        const void *A = reinterpret_cast<const void*>(a), *B = reinterpret_cast<const void*>(b), *C = reinterpret_cast<const void*>(c);
        void* D = reinterpret_cast<void*>(d);
        const void* Bias = reinterpret_cast<const void*>(biasPtr);
        // op(A) row by row and op(B) column by column, each contiguous in k, as f32 (TF32-rounded for FAST_TF32).
        std::vector<float> ap(w.m * w.k), bp(w.n * w.k);
        for (uint64_t i = 0; i < w.m; i++)
            for (uint64_t q = 0; q < w.k; q++) {
                float v = load(A, w.a.type, w.d.transA == 0 ? at(w.a, i, q) : at(w.a, q, i));
                ap[i * w.k + q] = tf32 ? roundTf32(v) : v;
            }
        for (uint64_t j = 0; j < w.n; j++)
            for (uint64_t q = 0; q < w.k; q++) {
                float v = load(B, w.b.type, w.d.transB == 0 ? at(w.b, q, j) : at(w.b, j, q));
                bp[j * w.k + q] = tf32 ? roundTf32(v) : v;
            }
        // The whole result first, then the stores: C may be D.
        std::vector<float> out(w.m * w.n);
        for (uint64_t j = 0; j < w.n; j++) {
            const float* bj = bp.data() + j * w.k;
            for (uint64_t i = 0; i < w.m; i++) {
                const float* ai = ap.data() + i * w.k;
                float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                uint64_t q = 0;
                for (; q + 8 <= w.k; q += 8)
                    for (int u = 0; u < 8; u++) s[u] += ai[q + u] * bj[q + u];
                for (; q < w.k; q++) s[q & 7] += ai[q] * bj[q];
                float v = w.alpha * (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])));
                if (w.beta != 0) v += w.beta * load(C, w.c.type, at(w.c, i, j));
                if (bias) v += load(Bias, biasType, i);
                if (w.d.epilogue == kEpiRelu || w.d.epilogue == kEpiReluBias) v = v > 0 ? v : 0.0f;
                else if (w.d.epilogue == kEpiGelu || w.d.epilogue == kEpiGeluBias) v = (float)geluTanh(v);
                out[j * w.m + i] = v;
            }
        }
        for (uint64_t j = 0; j < w.n; j++)
            for (uint64_t i = 0; i < w.m; i++) store(D, w.dl.type, at(w.dl, i, j), out[j * w.m + i]);
    }
    return 0;
}

int setAttr(void* dst, size_t dstSize, const void* buf, size_t size)
{
    if (!buf || size != dstSize) return kInvalidValue;
    std::memcpy(dst, buf, size);
    return kSuccess;
}

} // namespace

API int cublasLtCreate(void** handle)
{
    if (!handle) return kInvalidValue;
    if (!lcsg_context_current()) lcsg_bind_primary_context();
    if (!lcsg_context_current()) return kNotInitialized;
    auto* h = new int(0);
    std::lock_guard<std::mutex> lock(g_mutex);
    g_handles.insert(h);
    *handle = h;
    return kSuccess;
}

API int cublasLtDestroy(void* handle)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_handles.erase(handle)) return kNotInitialized;
    delete static_cast<int*>(handle);
    return kSuccess;
}

API size_t cublasLtGetVersion(void) { return 120800; }

API int cublasLtMatmulDescCreate(Desc** desc, int compute, int scale)
{
    Desc d{};
    d.compute = compute;
    d.scale = scale;
    return create(g_descs, desc, d);
}

API int cublasLtMatmulDescDestroy(Desc* desc) { return destroy(g_descs, desc); }

API int cublasLtMatmulDescSetAttribute(Desc* desc, int attr, const void* buf, size_t size)
{
    if (!live(g_descs, desc)) return kInvalidValue;
    switch (attr) {
    case kDescCompute: return setAttr(&desc->compute, 4, buf, size);
    case kDescScale: return setAttr(&desc->scale, 4, buf, size);
    case kDescPointerMode: return setAttr(&desc->pointerMode, 4, buf, size);
    case kDescTransA: return setAttr(&desc->transA, 4, buf, size);
    case kDescTransB: return setAttr(&desc->transB, 4, buf, size);
    case kDescTransC: return setAttr(&desc->transC, 4, buf, size);
    case kDescEpilogue: return setAttr(&desc->epilogue, 4, buf, size);
    case kDescBiasPointer: return setAttr(&desc->bias, 8, buf, size);
    case kDescBiasBatchStride: return setAttr(&desc->biasBatchStride, 8, buf, size);
    case kDescBiasDataType: return setAttr(&desc->biasType, 4, buf, size);
    default: return kInvalidValue;
    }
}

API int cublasLtMatrixLayoutCreate(Layout** layout, int type, uint64_t rows, uint64_t cols, int64_t ld)
{
    Layout l{};
    l.type = type;
    l.rows = rows;
    l.cols = cols;
    l.ld = ld;
    return create(g_layouts, layout, l);
}

API int cublasLtMatrixLayoutDestroy(Layout* layout) { return destroy(g_layouts, layout); }

API int cublasLtMatrixLayoutSetAttribute(Layout* layout, int attr, const void* buf, size_t size)
{
    if (!live(g_layouts, layout)) return kInvalidValue;
    switch (attr) {
    case kLayoutType: return setAttr(&layout->type, 4, buf, size);
    case kLayoutOrder: return setAttr(&layout->order, 4, buf, size);
    case kLayoutRows: return setAttr(&layout->rows, 8, buf, size);
    case kLayoutCols: return setAttr(&layout->cols, 8, buf, size);
    case kLayoutLd: return setAttr(&layout->ld, 8, buf, size);
    case kLayoutBatch: return setAttr(&layout->batch, 4, buf, size);
    case kLayoutBatchStride: return setAttr(&layout->batchStride, 8, buf, size);
    default: return kInvalidValue;
    }
}

API int cublasLtMatmulPreferenceCreate(Pref** pref) { return create(g_prefs, pref, Pref{}); }

API int cublasLtMatmulPreferenceDestroy(Pref* pref) { return destroy(g_prefs, pref); }

API int cublasLtMatmulPreferenceSetAttribute(Pref* pref, int attr, const void* buf, size_t size)
{
    if (!live(g_prefs, pref)) return kInvalidValue;
    uint32_t alignment;
    switch (attr) {
    case kPrefSearchMode: return setAttr(&pref->searchMode, 4, buf, size);
    case kPrefMaxWorkspace: return setAttr(&pref->maxWorkspace, 8, buf, size);
    default:
        // Minimum alignments of A..D: every algorithm here works at any alignment, so they filter nothing.
        if (attr >= kPrefMinAlignA && attr <= kPrefMinAlignD) return setAttr(&alignment, 4, buf, size);
        return kInvalidValue;
    }
}

API int cublasLtMatmulAlgoGetHeuristic(void* handle, Desc* desc, Layout* a, Layout* b, Layout* c, Layout* d, Pref* pref, int requested,
    HeuristicResult* results, int* returned)
{
    if (!live(g_handles, handle)) return kNotInitialized;
    if (!returned || !results || requested <= 0) return kInvalidValue;
    *returned = 0;
    if (!live(g_descs, desc) || !live(g_layouts, a) || !live(g_layouts, b) || !live(g_layouts, c) || !live(g_layouts, d) || !live(g_prefs, pref))
        return kInvalidValue;
    uint64_t m, n, k;
    if (int s = validate(*desc, *a, *b, *c, *d, m, n, k)) return s;
    HeuristicResult r{};
    r.algo.magic = kAlgoMagic;
    r.algo.workspace = std::min<uint64_t>(kAlgoWorkspace, pref->maxWorkspace);
    r.workspaceSize = r.algo.workspace;
    r.state = kSuccess;
    r.wavesCount = 1.0f;
    results[0] = r;
    *returned = 1;
    return kSuccess;
}

API int cublasLtMatmul(void* handle, Desc* desc, const float* alpha, uint64_t A, Layout* aDesc, uint64_t B, Layout* bDesc, const float* beta,
    uint64_t C, Layout* cDesc, uint64_t D, Layout* dDesc, const Algo* algo, uint64_t workspace, size_t workspaceBytes, void* stream)
{
    if (!live(g_handles, handle)) return kNotInitialized;
    if (!alpha || !beta) return kInvalidValue;
    if (!live(g_descs, desc) || !live(g_layouts, aDesc) || !live(g_layouts, bDesc) || !live(g_layouts, cDesc) || !live(g_layouts, dDesc))
        return kInvalidValue;
    uint64_t m, n, k;
    if (int s = validate(*desc, *aDesc, *bDesc, *cDesc, *dDesc, m, n, k)) return s;
    // In place (C == D) needs C's layout to be D's.
    if (C == D && *beta != 0 && (cDesc->ld != dDesc->ld || cDesc->batchStride != dDesc->batchStride)) return kInvalidValue;
    if (hasBias(desc->epilogue) && desc->bias == 0) return kInvalidValue;
    // A NULL algorithm runs the heuristic implicitly (with no workspace); else it must be one the heuristic returned.
    uint64_t needed = 0;
    if (algo) {
        if (algo->magic != kAlgoMagic) return kInvalidValue;
        needed = algo->workspace;
    }
    if (workspaceBytes < needed) return kInvalidValue; // documented: workspace smaller than the algorithm needs
    if (m == 0 || n == 0) return kSuccess;
    if (!lcsg_context_current()) lcsg_bind_primary_context();
    if (!lcsg_context_current()) return kNotInitialized;
    if (lcsg_check_stream(stream)) return kInvalidValue;
    auto* w = new Work{*desc, *aDesc, *bDesc, *cDesc, *dDesc, m, n, k, *alpha, *beta, A, B, C, D, workspace, needed};
    // The cost model's count (exact, from the shapes): C read only when beta != 0; the bias vector read once per product.
    int math = aDesc->type != kR32F ? LCSG_MATH_16BIT : desc->compute == kCompute32FFastTf32 ? LCSG_MATH_TF32 : LCSG_MATH_FP32;
    lcsg_gemm_cost cost = lcsg_gemm_cost_of((long long)m, (long long)n, (long long)k, dDesc->batch, (int)elemSize(aDesc->type),
        (int)elemSize(bDesc->type), (int)elemSize(cDesc->type), (int)elemSize(dDesc->type), *beta != 0, math);
    if (hasBias(desc->epilogue))
        cost.bytes_read += (double)dDesc->batch * (double)m * (double)elemSize(desc->biasType == -1 ? dDesc->type : desc->biasType);
    int r = lcsg_enqueue_gemm(stream, "cublasLtMatmul", runMatmul, w, [](void* p) { delete static_cast<Work*>(p); }, &cost);
    return r ? kExecutionFailed : kSuccess;
}

API const char* cublasLtGetStatusName(int status) { return blasStatusName(status); }

API const char* cublasLtGetStatusString(int status)
{
    switch (status) {
    case kSuccess: return "the operation completed successfully";
    case kNotInitialized: return "the library was not initialized";
    case kInvalidValue: return "an unsupported value or parameter was passed to the function";
    case kNotSupported: return "the functionality requested is not supported";
    case kExecutionFailed: return "the GPU program failed to execute";
    default: return cublasLtGetStatusName(status);
    }
}

// softgpu_driver.cpp: the software GPU's libcuda.so.1: the CUDA driver API calls CudaBackend binds
// (src/Kernels/Native/CuApi.cs), over the kernel emulator. One device, "software GPU (emulated)", sm_90, a small fixed
// memory (LC_SOFTGPU_MEMORY_MIB, default 1024). Strict where the real driver is strict or where a bug would otherwise
// pass unseen:
//   - calls needing a context fail with CUDA_ERROR_INVALID_CONTEXT on a thread where none is current;
//   - device memory is an allocation registry: guard zones around every allocation (checked after each kernel, copy,
//     GEMM and free), every pointer a kernel, copy or GEMM receives must lie inside a live allocation, fresh memory is
//     filled with NaN bytes, freed memory is poisoned with NaN bytes and quarantined (not reused at once);
//   - deferred mode (the default; LC_SOFTGPU_EAGER=1 runs work at once): queued work runs only at synchronisation points
//     (stream, event or context sync), so a missing wait, a staging buffer reused too early or a free of memory queued
//     work still uses changes the results;
//   - module loads take only a real cubin (ELF, machine EM_CUDA, for sm_90) or PTX, and a function must be in it;
//   - launches are checked against the grid, block, shared-memory and register limits as the driver does;
//   - an error in queued work is sticky for the context until its last primary-context reference is released.
#include "softgpu_internal.h"
#include "softgpu.h"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <csignal>
#include <sys/mman.h>
#include <thread>
#include <ucontext.h>
#include <unistd.h>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#define API extern "C" __attribute__((visibility("default")))

namespace {

enum : int {
    kSuccess = 0,
    kInvalidValue = 1,
    kOutOfMemory = 2,
    kNotInitialized = 3,
    kNoDevice = 100,
    kInvalidDevice = 101,
    kInvalidImage = 200,
    kInvalidContext = 201,
    kNoBinaryForGpu = 209,
    kInvalidPtx = 218,
    kInvalidHandle = 400,
    kNotFound = 500,
    kNotReady = 600,
    kIllegalAddress = 700,
    kLaunchOutOfResources = 701,
    kLaunchFailed = 719,
    kNotSupported = 801,
    kIllegalState = 401,
    kCaptureUnsupported = 900,
    kCaptureInvalidated = 901,
    kCapturedEvent = 907,
    kCaptureWrongThread = 908,
    kUnknown = 999,
};

constexpr int kArch = 90;
constexpr size_t kGuard = 1024;            // guard zone bytes on each side of an allocation
constexpr unsigned char kGuardByte = 0xA5;
constexpr unsigned char kPoisonByte = 0xFF; // 0xFFFFFFFF reads as a NaN float
constexpr size_t kQuarantineBytes = 256u << 20;
constexpr int kMaxSharedDefault = 48 * 1024;
constexpr int kMaxSharedOptin = 227 * 1024;
constexpr int kRegistersPerBlock = 64 * 1024;

struct Alloc
{
    unsigned char* raw = nullptr; // kGuard + bytes + kGuard
    size_t bytes = 0;
    uint64_t user() const { return reinterpret_cast<uint64_t>(raw + kGuard); }
};

struct Event;

// What a queued item is, for the launch counters and the cost model.
enum class Kind { Other, Kernel, Gemm, Library }; // Library: a library call queued without a cost (lcsg_enqueue)

struct Item
{
    std::string name;
    lcsg::Work work;
    Event* marks = nullptr; // an event record: completes the event when reached
    Kind kind = Kind::Other;
    lcsg_gemm_cost gemm{};  // exact cost of a GEMM (Kind::Gemm)
};

// A captured sequence of stream work (cuStreamBeginCapture .. cuStreamEndCapture); instantiation copies it.
struct Graph
{
    std::vector<Item> items;
};

struct GraphExec
{
    std::vector<Item> items;
};

struct Stream
{
    std::deque<Item> queue;
    Graph* capture = nullptr;      // capturing into this graph
    bool captureInvalidated = false;
    int captureMode = 0;           // CUstreamCaptureMode
    std::thread::id captureThread; // the thread that began the capture
};

struct Event
{
    bool captured = false; // last recorded into a capturing stream: a graph node, not something to wait for
    bool timing = true;
    bool recorded = false;
    bool complete = false;
    Stream* stream = nullptr;
    double ms = 0;
    unsigned long long generation = 0;
};

struct Function
{
    const lcsg::KernelEntry* kernel;
    int registers = 0;
    int staticShared = 0;
    int maxDynamicShared = kMaxSharedDefault;
    // The byte size of each parameter as the image declares it (cubin: KPARAM_INFO by ordinal; PTX: the .entry's
    // .param list); empty when the image does not say.
    std::vector<int> paramSizes;
};

struct Module
{
    std::map<std::string, std::unique_ptr<Function>> functions;
};

struct Context
{
    int refs = 0;
};

std::recursive_mutex g_mutex;
bool g_initialized = false;
Context g_context;
thread_local Context* t_current = nullptr;
std::map<uint64_t, Alloc> g_device;     // by user pointer
std::map<uint64_t, size_t> g_pinned;    // host pointer -> bytes
std::deque<Alloc> g_quarantine;
size_t g_quarantined = 0;
size_t g_used = 0;
std::set<Stream*> g_streams;
std::set<Event*> g_events;
std::set<Module*> g_modules;
std::set<Graph*> g_graphs;
std::set<GraphExec*> g_graphExecs;
Stream g_nullStream;
int g_sticky = 0;
std::string g_stickyWhy;
std::map<std::string, long long> g_launches;
std::string g_failCall;
int g_failIn = 0; // the g_failIn-th next call of g_failCall fails
const auto g_start = std::chrono::steady_clock::now();

bool eager()
{
    const char* e = std::getenv("LC_SOFTGPU_EAGER");
    return e && std::strcmp(e, "1") == 0;
}

size_t totalMemory()
{
    const char* e = std::getenv("LC_SOFTGPU_MEMORY_MIB");
    long mib = e ? std::atol(e) : 1024;
    if (mib <= 0) mib = 1024;
    return (size_t)mib << 20;
}

void report(const std::string& line)
{
    std::fprintf(stderr, "software GPU: %s\n", line.c_str());
}

std::string hex(uint64_t p)
{
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", (unsigned long long)p);
    return b;
}

bool injected(const char* call)
{
    if (g_failIn > 0 && g_failCall == call && --g_failIn == 0) return true;
    return false;
}

// The allocation holding [p, p + n), or null.
const Alloc* findDevice(uint64_t p, size_t n = 1)
{
    auto it = g_device.upper_bound(p);
    if (it == g_device.begin()) return nullptr;
    --it;
    const Alloc& a = it->second;
    if (p < a.user() || p - a.user() >= a.bytes) return nullptr;
    if (n > a.bytes - (p - a.user())) return nullptr;
    return &a;
}

bool inQuarantine(uint64_t p)
{
    for (const auto& a : g_quarantine)
        if (p >= a.user() && p < a.user() + a.bytes) return true;
    return false;
}

std::string describePointer(uint64_t p, size_t n)
{
    auto it = g_device.upper_bound(p);
    if (it != g_device.begin()) {
        --it;
        const Alloc& a = it->second;
        if (p >= a.user() && p - a.user() < a.bytes)
            return hex(p) + " + " + std::to_string(n) + " bytes runs " + std::to_string(p - a.user() + n - a.bytes) +
                " bytes past the end of the " + std::to_string(a.bytes) + "-byte allocation at " + hex(a.user());
    }
    if (inQuarantine(p)) return hex(p) + " points into freed device memory";
    return hex(p) + " is not in any live device allocation";
}

bool guardsIntact(const Alloc& a)
{
    for (size_t i = 0; i < kGuard; i++)
        if (a.raw[i] != kGuardByte || a.raw[kGuard + a.bytes + i] != kGuardByte) return false;
    return true;
}

void setSticky(int code, const std::string& why)
{
    if (g_sticky) return;
    g_sticky = code;
    g_stickyWhy = why;
    report(why);
}

bool g_dryRun = false; // queued work is counted, then dropped (launch counts at sizes the emulator is too slow for)

// ---- cost counters (lcsg_cost_*): per launch, bytes read and written and FLOPs ----
// GEMMs: exact, from their shapes (lcsg_gemm_cost_of). Kernels: measured, at page granularity: while an emulated
// kernel runs, every page of every device allocation is protected (PROT_NONE); the first touch of a page faults and
// the SIGSEGV handler counts the page as read (then opens it for reading) or written (then opens it for writing; a page
// read and later written counts as both). Device allocations own whole pages (cuMemAlloc_v2 allocates them
// page-aligned, in whole pages), so no other memory shares a protected page. Pinned host memory a kernel reads is not
// counted.

struct CostRecord
{
    std::string name;
    int kind; // 1 kernel (measured), 2 GEMM (exact)
    double read, written, flops;
    int math;
};

int g_costMode = 0; // 0 off; 1 count; 2 count and skip GEMM products (their costs are exact, their results unused)
std::vector<CostRecord> g_costs;

struct TrackedPage
{
    uintptr_t page;
    unsigned char state; // 0 untouched, 1 read (PROT_READ), 2 written (PROT_READ | PROT_WRITE)
};

std::vector<TrackedPage> g_track; // sorted by page; read by the signal handler (never resized while it may run)
std::vector<std::pair<uintptr_t, size_t>> g_spans; // the protected ranges
volatile long g_pagesRead = 0, g_pagesWritten = 0;
struct sigaction g_oldSegv;
uintptr_t g_pageSize = 4096;

bool faultIsWrite(void* uc)
{
#if defined(__x86_64__)
    return (static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    (void)uc;
    return false; // unknown: a first fault is taken as a read, a second on the same page as a write
#endif
}

void onSegv(int sig, siginfo_t* si, void* uc)
{
    uintptr_t page = reinterpret_cast<uintptr_t>(si->si_addr) & ~(g_pageSize - 1);
    size_t lo = 0, hi = g_track.size();
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (g_track[mid].page < page) lo = mid + 1;
        else hi = mid;
    }
    if (lo < g_track.size() && g_track[lo].page == page && g_track[lo].state < 2) {
        TrackedPage& t = g_track[lo];
        void* p = reinterpret_cast<void*>(page);
        if (t.state == 0 && !faultIsWrite(uc)) {
            mprotect(p, g_pageSize, PROT_READ);
            t.state = 1;
            g_pagesRead = g_pagesRead + 1;
        }
        else {
            mprotect(p, g_pageSize, PROT_READ | PROT_WRITE);
            t.state = 2;
            g_pagesWritten = g_pagesWritten + 1;
        }
        return;
    }
    // Not ours: the previous handler (the .NET runtime's, for null references) or the default action.
    if (g_oldSegv.sa_flags & SA_SIGINFO) g_oldSegv.sa_sigaction(sig, si, uc);
    else if (g_oldSegv.sa_handler != SIG_IGN && g_oldSegv.sa_handler != SIG_DFL) g_oldSegv.sa_handler(sig);
    else {
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
    }
}

// Runs one kernel item with its device pages protected; records the pages it read and wrote.
int runMeasured(Item& it, std::string& why)
{
    g_pageSize = (uintptr_t)sysconf(_SC_PAGESIZE);
    g_track.clear();
    g_spans.clear();
    for (auto& [p, a] : g_device) {
        uintptr_t first = a.user() & ~(g_pageSize - 1), end = (a.user() + a.bytes + g_pageSize - 1) & ~(g_pageSize - 1);
        g_spans.push_back({first, end - first});
        for (uintptr_t q = first; q < end; q += g_pageSize) g_track.push_back({q, 0});
    }
    std::sort(g_track.begin(), g_track.end(), [](const TrackedPage& x, const TrackedPage& y) { return x.page < y.page; });
    g_pagesRead = g_pagesWritten = 0;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = onSegv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_oldSegv);
    for (auto& [p, n] : g_spans) mprotect(reinterpret_cast<void*>(p), n, PROT_NONE);
    int r = it.work(why);
    for (auto& [p, n] : g_spans) mprotect(reinterpret_cast<void*>(p), n, PROT_READ | PROT_WRITE);
    sigaction(SIGSEGV, &g_oldSegv, nullptr);
    g_costs.push_back(CostRecord{it.name, 1, (double)g_pagesRead * g_pageSize, (double)g_pagesWritten * g_pageSize, 0, LCSG_MATH_NONE});
    return r;
}

int runItem(Stream& s)
{
    Item it = std::move(s.queue.front());
    s.queue.pop_front();
    if (it.marks) {
        if (g_events.count(it.marks)) {
            it.marks->complete = true;
            it.marks->ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g_start).count();
        }
        return 0;
    }
    if (g_sticky) return g_sticky; // work after a failure never runs
    if (g_costMode && it.kind == Kind::Gemm) {
        g_costs.push_back(CostRecord{it.name, 2, it.gemm.bytes_read, it.gemm.bytes_written, it.gemm.flops, it.gemm.math});
        if (g_costMode == 2) return 0;
    }
    // A library call without a cost: recorded as such (kind 3, nothing counted) so that it shows, and run.
    if (g_costMode && it.kind == Kind::Library) g_costs.push_back(CostRecord{it.name, 3, 0, 0, 0, LCSG_MATH_NONE});
    if (g_dryRun) return 0;
    std::string why;
    int r = g_costMode && it.kind == Kind::Kernel ? runMeasured(it, why) : it.work(why);
    if (r) setSticky(r, it.name + ": " + why);
    return r;
}

// Runs a stream's queued work up to and including `until` (an event record), or all of it.
int drain(Stream& s, Event* until = nullptr)
{
    while (!s.queue.empty()) {
        bool last = until && s.queue.front().marks == until;
        runItem(s);
        if (last) break;
    }
    return g_sticky;
}

int drainAll()
{
    drain(g_nullStream);
    for (Stream* s : g_streams) drain(*s);
    return g_sticky;
}

Stream* streamOf(void* h)
{
    if (!h) return &g_nullStream;
    auto* s = static_cast<Stream*>(h);
    return g_streams.count(s) ? s : nullptr;
}

// Queues an item, or records it into the stream's capture graph. Kernels and GEMMs count as launches when queued
// (a graph's launch queues them again), not when captured.
int enqueueItem(Stream& s, Item item)
{
    if (g_sticky) return g_sticky;
    if (s.capture) {
        if (s.captureInvalidated) return kCaptureInvalidated;
        s.capture->items.push_back(std::move(item));
        return 0;
    }
    if (item.kind != Kind::Other) g_launches[item.name]++;
    s.queue.push_back(std::move(item));
    if (eager()) drain(s);
    return g_sticky;
}

int enqueue(Stream& s, std::string name, lcsg::Work w, Kind kind = Kind::Other)
{
    Item it;
    it.name = std::move(name);
    it.work = std::move(w);
    it.kind = kind;
    return enqueueItem(s, std::move(it));
}

// Stream capture: the calling thread's view of "a capture is active" for the potentially unsafe calls (allocation,
// free, context synchronisation). Global mode captures forbid them on every thread, thread-local ones on their own.
Stream* unsafeCallConflict()
{
    auto check = [](Stream* s) {
        if (!s->capture || s->captureInvalidated) return false;
        if (s->captureMode == 0) return true;                                   // CU_STREAM_CAPTURE_MODE_GLOBAL
        if (s->captureMode == 1) return s->captureThread == std::this_thread::get_id(); // THREAD_LOCAL
        return false;                                                          // RELAXED
    };
    for (Stream* s : g_streams)
        if (check(s)) return s;
    return nullptr;
}

// A prohibited call during capture: the capture is invalidated, the call fails with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED.
int refuseDuringCapture(Stream* s, const char* call)
{
    s->captureInvalidated = true;
    report(std::string(call) + " during stream capture: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (the capture is invalidated)");
    return kCaptureUnsupported;
}

#define NEED_INIT() \
    do { if (!g_initialized) return kNotInitialized; } while (0)
#define NEED_CONTEXT() \
    do { NEED_INIT(); if (t_current != &g_context || g_context.refs == 0) return kInvalidContext; } while (0)
#define LOCK() std::lock_guard<std::recursive_mutex> lock_(g_mutex)
#define FAIL_IF_INJECTED(call) \
    do { if (injected(call)) return kUnknown; } while (0)

void releaseAlloc(Alloc a)
{
    std::memset(a.raw + kGuard, kPoisonByte, a.bytes);
    g_quarantine.push_back(a);
    g_quarantined += a.bytes;
    while (g_quarantined > kQuarantineBytes && !g_quarantine.empty()) {
        g_quarantined -= g_quarantine.front().bytes;
        std::free(g_quarantine.front().raw);
        g_quarantine.pop_front();
    }
}

// Everything the context owned, when its last reference goes (as the driver destroys a primary context then).
void destroyContext()
{
    for (auto& [p, a] : g_device) std::free(a.raw);
    g_device.clear();
    g_used = 0;
    for (auto& a : g_quarantine) std::free(a.raw);
    g_quarantine.clear();
    g_quarantined = 0;
    for (auto& [p, n] : g_pinned) std::free(reinterpret_cast<void*>(p));
    g_pinned.clear();
    for (Stream* s : g_streams) {
        delete s->capture;
        delete s;
    }
    g_streams.clear();
    for (Event* e : g_events) delete e;
    g_events.clear();
    for (Module* m : g_modules) delete m;
    g_modules.clear();
    for (Graph* g : g_graphs) delete g;
    g_graphs.clear();
    for (GraphExec* g : g_graphExecs) delete g;
    g_graphExecs.clear();
    g_nullStream.queue.clear();
    g_sticky = 0;
    g_stickyWhy.clear();
}

// ---- cubin / PTX reading ----

struct ImageInfo
{
    int arch = 0;
    std::map<std::string, Function> functions;
};

template <class T> T rd(const unsigned char* p)
{
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// An ELF64 cubin: arch from e_flags, FUNC symbols with a .text.NAME section, registers from .nv.info's
// EIATTR_REGCOUNT (0x2f), static shared memory from .nv.shared.NAME. Returns 0 or a CUresult.
int readCubin(const unsigned char* img, ImageInfo& out, std::string& why)
{
    if (img[4] != 2 || img[5] != 1) { why = "not a little-endian ELF64 image"; return kInvalidImage; }
    uint16_t machine = rd<uint16_t>(img + 18);
    if (machine != 190) { why = "ELF machine " + std::to_string(machine) + " is not EM_CUDA (190)"; return kInvalidImage; }
    out.arch = (int)(rd<uint32_t>(img + 48) & 0xff);
    uint64_t shoff = rd<uint64_t>(img + 40);
    uint16_t shentsize = rd<uint16_t>(img + 58), shnum = rd<uint16_t>(img + 60), shstrndx = rd<uint16_t>(img + 62);
    if (shentsize < 64 || shnum == 0 || shstrndx >= shnum || shoff == 0 || shoff > (1ull << 32)) { why = "bad section headers"; return kInvalidImage; }
    struct Sec { std::string name; uint32_t type; uint64_t off, size; uint32_t link; };
    std::vector<Sec> secs(shnum);
    auto hdr = [&](int i) { return img + shoff + (uint64_t)i * shentsize; };
    uint64_t strOff = rd<uint64_t>(hdr(shstrndx) + 24);
    for (int i = 0; i < shnum; i++) {
        const unsigned char* h = hdr(i);
        secs[i] = Sec{reinterpret_cast<const char*>(img + strOff + rd<uint32_t>(h)), rd<uint32_t>(h + 4), rd<uint64_t>(h + 24),
            rd<uint64_t>(h + 32), rd<uint32_t>(h + 40)};
    }
    std::map<uint32_t, std::string> funcs;
    for (const auto& s : secs) {
        if (s.type != 2) continue; // SHT_SYMTAB
        uint64_t names = secs[s.link].off;
        for (uint64_t k = 0; k * 24 < s.size; k++) {
            const unsigned char* e = img + s.off + k * 24;
            if ((e[4] & 0xf) != 2) continue; // STT_FUNC
            funcs[(uint32_t)k] = reinterpret_cast<const char*>(img + names + rd<uint32_t>(e));
        }
    }
    std::set<std::string> texts;
    for (const auto& s : secs)
        if (s.name.rfind(".text.", 0) == 0) texts.insert(s.name.substr(6));
    for (const auto& [k, name] : funcs)
        if (texts.count(name)) out.functions[name] = Function{nullptr, 0, 0, kMaxSharedDefault, {}};
    for (const auto& s : secs) {
        if (s.name == ".nv.info") {
            for (uint64_t o = s.off; o + 4 <= s.off + s.size;) {
                unsigned fmt = img[o], attr = img[o + 1];
                unsigned size = rd<uint16_t>(img + o + 2);
                if (fmt == 3) { o += 4; continue; }
                if (fmt == 4 && size >= 8 && attr == 0x2f) {
                    auto it = funcs.find(rd<uint32_t>(img + o + 4));
                    if (it != funcs.end() && out.functions.count(it->second)) out.functions[it->second].registers = (int)rd<uint32_t>(img + o + 8);
                }
                o += 4 + size;
            }
        }
        else if (s.name.rfind(".nv.info.", 0) == 0) {
            // EIATTR_KPARAM_INFO (0x17, EIFMT_SVAL, 12 bytes): index u32, ordinal u16, offset u16, then a word whose
            // bits 18..31 are the parameter's size in bytes.
            auto it = out.functions.find(s.name.substr(9));
            if (it == out.functions.end()) continue;
            auto& sizes = it->second.paramSizes;
            for (uint64_t o = s.off; o + 4 <= s.off + s.size;) {
                unsigned fmt = img[o], attr = img[o + 1];
                unsigned size = rd<uint16_t>(img + o + 2);
                if (fmt == 3) { o += 4; continue; }
                if (fmt == 4 && attr == 0x17 && size >= 12) {
                    unsigned ordinal = rd<uint16_t>(img + o + 8);
                    int bytes = (int)((rd<uint32_t>(img + o + 12) >> 18) & 0x3fff);
                    if (sizes.size() <= ordinal) sizes.resize(ordinal + 1, -1);
                    sizes[ordinal] = bytes;
                }
                o += 4 + size;
            }
        }
        else if (s.name.rfind(".nv.shared.", 0) == 0) {
            auto it = out.functions.find(s.name.substr(11));
            // sm_90 cubins count the 1 KiB the driver reserves per block; the 48 KiB limit is on the rest.
            if (it != out.functions.end()) it->second.staticShared = (int)(s.size >= 1024 && out.arch >= 90 ? s.size - 1024 : s.size);
        }
    }
    return 0;
}

// The sizes of a PTX entry's parameters: `.param [.align N] .TYPE NAME[[COUNT]]`, comma-separated.
std::vector<int> ptxParamSizes(const std::string& list)
{
    std::vector<int> sizes;
    for (size_t p = list.find(".param"); p != std::string::npos; p = list.find(".param", p + 6)) {
        size_t end = list.find(',', p);
        std::string decl = list.substr(p, end == std::string::npos ? std::string::npos : end - p);
        int width = 0;
        for (size_t d = decl.find(" ."); d != std::string::npos && !width; d = decl.find(" .", d + 2)) {
            std::string t = decl.substr(d + 2, decl.find_first_of(" \t\n", d + 2) - d - 2);
            if (t.size() >= 2 && (t[0] == 'u' || t[0] == 's' || t[0] == 'b' || t[0] == 'f') && std::isdigit((unsigned char)t[1]))
                width = std::atoi(t.c_str() + 1) / 8;
        }
        size_t br = decl.find('[');
        int count = br == std::string::npos ? 1 : std::atoi(decl.c_str() + br + 1);
        sizes.push_back(width * count);
    }
    return sizes;
}

// PTX text: `.target sm_NN` and `.entry NAME(` lines (the driver would JIT it; registers are then unknown).
int readPtx(const char* text, ImageInfo& out, std::string& why)
{
    std::string s(text);
    if (s.find(".version") == std::string::npos) { why = "neither a cubin (ELF) nor PTX"; return kInvalidImage; }
    size_t t = s.find(".target sm_");
    if (t == std::string::npos) { why = "PTX without a .target"; return kInvalidPtx; }
    out.arch = std::atoi(s.c_str() + t + 11);
    for (size_t p = s.find(".entry "); p != std::string::npos; p = s.find(".entry ", p + 7)) {
        size_t b = p + 7, e = s.find('(', b);
        if (e == std::string::npos) break;
        size_t close = s.find(')', e);
        if (close == std::string::npos) break;
        out.functions[s.substr(b, e - b)] = Function{nullptr, 0, 0, kMaxSharedDefault, ptxParamSizes(s.substr(e + 1, close - e - 1))};
    }
    return 0;
}

void writeLog(void* buf, size_t size, const std::string& text)
{
    if (!buf || size == 0) return;
    size_t n = std::min(size - 1, text.size());
    std::memcpy(buf, text.data(), n);
    static_cast<char*>(buf)[n] = 0;
}

} // namespace

// ---- the internal ABI of softgpu_internal.h and softgpu.h ----

namespace lcsg {

int checkKernelPointer(const char* kernel, int param, uint64_t ptr, std::string& why)
{
    if (findDevice(ptr)) return 0;
    if (g_pinned.count(ptr)) return 0; // mapped pinned memory is addressable by kernels
    why = std::string("parameter ") + std::to_string(param) + " of " + kernel + ": " + describePointer(ptr, 1);
    return kIllegalAddress;
}

int checkGuards(const char* kernel, uint64_t ptr, std::string& why)
{
    const Alloc* a = findDevice(ptr);
    if (!a || guardsIntact(*a)) return 0;
    why = std::string(kernel) + " wrote outside the " + std::to_string(a->bytes) + "-byte allocation at " + hex(a->user()) +
        " (its guard zone changed)";
    return kIllegalAddress;
}

} // namespace lcsg

API int lcsg_context_current(void)
{
    LOCK();
    return t_current == &g_context && g_context.refs > 0;
}

API void lcsg_bind_primary_context(void)
{
    LOCK();
    if (g_context.refs > 0) t_current = &g_context;
}

API int lcsg_check_device_range(uint64_t ptr, size_t bytes, char* why, size_t whyLen)
{
    LOCK();
    if (findDevice(ptr, bytes ? bytes : 1)) return 0;
    std::string w = describePointer(ptr, bytes);
    std::snprintf(why, whyLen, "%s", w.c_str());
    return kIllegalAddress;
}

API int lcsg_check_stream(void* stream)
{
    LOCK();
    return streamOf(stream) ? 0 : kInvalidHandle;
}

namespace {

int enqueueLibraryWork(void* stream, const char* name, lcsg_work_fn run, void* ctx, void (*destroy)(void*), const lcsg_gemm_cost* cost)
{
    Stream* s = streamOf(stream);
    // Shared: a captured graph's instantiations keep the work (and its arguments) alive for every replay.
    std::shared_ptr<void> owner(ctx, destroy ? destroy : [](void*) {});
    if (!s) return kInvalidHandle;
    Item it;
    it.name = name;
    it.work = [run, owner](std::string& why) {
        char buf[512] = {0};
        int r = run(owner.get(), buf, sizeof buf);
        if (r) why = buf;
        return r;
    };
    // cuBLAS calls count as launches too, under their own names.
    it.kind = cost ? Kind::Gemm : Kind::Library;
    if (cost) it.gemm = *cost;
    return enqueueItem(*s, std::move(it));
}

} // namespace

API int lcsg_enqueue(void* stream, const char* name, lcsg_work_fn run, void* ctx, void (*destroy)(void*))
{
    LOCK();
    return enqueueLibraryWork(stream, name, run, ctx, destroy, nullptr);
}

API int lcsg_enqueue_gemm(void* stream, const char* name, lcsg_work_fn run, void* ctx, void (*destroy)(void*), const lcsg_gemm_cost* cost)
{
    LOCK();
    return enqueueLibraryWork(stream, name, run, ctx, destroy, cost);
}

// Test hooks: counts of live objects, launches per kernel, and failure injection into one named call.
API void lcsg_live_objects(long long* allocations, long long* pinned, long long* modules, long long* streams, long long* events, long long* contextRefs)
{
    LOCK();
    *allocations = (long long)g_device.size();
    *pinned = (long long)g_pinned.size();
    *modules = (long long)g_modules.size();
    *streams = (long long)g_streams.size();
    *events = (long long)g_events.size();
    *contextRefs = g_context.refs;
}

API long long lcsg_launches(const char* kernel)
{
    LOCK();
    if (!kernel) {
        long long n = 0;
        for (auto& [k, v] : g_launches) n += v;
        return n;
    }
    auto it = g_launches.find(kernel);
    return it == g_launches.end() ? 0 : it->second;
}

// Dry run (1): from now on queued work is counted but never runs; results are garbage. 0 runs it again.
API void lcsg_set_dry_run(int on)
{
    LOCK();
    drainAll();
    g_dryRun = on != 0;
}

// Clears the launch counters.
API void lcsg_reset_launches(void)
{
    LOCK();
    g_launches.clear();
}

// Cost counters. mode 0: off; 1: every kernel run is measured (pages read and written) and every GEMM's exact cost is
// recorded; 2: as 1, but GEMM products are not computed (their costs do not need it; results are then garbage, and
// the kernels' counts do not depend on values: no kernel of kernels.cu addresses memory by an activation's value).
// Queued work is run first. Records accumulate until lcsg_cost_reset.
API void lcsg_cost_enable(int mode)
{
    LOCK();
    drainAll();
    g_costMode = mode == 1 || mode == 2 ? mode : 0;
}

API void lcsg_cost_reset(void)
{
    LOCK();
    g_costs.clear();
}

// Records so far, in the order the work ran.
API long long lcsg_cost_count(void)
{
    LOCK();
    return (long long)g_costs.size();
}

// Record i: its name (kernel or cuBLAS call), kind (1 kernel, measured at page granularity; 2 GEMM, exact; 3 a library
// call queued by lcsg_enqueue, without a cost: nothing counted), bytes
// read, bytes written, FLOPs (GEMMs only) and math (LCSG_MATH_*). Returns 0, or 1 when i is out of range.
API int lcsg_cost_get(long long i, const char** name, int* kind, double* bytesRead, double* bytesWritten, double* flops, int* math)
{
    LOCK();
    if (i < 0 || i >= (long long)g_costs.size()) return 1;
    const CostRecord& c = g_costs[(size_t)i];
    *name = c.name.c_str();
    *kind = c.kind;
    *bytesRead = c.read;
    *bytesWritten = c.written;
    *flops = c.flops;
    *math = c.math;
    return 0;
}

// The page size of the kernels' counts.
API long long lcsg_cost_granularity(void)
{
    return (long long)sysconf(_SC_PAGESIZE);
}

API void lcsg_fail_nth(const char* call, int nth)
{
    LOCK();
    g_failCall = call ? call : "";
    g_failIn = nth;
}

API const char* lcsg_sticky_reason(void)
{
    LOCK();
    static thread_local std::string copy;
    copy = g_stickyWhy;
    return copy.c_str();
}

// ---- the driver API ----

API int cuInit(unsigned flags)
{
    LOCK();
    if (flags != 0) return kInvalidValue;
    g_initialized = true;
    return kSuccess;
}

API int cuDriverGetVersion(int* v)
{
    if (!v) return kInvalidValue;
    *v = 12080;
    return kSuccess;
}

API int cuDeviceGetCount(int* n)
{
    LOCK();
    NEED_INIT();
    if (!n) return kInvalidValue;
    *n = 1;
    return kSuccess;
}

API int cuDeviceGet(int* dev, int ordinal)
{
    LOCK();
    NEED_INIT();
    if (!dev) return kInvalidValue;
    if (ordinal != 0) return kInvalidDevice;
    *dev = 0;
    return kSuccess;
}

API int cuDeviceGetName(char* name, int len, int dev)
{
    LOCK();
    NEED_INIT();
    if (dev != 0) return kInvalidDevice;
    if (!name || len <= 0) return kInvalidValue;
    std::snprintf(name, (size_t)len, "%s", "software GPU (emulated)");
    return kSuccess;
}

API int cuDeviceGetAttribute(int* value, int attr, int dev)
{
    LOCK();
    NEED_INIT();
    if (dev != 0) return kInvalidDevice;
    if (!value) return kInvalidValue;
    switch (attr) {
    case 1: *value = 1024; break;            // max threads per block
    case 2: case 3: *value = 1024; break;    // max block dim x, y
    case 4: *value = 64; break;              // max block dim z
    case 5: *value = 2147483647; break;      // max grid dim x
    case 6: case 7: *value = 65535; break;   // max grid dim y, z
    case 8: *value = kMaxSharedDefault; break;
    case 10: *value = 32; break;             // warp size
    case 12: *value = kRegistersPerBlock; break;
    case 16: *value = 4; break;              // multiprocessors
    case 38: *value = 4 << 20; break;        // L2 bytes
    case 75: *value = kArch / 10; break;
    case 76: *value = kArch % 10; break;
    case 97: *value = kMaxSharedOptin; break;
    default: return kInvalidValue;
    }
    return kSuccess;
}

API int cuDeviceTotalMem_v2(size_t* bytes, int dev)
{
    LOCK();
    NEED_INIT();
    if (dev != 0) return kInvalidDevice;
    if (!bytes) return kInvalidValue;
    *bytes = totalMemory();
    return kSuccess;
}

API int cuDevicePrimaryCtxRetain(void** ctx, int dev)
{
    LOCK();
    NEED_INIT();
    if (dev != 0) return kInvalidDevice;
    if (!ctx) return kInvalidValue;
    g_context.refs++;
    *ctx = &g_context;
    return kSuccess;
}

API int cuDevicePrimaryCtxRelease_v2(int dev)
{
    LOCK();
    NEED_INIT();
    if (dev != 0) return kInvalidDevice;
    if (g_context.refs == 0) return kInvalidContext;
    if (--g_context.refs == 0) destroyContext();
    return kSuccess;
}

API int cuCtxSetCurrent(void* ctx)
{
    LOCK();
    NEED_INIT();
    if (ctx && (ctx != &g_context || g_context.refs == 0)) return kInvalidContext;
    t_current = static_cast<Context*>(ctx);
    return kSuccess;
}

API int cuCtxSynchronize(void)
{
    LOCK();
    NEED_CONTEXT();
    for (Stream* s : g_streams)
        if (s->capture && !s->captureInvalidated) return refuseDuringCapture(s, "cuCtxSynchronize");
    return drainAll();
}

API int cuMemGetInfo_v2(size_t* free, size_t* total)
{
    LOCK();
    NEED_CONTEXT();
    if (!free || !total) return kInvalidValue;
    *total = totalMemory();
    *free = *total - std::min(*total, g_used);
    return kSuccess;
}

API int cuMemAlloc_v2(uint64_t* ptr, size_t bytes)
{
    LOCK();
    NEED_CONTEXT();
    if (g_sticky) return g_sticky;
    FAIL_IF_INJECTED("cuMemAlloc_v2");
    if (Stream* c = unsafeCallConflict()) return refuseDuringCapture(c, "cuMemAlloc_v2");
    if (!ptr || bytes == 0) return kInvalidValue;
    // Sizes are rounded to 256 bytes as the driver's allocator does; the guard zones follow the rounded size.
    size_t rounded = (bytes + 255) / 256 * 256;
    if (rounded > totalMemory() - std::min(totalMemory(), g_used)) return kOutOfMemory;
    void* raw = nullptr;
    // Whole pages of their own (the cost counters protect device pages while a kernel runs).
    size_t page = (size_t)sysconf(_SC_PAGESIZE), total = (kGuard + rounded + kGuard + page - 1) / page * page;
    if (posix_memalign(&raw, page, total) != 0) return kOutOfMemory;
    Alloc a{static_cast<unsigned char*>(raw), rounded};
    std::memset(a.raw, kGuardByte, kGuard);
    std::memset(a.raw + kGuard, kPoisonByte, rounded); // uninitialised device memory reads as NaN
    std::memset(a.raw + kGuard + rounded, kGuardByte, kGuard);
    g_device[a.user()] = a;
    g_used += rounded;
    *ptr = a.user();
    return kSuccess;
}

API int cuMemFree_v2(uint64_t ptr)
{
    LOCK();
    NEED_CONTEXT();
    if (g_sticky) return g_sticky;
    if (Stream* c = unsafeCallConflict()) return refuseDuringCapture(c, "cuMemFree_v2");
    auto it = g_device.find(ptr);
    if (it == g_device.end()) return kInvalidValue;
    Alloc a = it->second;
    g_device.erase(it);
    g_used -= a.bytes;
    if (!guardsIntact(a)) setSticky(kIllegalAddress, "cuMemFree_v2: the guard zone of the allocation at " + hex(ptr) + " changed before it was freed");
    // Not waiting for queued work: in deferred mode work still queued on it reads poison (NaN) or fails its check.
    releaseAlloc(a);
    return g_sticky;
}

API int cuMemHostAlloc(void** p, size_t bytes, unsigned flags)
{
    LOCK();
    NEED_CONTEXT();
    FAIL_IF_INJECTED("cuMemHostAlloc");
    if (!p || bytes == 0 || (flags & ~0x7u)) return kInvalidValue;
    void* m = nullptr;
    if (posix_memalign(&m, 4096, bytes) != 0) return kOutOfMemory;
    g_pinned[reinterpret_cast<uint64_t>(m)] = bytes;
    *p = m;
    return kSuccess;
}

API int cuMemFreeHost(void* p)
{
    LOCK();
    NEED_CONTEXT();
    auto it = g_pinned.find(reinterpret_cast<uint64_t>(p));
    if (it == g_pinned.end()) return kInvalidValue;
    std::free(p);
    g_pinned.erase(it);
    return kSuccess;
}

namespace {

// A host range for an asynchronous copy: inside one pinned allocation (the backend's staging buffers).
bool pinnedRange(const void* p, size_t n)
{
    auto key = reinterpret_cast<uint64_t>(p);
    auto it = g_pinned.upper_bound(key);
    if (it == g_pinned.begin()) return false;
    --it;
    return key >= it->first && key - it->first + n <= it->second;
}

int copyCheck(const char* call, uint64_t dev, size_t n, std::string& why)
{
    if (findDevice(dev, n)) return 0;
    why = std::string(call) + ": device range " + describePointer(dev, n);
    return kIllegalAddress;
}

int checkAfter(const char* call, uint64_t dev, std::string& why)
{
    return lcsg::checkGuards(call, dev, why);
}

} // namespace

API int cuMemcpyHtoDAsync_v2(uint64_t dst, const void* src, size_t n, void* stream)
{
    LOCK();
    NEED_CONTEXT();
    Stream* s = streamOf(stream);
    if (!s || !src) return !s ? kInvalidHandle : kInvalidValue;
    if (n == 0) return g_sticky;
    if (!pinnedRange(src, n)) {
        // Pageable memory: the driver copies it before returning, which a capture cannot record.
        if (s->capture) return refuseDuringCapture(s, "cuMemcpyHtoDAsync_v2 from pageable memory");
        drain(*s);
        std::string why;
        if (int r = copyCheck("cuMemcpyHtoDAsync_v2", dst, n, why)) { setSticky(r, why); return r; }
        std::memcpy(reinterpret_cast<void*>(dst), src, n);
        return g_sticky;
    }
    return enqueue(*s, "cuMemcpyHtoDAsync_v2", [dst, src, n](std::string& why) {
        if (int r = copyCheck("cuMemcpyHtoDAsync_v2", dst, n, why)) return r;
        std::memcpy(reinterpret_cast<void*>(dst), src, n); // reads the pinned buffer now, not when queued
        return checkAfter("cuMemcpyHtoDAsync_v2", dst, why);
    });
}

API int cuMemcpyDtoHAsync_v2(void* dst, uint64_t src, size_t n, void* stream)
{
    LOCK();
    NEED_CONTEXT();
    Stream* s = streamOf(stream);
    if (!s || !dst) return !s ? kInvalidHandle : kInvalidValue;
    if (n == 0) return g_sticky;
    if (!pinnedRange(dst, n)) {
        if (s->capture) return refuseDuringCapture(s, "cuMemcpyDtoHAsync_v2 to pageable memory");
        drain(*s);
        std::string why;
        if (int r = copyCheck("cuMemcpyDtoHAsync_v2", src, n, why)) { setSticky(r, why); return r; }
        std::memcpy(dst, reinterpret_cast<const void*>(src), n);
        return g_sticky;
    }
    return enqueue(*s, "cuMemcpyDtoHAsync_v2", [dst, src, n](std::string& why) {
        if (int r = copyCheck("cuMemcpyDtoHAsync_v2", src, n, why)) return r;
        std::memcpy(dst, reinterpret_cast<const void*>(src), n);
        return 0;
    });
}

API int cuMemsetD32Async(uint64_t dst, unsigned value, size_t count, void* stream)
{
    LOCK();
    NEED_CONTEXT();
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (dst % 4) return kInvalidValue;
    if (count == 0) return g_sticky;
    return enqueue(*s, "cuMemsetD32Async", [dst, value, count](std::string& why) {
        if (int r = copyCheck("cuMemsetD32Async", dst, count * 4, why)) return r;
        auto* p = reinterpret_cast<unsigned*>(dst);
        for (size_t i = 0; i < count; i++) p[i] = value;
        return 0;
    });
}

API int cuModuleLoadDataEx(void** module, const void* image, unsigned numOptions, int* options, void** values)
{
    LOCK();
    NEED_CONTEXT();
    FAIL_IF_INJECTED("cuModuleLoadDataEx");
    if (!module || !image || (numOptions && (!options || !values))) return kInvalidValue;
    void *infoBuf = nullptr, *errBuf = nullptr;
    size_t infoSize = 0, errSize = 0;
    for (unsigned i = 0; i < numOptions; i++) {
        switch (options[i]) {
        case 3: infoBuf = values[i]; break;
        case 4: infoSize = reinterpret_cast<size_t>(values[i]); break;
        case 5: errBuf = values[i]; break;
        case 6: errSize = reinterpret_cast<size_t>(values[i]); break;
        default: break;
        }
    }
    const auto* img = static_cast<const unsigned char*>(image);
    ImageInfo info;
    std::string why;
    bool cubin = img[0] == 0x7f && img[1] == 'E' && img[2] == 'L' && img[3] == 'F';
    int r = cubin ? readCubin(img, info, why) : readPtx(static_cast<const char*>(image), info, why);
    if (!r && cubin && info.arch != kArch) {
        why = "the cubin is for sm_" + std::to_string(info.arch) + ", the device is sm_" + std::to_string(kArch);
        r = kNoBinaryForGpu;
    }
    if (!r && !cubin && info.arch > kArch) {
        why = "the PTX targets sm_" + std::to_string(info.arch) + ", newer than the device (sm_" + std::to_string(kArch) + ")";
        r = kInvalidPtx;
    }
    if (!r && info.functions.empty()) { why = "the image holds no kernel"; r = kInvalidImage; }
    if (r) {
        writeLog(errBuf, errSize, "software GPU: " + why);
        return r;
    }
    // A software GPU built from an older kernels.cu would read a changed kernel's arguments by its old prototype: refuse
    // the image when a kernel's parameters differ from the emulator's.
    for (auto& [name, f] : info.functions) {
        const auto* k = lcsg::findKernel(name);
        if (!k || f.paramSizes.empty()) continue;
        std::vector<int> built(k->paramSizes, k->paramSizes + k->paramCount);
        if (f.paramSizes == built) continue;
        auto list = [](const std::vector<int>& v) {
            std::string t;
            for (int x : v) t += (t.empty() ? "" : ",") + std::to_string(x);
            return "(" + t + ")";
        };
        why = name + " takes parameters of " + list(f.paramSizes) + " bytes in this image but " + list(built) +
            " in the software GPU, which was built from another kernels.cu: rebuild it (dotnet pwsh ./build.ps1 software-gpu)";
        writeLog(errBuf, errSize, "software GPU: " + why);
        report(why);
        return kInvalidImage;
    }
    auto* m = new Module;
    int emulated = 0;
    for (auto& [name, f] : info.functions) {
        f.kernel = lcsg::findKernel(name);
        if (f.kernel) emulated++;
        m->functions[name] = std::make_unique<Function>(f);
    }
    // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES starts at what the 48 KiB default leaves beside the static.
    for (auto& [name, f] : m->functions) f->maxDynamicShared = std::max(0, kMaxSharedDefault - f->staticShared);
    g_modules.insert(m);
    writeLog(infoBuf, infoSize, "software GPU: loaded a " + std::string(cubin ? "cubin" : "PTX image") + " for sm_" +
        std::to_string(info.arch) + " with " + std::to_string(info.functions.size()) + " kernels (" + std::to_string(emulated) + " emulated)");
    *module = m;
    return kSuccess;
}

API int cuModuleUnload(void* module)
{
    LOCK();
    NEED_CONTEXT();
    auto* m = static_cast<Module*>(module);
    if (!g_modules.erase(m)) return kInvalidHandle;
    delete m;
    return kSuccess;
}

API int cuModuleGetFunction(void** fn, void* module, const char* name)
{
    LOCK();
    NEED_CONTEXT();
    auto* m = static_cast<Module*>(module);
    if (!fn || !name) return kInvalidValue;
    if (!g_modules.count(m)) return kInvalidHandle;
    auto it = m->functions.find(name);
    if (it == m->functions.end()) return kNotFound; // not in the image NVRTC produced
    if (!it->second->kernel) {
        report(std::string("cuModuleGetFunction: ") + name + " is in the image but not in the emulator's kernels.cu");
        return kNotSupported;
    }
    *fn = it->second.get();
    return kSuccess;
}

namespace {

Function* findFunction(void* f)
{
    for (Module* m : g_modules)
        for (auto& [n, fn] : m->functions)
            if (fn.get() == f) return fn.get();
    return nullptr;
}

} // namespace

API int cuFuncSetAttribute(void* fn, int attr, int value)
{
    LOCK();
    NEED_CONTEXT();
    Function* f = findFunction(fn);
    if (!f) return kInvalidHandle;
    if (attr != 8) return kNotSupported; // only CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    if (value < 0 || value + f->staticShared > kMaxSharedOptin) return kInvalidValue;
    f->maxDynamicShared = value;
    return kSuccess;
}

API int cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
    unsigned shared, void* stream, void** params, void** extra)
{
    LOCK();
    NEED_CONTEXT();
    Function* f = findFunction(fn);
    if (!f) return kInvalidHandle;
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (extra) return kNotSupported;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) return kInvalidValue;
    if (gx > 2147483647u || gy > 65535 || gz > 65535 || bx > 1024 || by > 1024 || bz > 64 || (unsigned long long)bx * by * bz > 1024)
        return kInvalidValue;
    unsigned threads = bx * by * bz, warps = (threads + 31) / 32;
    long long regs = (long long)warps * (((long long)f->registers * 32 + 255) / 256 * 256);
    if (regs > kRegistersPerBlock) {
        report(std::string("cuLaunchKernel(") + f->kernel->name + "): " + std::to_string(f->registers) + " registers x " +
            std::to_string(threads) + " threads exceed the block's " + std::to_string(kRegistersPerBlock));
        return kLaunchOutOfResources;
    }
    if ((long long)shared > f->maxDynamicShared || (long long)shared + f->staticShared > kMaxSharedOptin) {
        report(std::string("cuLaunchKernel(") + f->kernel->name + "): " + std::to_string(shared) + " bytes of dynamic shared memory, " +
            std::to_string(f->maxDynamicShared) + " allowed");
        return kInvalidValue;
    }
    if (f->kernel->paramCount > 0 && !params) return kInvalidValue;
    if (g_sticky) return g_sticky;
    lcsg::Geometry g{{gx, gy, gz}, {bx, by, bz}, shared};
    return enqueue(*s, f->kernel->name, f->kernel->bind(params, g), Kind::Kernel);
}

API int cuStreamCreate(void** stream, unsigned flags)
{
    LOCK();
    NEED_CONTEXT();
    if (!stream || (flags & ~1u)) return kInvalidValue;
    auto* s = new Stream;
    g_streams.insert(s);
    *stream = s;
    return kSuccess;
}

API int cuStreamDestroy_v2(void* stream)
{
    LOCK();
    NEED_CONTEXT();
    auto* s = static_cast<Stream*>(stream);
    if (!g_streams.count(s)) return kInvalidHandle;
    if (s->capture) { delete s->capture; s->capture = nullptr; } // an unfinished capture goes with its stream
    // The driver lets queued work finish before the stream's resources go.
    drain(*s);
    g_streams.erase(s);
    delete s;
    return kSuccess;
}

API int cuStreamSynchronize(void* stream)
{
    LOCK();
    NEED_CONTEXT();
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (s->capture) return refuseDuringCapture(s, "cuStreamSynchronize");
    return drain(*s);
}

API int cuEventCreate(void** evt, unsigned flags)
{
    LOCK();
    NEED_CONTEXT();
    FAIL_IF_INJECTED("cuEventCreate");
    if (!evt || (flags & ~0x7u)) return kInvalidValue;
    auto* e = new Event;
    e->timing = (flags & 2) == 0;
    g_events.insert(e);
    *evt = e;
    return kSuccess;
}

API int cuEventDestroy_v2(void* evt)
{
    LOCK();
    NEED_CONTEXT();
    auto* e = static_cast<Event*>(evt);
    if (!g_events.erase(e)) return kInvalidHandle;
    // A record still queued must not touch the freed event.
    for (Stream* s : g_streams)
        for (auto& it : s->queue)
            if (it.marks == e) it.marks = nullptr, it.work = [](std::string&) { return 0; };
    for (auto& it : g_nullStream.queue)
        if (it.marks == e) it.marks = nullptr, it.work = [](std::string&) { return 0; };
    delete e;
    return kSuccess;
}

API int cuEventRecord(void* evt, void* stream)
{
    LOCK();
    NEED_CONTEXT();
    auto* e = static_cast<Event*>(evt);
    if (!g_events.count(e)) return kInvalidHandle;
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (s->capture) {
        // Recorded into a capture: a node of the graph (for cross-stream dependencies), nothing to wait for.
        if (s->captureInvalidated) return kCaptureInvalidated;
        e->captured = true;
        return g_sticky;
    }
    e->captured = false;
    e->recorded = true;
    e->complete = false;
    e->stream = s;
    s->queue.push_back(Item{"cuEventRecord", nullptr, e});
    if (eager()) drain(*s);
    return g_sticky;
}

API int cuEventSynchronize(void* evt)
{
    LOCK();
    NEED_CONTEXT();
    auto* e = static_cast<Event*>(evt);
    if (!g_events.count(e)) return kInvalidHandle;
    if (e->captured) return kCapturedEvent;
    if (!e->recorded || e->complete) return g_sticky;
    if (!g_streams.count(e->stream) && e->stream != &g_nullStream) return kInvalidHandle;
    return drain(*e->stream, e);
}

API int cuEventElapsedTime(float* ms, void* start, void* end)
{
    LOCK();
    NEED_CONTEXT();
    auto *a = static_cast<Event*>(start), *b = static_cast<Event*>(end);
    if (!ms) return kInvalidValue;
    if (!g_events.count(a) || !g_events.count(b) || !a->timing || !b->timing) return kInvalidHandle;
    if (a->captured || b->captured) return kCapturedEvent;
    if (!a->recorded || !b->recorded) return kInvalidHandle;
    if (!a->complete || !b->complete) return kNotReady;
    *ms = (float)(b->ms - a->ms);
    return g_sticky;
}

// ---- stream capture and graphs ----
// A capture records each item the stream would queue (kernels with their parameter values read at launch, GEMMs,
// copies between device and pinned memory, fills; event records become graph nodes) into a graph; instantiation
// copies the items; cuGraphLaunch queues them on a stream, in order, like any other work (deferred). The calls a
// capture cannot record (synchronisation, pageable copies, allocation and free) fail with
// CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidate the capture, which then ends with
// CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.

API int cuStreamBeginCapture_v2(void* stream, int mode)
{
    LOCK();
    NEED_CONTEXT();
    if (g_sticky) return g_sticky;
    if (!stream) return kCaptureUnsupported; // the legacy default stream cannot be captured
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (mode < 0 || mode > 2) return kInvalidValue;
    if (s->capture) return kIllegalState;
    s->capture = new Graph;
    s->captureInvalidated = false;
    s->captureMode = mode;
    s->captureThread = std::this_thread::get_id();
    return kSuccess;
}

API int cuStreamIsCapturing(void* stream, int* status)
{
    LOCK();
    NEED_CONTEXT();
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (!status) return kInvalidValue;
    *status = !s->capture ? 0 : s->captureInvalidated ? 2 : 1; // CU_STREAM_CAPTURE_STATUS_NONE / ACTIVE / INVALIDATED
    return kSuccess;
}

API int cuStreamEndCapture(void* stream, void** graph)
{
    LOCK();
    NEED_CONTEXT();
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (!graph) return kInvalidValue;
    if (!s->capture) return kIllegalState;
    if (s->captureMode != 2 && s->captureThread != std::this_thread::get_id()) return kCaptureWrongThread;
    Graph* g = s->capture;
    bool invalid = s->captureInvalidated;
    s->capture = nullptr;
    s->captureInvalidated = false;
    if (invalid) {
        delete g;
        *graph = nullptr;
        return kCaptureInvalidated;
    }
    g_graphs.insert(g);
    *graph = g;
    return kSuccess;
}

API int cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long flags)
{
    LOCK();
    NEED_CONTEXT();
    if (!exec) return kInvalidValue;
    auto* g = static_cast<Graph*>(graph);
    if (!g_graphs.count(g)) return kInvalidHandle;
    if (flags & ~0xFull) return kInvalidValue; // the documented CUDA_GRAPH_INSTANTIATE_FLAG_* bits
    auto* e = new GraphExec{g->items};
    g_graphExecs.insert(e);
    *exec = e;
    return kSuccess;
}

API int cuGraphLaunch(void* exec, void* stream)
{
    LOCK();
    NEED_CONTEXT();
    auto* e = static_cast<GraphExec*>(exec);
    if (!g_graphExecs.count(e)) return kInvalidHandle;
    Stream* s = streamOf(stream);
    if (!s) return kInvalidHandle;
    if (g_sticky) return g_sticky;
    for (const Item& it : e->items)
        if (int r = enqueueItem(*s, it)) return r;
    return g_sticky;
}

API int cuGraphExecDestroy(void* exec)
{
    LOCK();
    NEED_CONTEXT();
    auto* e = static_cast<GraphExec*>(exec);
    if (!g_graphExecs.erase(e)) return kInvalidHandle;
    delete e; // queued copies of its items keep what they use alive
    return kSuccess;
}

API int cuGraphDestroy(void* graph)
{
    LOCK();
    NEED_CONTEXT();
    auto* g = static_cast<Graph*>(graph);
    if (!g_graphs.erase(g)) return kInvalidHandle;
    delete g;
    return kSuccess;
}

namespace {

struct ErrorText
{
    int code;
    const char* name;
    const char* text;
};

const ErrorText kErrors[] = {
    {kSuccess, "CUDA_SUCCESS", "no error"},
    {kInvalidValue, "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {kOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {kNotInitialized, "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {kNoDevice, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {kInvalidDevice, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"},
    {kInvalidImage, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"},
    {kInvalidContext, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {kNoBinaryForGpu, "CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"},
    {kInvalidPtx, "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {kInvalidHandle, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {kNotFound, "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {kNotReady, "CUDA_ERROR_NOT_READY", "device not ready"},
    {kIllegalAddress, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"},
    {kLaunchOutOfResources, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"},
    {kLaunchFailed, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"},
    {kNotSupported, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported"},
    {kIllegalState, "CUDA_ERROR_ILLEGAL_STATE", "the operation cannot be performed in the present state"},
    {kCaptureUnsupported, "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"},
    {kCaptureInvalidated, "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", "operation failed due to a previous error during capture"},
    {kCapturedEvent, "CUDA_ERROR_CAPTURED_EVENT", "operation not permitted on an event last recorded in a capturing stream"},
    {kCaptureWrongThread, "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD", "attempt to terminate a thread-local capture sequence from another thread"},
    {kUnknown, "CUDA_ERROR_UNKNOWN", "unknown error"},
};

} // namespace

API int cuGetErrorName(int error, const char** name)
{
    if (!name) return kInvalidValue;
    for (const auto& e : kErrors)
        if (e.code == error) { *name = e.name; return kSuccess; }
    *name = nullptr;
    return kInvalidValue;
}

API int cuGetErrorString(int error, const char** text)
{
    if (!text) return kInvalidValue;
    for (const auto& e : kErrors)
        if (e.code == error) { *text = e.text; return kSuccess; }
    *text = nullptr;
    return kInvalidValue;
}

// softgpu.h: what the software GPU's cuBLAS shim (libcublas.so.12) uses of its driver shim (libcuda.so.1), as a
// small C ABI exported by the driver shim. Nothing of this is CUDA's API; CudaBackend never sees it.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Work queued on a stream: returns 0, or a CUresult after writing a one-line reason into why[0..whyLen).
typedef int (*lcsg_work_fn)(void* ctx, char* why, size_t whyLen);

// 1 when the calling thread has the (only) context current.
int lcsg_context_current(void);
// Makes the primary context current on the calling thread, as the CUDA runtime does for cuBLAS when a thread has none.
void lcsg_bind_primary_context(void);
// 0 when [ptr, ptr + bytes) lies inside one live device allocation; else a CUresult and the reason.
int lcsg_check_device_range(uint64_t ptr, size_t bytes, char* why, size_t whyLen);
// 0 when the stream handle is 0 (the legacy default stream) or a live stream.
int lcsg_check_stream(void* stream);
// Queues work on a stream (runs it at once in eager mode); destroy(ctx) is called after it ran or was dropped.
// Returns the context's sticky error, if any (the work is then dropped), else 0.
int lcsg_enqueue(void* stream, const char* name, lcsg_work_fn run, void* ctx, void (*destroy)(void*));

#ifdef __cplusplus
}
#endif

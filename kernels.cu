// kernels.cu: every CUDA kernel of the engine, extern "C", compiled at run time by NVRTC.
// Shapes are row-major; B = batch, T = sequence length, C = model width, NH = heads, HS = C / NH, V = vocabulary.

// x = gelu(x), tanh form, in place. x (n)
extern "C" __global__ void gelu_forward(float* x, long long n)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i];
        float cube = 0.044715f * v * v * v;
        x[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + cube)));
    }
}

using System.Numerics;
using System.Runtime.CompilerServices;

namespace LearningCurves.Engine.Backends;

/// <summary>An element-wise operator on a vector of floats. Operators are structs (their fields are parameters such as
/// a row's mean): the driver's loop is compiled once per operator type with the operator inlined.</summary>
public interface IVectorOp1
{
    Vector<float> Invoke(Vector<float> x);
}

/// <summary>A two-input element-wise operator (see <see cref="IVectorOp1"/>).</summary>
public interface IVectorOp2
{
    Vector<float> Invoke(Vector<float> x, Vector<float> y);
}

/// <summary>A three-input element-wise operator (see <see cref="IVectorOp1"/>).</summary>
public interface IVectorOp3
{
    Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> z);
}

/// <summary>
/// The CPU's element-wise driver: one pass over memory per op, <see cref="Vector{T}"/> wide (8 floats on AVX2), the
/// tail through one zero-padded vector so that every element goes through the same vector arithmetic (results do not
/// depend on where an element falls). <c>Map</c> writes op(inputs) (the output may be the first input: in place);
/// <c>Sum</c> adds op(x) over a span in float64 (each vector widened), the tail masked. Long spans run in parallel
/// chunks.
/// </summary>
public static class CpuVector
{
    /// <summary>Floats per parallel task; spans shorter than <see cref="ParallelThreshold"/> run on one thread.</summary>
    private const int Chunk = 16384;

    private const int ParallelThreshold = 1 << 15;

    public static void Map<TOp>(ReadOnlySpan<float> x, Span<float> output, TOp op = default) where TOp : struct, IVectorOp1
    {
        Check(output.Length >= x.Length, "output shorter than the input");
        Chunked(x.Length, ref MemoryMarshalRef(x), ref MemoryMarshalRef(x), ref MemoryMarshalRef(x), ref MemoryMarshalRef(output),
            static (ref float a, ref float _, ref float _, ref float o, int n, TOp p) => Range1(ref a, ref o, n, p), op);
    }

    public static void Map<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> output, TOp op = default) where TOp : struct, IVectorOp2
    {
        Check(y.Length >= x.Length && output.Length >= x.Length, "inputs or output shorter than the first input");
        Chunked(x.Length, ref MemoryMarshalRef(x), ref MemoryMarshalRef(y), ref MemoryMarshalRef(y), ref MemoryMarshalRef(output),
            static (ref float a, ref float b, ref float _, ref float o, int n, TOp p) => Range2(ref a, ref b, ref o, n, p), op);
    }

    public static void Map<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> output, TOp op = default)
        where TOp : struct, IVectorOp3
    {
        Check(y.Length >= x.Length && z.Length >= x.Length && output.Length >= x.Length, "inputs or output shorter than the first input");
        Chunked(x.Length, ref MemoryMarshalRef(x), ref MemoryMarshalRef(y), ref MemoryMarshalRef(z), ref MemoryMarshalRef(output),
            static (ref float a, ref float b, ref float c, ref float o, int n, TOp p) => Range3(ref a, ref b, ref c, ref o, n, p), op);
    }

    /// <summary>Sum of op(x[i])^2 over x: op in float32, each value widened to float64, then squared and accumulated
    /// in float64 (one thread: the norms call it per row).</summary>
    public static double SumOfSquares<TOp>(ReadOnlySpan<float> x, TOp op = default) where TOp : struct, IVectorOp1
    {
        int w = Vector<float>.Count, n = x.Length, i = 0;
        ref float r = ref MemoryMarshalRef(x);
        var acc = Vector<double>.Zero;
        for (; i <= n - w; i += w)
        {
            Vector.Widen(op.Invoke(Vector.LoadUnsafe(ref r, (nuint)i)), out var lo, out var hi);
            acc += lo * lo + hi * hi;
        }
        if (i < n)
        {
            var v = op.Invoke(Tail(ref Unsafe.Add(ref r, i), n - i));
            v = Vector.ConditionalSelect(Vector.AsVectorSingle(Vector.LessThan(Lanes, new Vector<int>(n - i))), v, Vector<float>.Zero);
            Vector.Widen(v, out var lo, out var hi);
            acc += lo * lo + hi * hi;
        }
        return Vector.Sum(acc);
    }

    /// <summary>0, 1, 2, ... per lane.</summary>
    private static readonly Vector<int> Lanes = MakeLanes();

    private static Vector<int> MakeLanes()
    {
        var a = new int[Vector<int>.Count];
        for (int i = 0; i < a.Length; i++) a[i] = i;
        return new Vector<int>(a);
    }

    private delegate void RangeBody<TOp>(ref float x, ref float y, ref float z, ref float o, int n, TOp op);

    private static unsafe void Chunked<TOp>(int n, ref float x, ref float y, ref float z, ref float o, RangeBody<TOp> body, TOp op)
    {
        if (n < ParallelThreshold)
        {
            body(ref x, ref y, ref z, ref o, n, op);
            return;
        }
        // The spans' memory is pinned by the callers' arrays or stack for the duration of this call (Parallel.For
        // returns only when every chunk is done); the pointers only carry the addresses into the tasks.
        fixed (float* px = &x, py = &y, pz = &z, po = &o)
        {
            float* a = px, b = py, c = pz, d = po;
            int chunks = (n + Chunk - 1) / Chunk;
            Parallel.For(0, chunks, k =>
            {
                int s = k * Chunk, len = Math.Min(Chunk, n - s);
                body(ref a[s], ref b[s], ref c[s], ref d[s], len, op);
            });
        }
    }

    private static void Range1<TOp>(ref float x, ref float o, int n, TOp op) where TOp : struct, IVectorOp1
    {
        int w = Vector<float>.Count, i = 0;
        for (; i <= n - w; i += w)
            Vector.StoreUnsafe(op.Invoke(Vector.LoadUnsafe(ref x, (nuint)i)), ref o, (nuint)i);
        if (i < n) StoreTail(op.Invoke(Tail(ref Unsafe.Add(ref x, i), n - i)), ref Unsafe.Add(ref o, i), n - i);
    }

    private static void Range2<TOp>(ref float x, ref float y, ref float o, int n, TOp op) where TOp : struct, IVectorOp2
    {
        int w = Vector<float>.Count, i = 0;
        for (; i <= n - w; i += w)
            Vector.StoreUnsafe(op.Invoke(Vector.LoadUnsafe(ref x, (nuint)i), Vector.LoadUnsafe(ref y, (nuint)i)), ref o, (nuint)i);
        if (i < n)
            StoreTail(op.Invoke(Tail(ref Unsafe.Add(ref x, i), n - i), Tail(ref Unsafe.Add(ref y, i), n - i)), ref Unsafe.Add(ref o, i), n - i);
    }

    private static void Range3<TOp>(ref float x, ref float y, ref float z, ref float o, int n, TOp op) where TOp : struct, IVectorOp3
    {
        int w = Vector<float>.Count, i = 0;
        for (; i <= n - w; i += w)
            Vector.StoreUnsafe(op.Invoke(Vector.LoadUnsafe(ref x, (nuint)i), Vector.LoadUnsafe(ref y, (nuint)i), Vector.LoadUnsafe(ref z, (nuint)i)), ref o, (nuint)i);
        if (i < n)
            StoreTail(op.Invoke(Tail(ref Unsafe.Add(ref x, i), n - i), Tail(ref Unsafe.Add(ref y, i), n - i), Tail(ref Unsafe.Add(ref z, i), n - i)),
                ref Unsafe.Add(ref o, i), n - i);
    }

    /// <summary>The last n (&lt; one vector) floats from <paramref name="src"/>, zero-padded.</summary>
    private static Vector<float> Tail(ref float src, int n)
    {
        Span<float> t = stackalloc float[Vector<float>.Count];
        t.Clear();
        for (int j = 0; j < n; j++) t[j] = Unsafe.Add(ref src, j);
        return new Vector<float>(t);
    }

    private static void StoreTail(Vector<float> v, ref float dst, int n)
    {
        for (int j = 0; j < n; j++) Unsafe.Add(ref dst, j) = v[j];
    }

    private static ref float MemoryMarshalRef(ReadOnlySpan<float> s) => ref System.Runtime.InteropServices.MemoryMarshal.GetReference(s);

    private static ref float MemoryMarshalRef(Span<float> s) => ref System.Runtime.InteropServices.MemoryMarshal.GetReference(s);

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new ArgumentException(what);
    }
}

/// <summary>The element-wise operators of the forward pass, for <see cref="CpuVector"/>.</summary>
public static class VectorOps
{
    private const float GeluScale = 0.7978845608028654f; // sqrt(2 / pi)

    /// <summary>1 / (1 + exp(-x)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> Sigmoid(Vector<float> x) => Vector<float>.One / (Vector<float>.One + Exp(-x));

    /// <summary>
    /// exp(x): the library's Vector.Exp, the same per-lane function as TensorPrimitives.Exp (float32 widened to float64
    /// inside), so the element-wise ops give the bits the multi-pass TensorPrimitives forms gave before them (the demo's
    /// outputs stay byte-identical). An own float32 polynomial (about 2 ulp) was tried: twice as fast in this op, no
    /// measurable change end to end (BENCHMARKS.md), different last bits everywhere downstream.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<float> Exp(Vector<float> x) => Vector.Exp(x);

    /// <summary>x.</summary>
    public struct Identity : IVectorOp1
    {
        public readonly Vector<float> Invoke(Vector<float> x) => x;
    }

    /// <summary>x - Mean.</summary>
    public struct Deviation(float mean) : IVectorOp1
    {
        private readonly Vector<float> _mean = new(mean);

        public readonly Vector<float> Invoke(Vector<float> x) => x - _mean;
    }

    /// <summary>GPT-2's GELU, tanh form: 0.5 x (1 + tanh(u)) written as x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).</summary>
    public struct GeluTanh : IVectorOp1
    {
        public readonly Vector<float> Invoke(Vector<float> x)
        {
            var u = x * x * new Vector<float>(0.044715f) + Vector<float>.One; // 1 + 0.044715 x^2
            u = u * x * new Vector<float>(2f * GeluScale);                      // 2u
            return Sigmoid(u) * x;
        }
    }

    /// <summary>The exact GELU as max(x, 0) - |x| erfc(|x| / sqrt 2) / 2 (see <see cref="CpuOps.GeluErf"/>).</summary>
    public struct GeluErf : IVectorOp1
    {
        public readonly Vector<float> Invoke(Vector<float> x)
        {
            var a = Vector.Abs(x);
            var t = Vector<float>.One / (a * new Vector<float>(0.5f * 0.70710678f) + Vector<float>.One); // 1 / (1 + z/2)
            var u = new Vector<float>(0.17087277f);                                                        // P(t), Horner
            u = u * t + new Vector<float>(-0.82215223f);
            u = u * t + new Vector<float>(1.48851587f);
            u = u * t + new Vector<float>(-1.13520398f);
            u = u * t + new Vector<float>(0.27886807f);
            u = u * t + new Vector<float>(-0.18628806f);
            u = u * t + new Vector<float>(0.09678418f);
            u = u * t + new Vector<float>(0.37409196f);
            u = u * t + new Vector<float>(1.00002368f);
            u = u * t + new Vector<float>(-1.26551223f);
            u = a * a * new Vector<float>(-0.5f) + u;                                                     // P(t) - z^2
            var half = Exp(u) * t * a * new Vector<float>(0.5f);                                   // |x| erfc(z) / 2
            return Vector.Max(x, Vector<float>.Zero) - half;
        }
    }

    /// <summary>SiLU: x sigmoid(x).</summary>
    public struct Silu : IVectorOp1
    {
        public readonly Vector<float> Invoke(Vector<float> x) => Sigmoid(x) * x;
    }

    /// <summary>SwiGLU: silu(gate) * up (x the gate, y the up projection).</summary>
    public struct SwiGlu : IVectorOp2
    {
        public readonly Vector<float> Invoke(Vector<float> gate, Vector<float> up) => Sigmoid(gate) * gate * up;
    }

    /// <summary>x + y.</summary>
    public struct Add : IVectorOp2
    {
        public readonly Vector<float> Invoke(Vector<float> x, Vector<float> y) => x + y;
    }

    /// <summary>x + (y + z): a residual add with the bias z of the product y folded in.</summary>
    public struct AddSum : IVectorOp3
    {
        public readonly Vector<float> Invoke(Vector<float> x, Vector<float> y, Vector<float> z) => x + (y + z);
    }

    /// <summary>Layer norm's output: fma((x - mean) rstd, weight, bias).</summary>
    public struct NormAffine(float mean, float rstd) : IVectorOp3
    {
        private readonly Vector<float> _mean = new(mean), _rstd = new(rstd);

        public readonly Vector<float> Invoke(Vector<float> x, Vector<float> weight, Vector<float> bias) =>
            Vector.FusedMultiplyAdd((x - _mean) * _rstd, weight, bias);
    }

    /// <summary>RMSNorm's output: (x rstd) weight.</summary>
    public struct ScaleWeight(float rstd) : IVectorOp2
    {
        private readonly Vector<float> _rstd = new(rstd);

        public readonly Vector<float> Invoke(Vector<float> x, Vector<float> weight) => x * _rstd * weight;
    }
}

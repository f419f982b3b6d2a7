using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>
/// A checkpoint's weights as backend buffers, shared by <see cref="Gpt2Model"/> and <see cref="Gpt2Generator"/>:
/// matrices through UploadWeight (reduced precision where the backend chooses), the rest in full precision. The head
/// is its own copy, on an aligned vocabulary: <see cref="HeadRows"/> rows, V rounded up to a multiple of
/// <c>headRowMultiple</c> (128: 50,257 -> 50,304; 1024: 51,200), the rows past V zero (the products then run on whole
/// tiles with an aligned stride; the log-sum-exp never reads the padding).
/// </summary>
internal sealed class Gpt2DeviceWeights : IDisposable
{
    /// <summary>The head's rows are padded to a multiple of this by default.</summary>
    public const int DefaultHeadRowMultiple = 128;

    private readonly List<IDeviceBuffer> _all = new();

    public Gpt2DeviceWeights(IBackend be, Gpt2Weights w, int headRowMultiple = DefaultHeadRowMultiple)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(headRowMultiple, 1);
        IDeviceBuffer F(float[] a) { var d = be.Upload(a); _all.Add(d); return d; }
        IDeviceBuffer M(ReadOnlySpan<float> a) { var d = be.UploadWeight(a); _all.Add(d); return d; }
        // The bias of a product whose output feeds another product (qkv, the MLP's hidden layer) has that output's
        // type: bf16 in bf16 mode (cuBLASLt's epilogues take the bias in the output's type).
        var act = DTypes.GemmInput(be.Precision);
        IDeviceBuffer B(float[] a) { var d = be.Allocate(a.Length, act); _all.Add(d); be.Write(d, a); return d; }
        Wte = F(w.Wte);
        Wpe = w.Config.LearnedPositions ? F(w.Wpe) : null;
        int v = w.Config.VocabSize, c = w.Config.Embd;
        HeadRows = PaddedVocab(v, headRowMultiple);
        if (HeadRows == v) Head = w.LmHead is null && be.Precision != Precision.Bf16 ? Wte : M(w.Head); // tied: wte itself
        else
        {
            var padded = new float[(long)HeadRows * c];
            w.Head.AsSpan(0, v * c).CopyTo(padded);
            Head = M(padded);
        }
        LnFW = F(w.LnFW);
        LnFB = F(w.LnFB);
        Blocks = w.Blocks.Select(l => new Block(
            F(l.Ln1W), F(l.Ln1B), M(l.AttnW), B(l.AttnB), M(l.AttnProjW), F(l.AttnProjB),
            F(l.Ln2W), F(l.Ln2B), M(l.FcW), B(l.FcB), M(l.FcProjW), F(l.FcProjB))).ToArray();
    }

    public IDeviceBuffer Wte { get; }
    /// <summary>Learned positions (GPT-2); null for rotary models.</summary>
    public IDeviceBuffer? Wpe { get; }
    /// <summary>(HeadRows, C): the head, rows V.. zero.</summary>
    public IDeviceBuffer Head { get; }

    /// <summary>Rows of <see cref="Head"/>: the vocabulary rounded up to the row multiple.</summary>
    public int HeadRows { get; }

    /// <summary><paramref name="v"/> rounded up to a multiple of <paramref name="multiple"/>.</summary>
    public static int PaddedVocab(int v, int multiple) => checked((v + multiple - 1) / multiple * multiple);
    public IDeviceBuffer LnFW { get; }
    public IDeviceBuffer LnFB { get; }
    public Block[] Blocks { get; }

    public void Dispose()
    {
        foreach (var d in _all) d.Dispose();
    }

    public sealed record Block(
        IDeviceBuffer Ln1W, IDeviceBuffer Ln1B, IDeviceBuffer AttnW, IDeviceBuffer AttnB,
        IDeviceBuffer AttnProjW, IDeviceBuffer AttnProjB, IDeviceBuffer Ln2W, IDeviceBuffer Ln2B,
        IDeviceBuffer FcW, IDeviceBuffer FcB, IDeviceBuffer FcProjW, IDeviceBuffer FcProjB);
}

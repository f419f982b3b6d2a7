using LearningCurves.Engine.Backends;

namespace LearningCurves.Engine.Model;

/// <summary>
/// A checkpoint's weights as backend buffers, shared by <see cref="Gpt2Model"/> and <see cref="Gpt2Generator"/>:
/// matrices through UploadWeight (reduced precision where the backend chooses), the rest in full precision. A tied
/// head reuses wte unless the backend keeps its own reduced-precision copy.
/// </summary>
internal sealed class Gpt2DeviceWeights : IDisposable
{
    private readonly List<IDeviceBuffer> _all = new();

    public Gpt2DeviceWeights(IBackend be, Gpt2Weights w)
    {
        IDeviceBuffer F(float[] a) { var d = be.Upload(a); _all.Add(d); return d; }
        IDeviceBuffer M(float[] a) { var d = be.UploadWeight(a); _all.Add(d); return d; }
        Wte = F(w.Wte);
        Wpe = w.Config.LearnedPositions ? F(w.Wpe) : null;
        Head = w.LmHead is null && be.Precision != Precision.Bf16 ? Wte : M(w.Head);
        LnFW = F(w.LnFW);
        LnFB = F(w.LnFB);
        Blocks = w.Blocks.Select(l => new Block(
            F(l.Ln1W), F(l.Ln1B), M(l.AttnW), F(l.AttnB), M(l.AttnProjW), F(l.AttnProjB),
            F(l.Ln2W), F(l.Ln2B), M(l.FcW), F(l.FcB), M(l.FcProjW), F(l.FcProjB))).ToArray();
    }

    public IDeviceBuffer Wte { get; }
    /// <summary>Learned positions (GPT-2); null for rotary models.</summary>
    public IDeviceBuffer? Wpe { get; }
    public IDeviceBuffer Head { get; }
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

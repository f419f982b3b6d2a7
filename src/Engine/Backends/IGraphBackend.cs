namespace LearningCurves.Engine.Backends;

/// <summary>
/// A backend that can record a fixed sequence of its ops once and queue it again with one launch (CUDA graphs). An
/// optional capability: the model asks for it with a type check (<c>backend as IGraphBackend</c>) and otherwise runs
/// its ops one by one. Only the CUDA backend has it; the CPU backend has nothing to gain.
/// </summary>
public interface IGraphBackend
{
    /// <summary>Whether a capture can start now (not while the backend times each op, nor inside another capture).</summary>
    bool CanCapture { get; }

    /// <summary>
    /// Records the ops <paramref name="work"/> queues, without running them. The work must not allocate, transfer
    /// to or from the host, nor wait; run it once before capturing it, so that the backend's own scratch exists at
    /// its size. A replay reads its input buffers as they are when it runs. Work that allocates or transfers is
    /// refused with <see cref="InvalidOperationException"/> (the capture ended, nothing recorded, nothing run).
    /// </summary>
    IDeviceGraph Capture(Action work);
}

/// <summary>A captured sequence of ops (<see cref="IGraphBackend.Capture"/>).</summary>
public interface IDeviceGraph : IDisposable
{
    /// <summary>False once the backend has replaced memory or state the capture refers to (a scratch buffer grown, a
    /// cached table rewritten): capture again. <see cref="Replay"/> refuses an invalid graph.</summary>
    bool IsValid { get; }

    /// <summary>Queues the captured ops again (asynchronously: a later Download waits for them).</summary>
    void Replay();

    /// <summary>Kernel launches and library calls the capture holds (what one replay saves in launches).</summary>
    int Nodes { get; }
}

using LearningCurves.Engine;
using LearningCurves.Engine.Checkpoints;
using SharpFuzz;
using LearningCurves.Formats;

namespace LearningCurves.Fuzz;

/// <summary>
/// Fuzzing targets for the two checkpoint readers, run by afl-fuzz through SharpFuzz (build.ps1 fuzz):
/// <c>LearningCurves.Fuzz safetensors|torch-bin</c> reads inputs from AFL; <c>LearningCurves.Fuzz replay TARGET FILE...</c>
/// runs the same target once per file without AFL (to reproduce a finding). A UserError is the readers' clean refusal
/// of a broken file and counts as a pass; any other exception, a crash or a hang is a finding.
/// </summary>
public static class Program
{
    // A torch tensor may be a stride-0 view (an expanded tensor) with more elements than its storage holds bytes; past
    // this many elements the harness does not widen it (the reader's bounds were checked while opening).
    private const long MaxElementsToRead = 1 << 24;

    public static int Main(string[] args)
    {
        if (args.Length >= 3 && args[0] == "replay") return Replay(args[1], args[2..]);
        if (args.Length != 1) return Usage();
        var target = Target(args[0]);
        if (target is null) return Usage();

        // The readers take a path (they memory-map it), so each input is written to one scratch file first.
        string scratch = Path.Combine(Path.GetTempPath(), $"lc-fuzz-{Environment.ProcessId}{Extension(args[0])}");
        try
        {
            Fuzzer.OutOfProcess.Run(stream =>
            {
                using (var f = File.Create(scratch)) stream.CopyTo(f);
                RunOne(target, scratch);
            });
        }
        finally
        {
            File.Delete(scratch);
        }
        return 0;
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: LearningCurves.Fuzz safetensors|torch-bin   (under afl-fuzz)");
        Console.Error.WriteLine("       LearningCurves.Fuzz replay safetensors|torch-bin FILE...");
        return 2;
    }

    private static string Extension(string target) => target == "safetensors" ? ".safetensors" : ".bin";

    private static Action<string>? Target(string name) => name switch
    {
        "safetensors" => SafeTensors,
        "torch-bin" => TorchBin,
        _ => null,
    };

    private static void RunOne(Action<string> target, string path)
    {
        try
        {
            target(path);
        }
        catch (UserError)
        {
            // The reader refused the file with a message naming it: the expected outcome for most inputs.
        }
    }

    /// <summary>Each file through the target, outside AFL: prints what happened per file; exit 1 when any is a finding.</summary>
    private static int Replay(string targetName, string[] files)
    {
        var target = Target(targetName);
        if (target is null) return Usage();
        int findings = 0;
        foreach (var file in files)
        {
            // A copy with the reader's own extension, as the fuzzing run names its scratch file.
            string copy = Path.Combine(Path.GetTempPath(), $"lc-fuzz-replay-{Environment.ProcessId}{Extension(targetName)}");
            File.Copy(file, copy, overwrite: true);
            try
            {
                target(copy);
                Console.WriteLine($"{file}: accepted");
            }
            catch (UserError e)
            {
                Console.WriteLine($"{file}: refused: {e.Message}");
            }
            catch (Exception e)
            {
                findings++;
                Console.WriteLine($"{file}: FINDING: {e.GetType().FullName}: {e.Message}");
                Console.WriteLine(e.StackTrace);
            }
            finally
            {
                File.Delete(copy);
            }
        }
        return findings == 0 ? 0 : 1;
    }

    /// <summary>Opens a safetensors file and reads every tensor, widened where it is a float type.</summary>
    private static void SafeTensors(string path)
    {
        using var f = SafeTensorsFile.Open(path);
        foreach (var t in f.Tensors)
        {
            var bytes = f.Bytes(t);
            long need = checked(t.ElementCount * SafeTensorsFile.DTypeSize(t.DType));
            // The reader must have checked that the shape fills the data offsets exactly, inside the file.
            if (bytes.Length != need || f.DataStart + t.End > f.FileLength)
                throw new InvalidOperationException($"tensor '{t.Name}' accepted with {bytes.Length} bytes for {need}, ending at {f.DataStart + t.End} of {f.FileLength}");
            if (t.DType is SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16)
                f.ReadFloats(t, new float[t.ElementCount]);
        }
        foreach (var name in f.Names) _ = f.TryGetFloatSpan(name, out _);
    }

    /// <summary>Opens a torch.save zip and reads every float tensor widened to float32.</summary>
    private static void TorchBin(string path)
    {
        using var f = TorchFile.Open(path);
        foreach (var name in f.Names)
        {
            var t = f.Tensor(name);
            long count = 1;
            foreach (long d in t.Shape) count = checked(count * d);
            // Bool and integer storages (saved buffers such as attn.bias) are refused by ReadFloats: only weights are read.
            if (count > MaxElementsToRead || t.Storage.DType is not (SafeTensorsDType.F32 or SafeTensorsDType.F16 or SafeTensorsDType.BF16)) continue;
            f.ReadFloats(name, new float[count]);
        }
    }
}

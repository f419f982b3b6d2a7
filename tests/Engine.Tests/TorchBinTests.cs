using System.Text;
using LearningCurves.Engine.Backends;
using LearningCurves.Engine.Checkpoints;
using LearningCurves.Engine.Model;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

/// <summary>
/// pytorch_model.bin: files torch.save wrote (tests/fixtures/torch-bin, from tests/reference/torch_bin_fixtures.py)
/// against the float64 reference; fresh random .bin files (TorchBinWriter) against the same weights in safetensors;
/// malicious, legacy and corrupt files refused with a UserError and nothing run.
/// </summary>
public class TorchBinTests
{
    private static string Fixture(string name) => Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch-bin", name);

    [Theory]
    [InlineData("gpt2-f32-shared-head")]
    [InlineData("gpt2-f16-strided-untied")]
    [InlineData("gpt2-bf16-sharded")]
    public void Torch_written_checkpoints_match_the_float64_reference(string name)
    {
        var dir = Fixture(name);
        var w = HfCheckpoint.Load(dir);
        using var model = new DecoderModel(new CpuBackend(Precision.Fp32), w);
        TestContext.Current.SendDiagnosticMessage(ParityCheck.Run(model, dir, batchSize: 4));
    }

    [Fact]
    public void The_torch_fixtures_hold_a_shared_storage_offsets_strides_and_shards()
    {
        using (var ck = TorchCheckpoint.Open(Fixture("gpt2-f32-shared-head")))
        {
            var f = ck.Files.Single();
            Assert.Same(f.Tensor("transformer.wte.weight").Storage, f.Tensor("lm_head.weight").Storage);
            Assert.Equal(SafeTensorsDType.BOOL, f.Tensor("transformer.h.0.attn.bias").Storage.DType);
        }
        Assert.Null(HfCheckpoint.Load(Fixture("gpt2-f32-shared-head")).LmHead); // tied: the stored copy is wte itself
        using (var ck = TorchCheckpoint.Open(Fixture("gpt2-f16-strided-untied")))
        {
            var ts = ck.Names.Select(n => ck.Files[0].Tensor(n)).ToList();
            Assert.Contains(ts, t => t.Shape.Length == 2 && t.Stride[^1] != 1);
            Assert.Contains(ts, t => t.Offset > 0);
            Assert.All(ts, t => Assert.Equal(SafeTensorsDType.F16, t.Storage.DType));
        }
        using (var ck = TensorSources.Open(Fixture("gpt2-bf16-sharded")))
        {
            Assert.IsType<TorchCheckpoint>(ck);
            Assert.Equal(2, ((TorchCheckpoint)ck).Files.Count);
            Assert.EndsWith(TorchCheckpoint.IndexFileName, ck.Source, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("os-system", "posix.system", "/tmp/lc-pickle-ran-os-system")]
    [InlineData("builtins-eval", "__builtin__.eval", "/tmp/lc-pickle-ran-eval")]
    public void A_malicious_pickle_is_refused_and_never_runs(string name, string global, string marker)
    {
        File.Delete(marker);
        var path = Path.Combine(Fixture("malicious"), name, "pytorch_model.bin");
        var e = Assert.Throws<UserError>(() => TorchFile.Open(path));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.Contains("refused", e.Message, StringComparison.Ordinal);
        Assert.Contains(global, e.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(marker), $"{marker} exists: the pickle ran");
    }

    [Fact]
    public void Not_a_state_dict_and_the_legacy_format_are_refused_by_name()
    {
        var e = Assert.Throws<UserError>(() => TorchFile.Open(Path.Combine(Fixture("malicious"), "not-a-state-dict", "pytorch_model.bin")));
        Assert.Contains("not a state dict", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<UserError>(() => TorchFile.Open(Path.Combine(Fixture("legacy"), "pytorch_model.bin")));
        Assert.Contains("legacy (pre-1.6)", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((byte)'i', "INST")]
    [InlineData((byte)'o', "OBJ")]
    [InlineData((byte)0x81, "NEWOBJ")]
    [InlineData((byte)0x82, "EXT1")]
    public void Opcodes_that_build_objects_are_refused(byte op, string what)
    {
        var dir = TestPaths.TempDir();
        var path = Path.Combine(dir, "pytorch_model.bin");
        var w = new TorchBinWriter();
        w.Save(path, [0x80, 2, op, (byte)'.']);
        var e = Assert.Throws<UserError>(() => TorchFile.Open(path));
        Assert.Contains("refused", e.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{op:x2}", e.Message, StringComparison.Ordinal);
        TestContext.Current.SendDiagnosticMessage($"{what}: {e.Message}");
    }

    [Fact]
    public void Any_global_outside_the_state_dict_set_is_refused_even_under_a_torch_name()
    {
        foreach (var (module, name) in new[] { ("os", "system"), ("subprocess", "Popen"), ("torch", "load"), ("torch._utils", "_rebuild_qtensor"), ("collections", "defaultdict") })
        {
            var dir = TestPaths.TempDir();
            var path = Path.Combine(dir, "pytorch_model.bin");
            var pkl = new List<byte> { 0x80, 2 };
            pkl.AddRange(Encoding.ASCII.GetBytes($"c{module}\n{name}\n"));
            pkl.AddRange(")R."u8.ToArray());
            new TorchBinWriter().Save(path, pkl.ToArray());
            var e = Assert.Throws<UserError>(() => TorchFile.Open(path));
            Assert.Contains($"{module}.{name}", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>A fresh random GPT-2 (a shape no fixture has) saved as safetensors, and its very bytes re-saved as .bin
    /// storages with random strides, offsets, a shared head and sharding: the two load to identical weights and hash.</summary>
    [Fact]
    public void Random_bin_checkpoints_load_exactly_the_weights_of_the_same_safetensors()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        for (int round = 0; round < 4; round++)
        {
            int heads = rng.Next(1, 4);
            var cfg = new ModelConfig
            {
                VocabSize = rng.Next(5, 70), MaxPositions = rng.Next(2, 12), Embd = heads * rng.Next(1, 6), Layers = rng.Next(1, 4),
                Heads = heads, Inner = rng.Next(2) == 0 ? 0 : rng.Next(1, 30),
            };
            var dtype = (StoreDType)rng.Next(3);
            bool untied = rng.Next(2) == 0;
            var st = TestPaths.TempDir();
            HfCheckpoint.Save(st, ModelWeights.Random(cfg, rng.Next(), untied), dtype);
            var bin = TestPaths.TempDir();
            File.Copy(Path.Combine(st, "config.json"), Path.Combine(bin, "config.json"));
            string what = WriteBinFrom(Path.Combine(st, "model.safetensors"), bin, rng, shareHead: !untied && rng.Next(2) == 0);
            var a = HfCheckpoint.Load(st);
            var b = HfCheckpoint.Load(bin);
            string ctx = $"seed {seed} round {round} ({cfg}, {dtype}, untied {untied}, {what})";
            Assert.True(a.ContentHash == b.ContentHash, $"{ctx}: hashes differ");
            Assert.NotEmpty(a.ContentHash);
            AssertSame(a.Wte, b.Wte, ctx + " wte");
            AssertSame(a.Wpe, b.Wpe, ctx + " wpe");
            Assert.Equal(a.LmHead is null, b.LmHead is null);
            for (int l = 0; l < cfg.Layers; l++)
            {
                AssertSame(a.Blocks[l].AttnW, b.Blocks[l].AttnW, $"{ctx} h.{l}.attn.c_attn.weight");
                AssertSame(a.Blocks[l].FcProjW, b.Blocks[l].FcProjW, $"{ctx} h.{l}.mlp.c_proj.weight");
                AssertSame(a.Blocks[l].FcB, b.Blocks[l].FcB, $"{ctx} h.{l}.mlp.c_fc.bias");
            }
            using var ma = new DecoderModel(new CpuBackend(Precision.Fp32), a);
            using var mb = new DecoderModel(new CpuBackend(Precision.Fp32), b);
            var seq = Enumerable.Range(0, cfg.MaxPositions).Select(_ => rng.Next(cfg.VocabSize)).ToArray();
            Assert.Equal(ma.ScoreAll([seq])[0], mb.ScoreAll([seq])[0]);
        }
    }

    private static void AssertSame(float[] a, float[] b, string what)
    {
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i]))
                Assert.Fail($"{what}: element {i} is {b[i]} from .bin but {a[i]} from safetensors");
        }
    }

    /// <summary>Re-saves every tensor of a safetensors file into torch storages: 2-D tensors randomly transposed
    /// (column-major storage, strides (1, rows)), 1-D ones packed into one storage at offsets, the head optionally as
    /// the same storage as wte; one or two shards.</summary>
    internal static string WriteBinFrom(string safetensors, string dir, Random rng, bool shareHead)
    {
        using var f = SafeTensorsFile.Open(safetensors);
        string type = f.Tensors[0].DType switch { SafeTensorsDType.F32 => "FloatStorage", SafeTensorsDType.F16 => "HalfStorage", _ => "BFloat16Storage" };
        int es = SafeTensorsFile.DTypeSize(f.Tensors[0].DType);
        int shards = rng.Next(1, 3);
        var writers = Enumerable.Range(0, shards).Select(_ => new TorchBinWriter()).ToArray();
        var map = new Dictionary<string, string>();
        var packed = new List<byte>[shards];
        var packedItems = new List<(string Name, long Offset, long[] Shape)>[shards];
        int transposed = 0;
        TorchBinWriter.Storage? wte = null;
        int wteShard = -1;
        foreach (var t in f.Tensors)
        {
            int s = rng.Next(shards);
            var bytes = f.Bytes(t).ToArray();
            map[t.Name] = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (t.Shape.Length == 2 && rng.Next(2) == 0)
            {
                long r = t.Shape[0], c = t.Shape[1];
                var col = new byte[bytes.Length];
                for (long i = 0; i < r; i++)
                {
                    for (long j = 0; j < c; j++) Array.Copy(bytes, (i * c + j) * es, col, (j * r + i) * es, es);
                }
                writers[s].AddTensor(t.Name, writers[s].AddStorage(type, es, col), 0, t.Shape, [1, r]);
                transposed++;
            }
            else if (t.Shape.Length == 1)
            {
                packed[s] ??= new List<byte>(rng.Next(2) == 0 ? new byte[es * rng.Next(1, 5)] : []);
                packedItems[s] ??= new();
                packedItems[s].Add((t.Name, packed[s].Count / es, t.Shape));
                packed[s].AddRange(bytes);
            }
            else
            {
                var st = writers[s].AddStorage(type, es, bytes);
                writers[s].AddTensor(t.Name, st, 0, t.Shape, t.Shape.Length == 2 ? [t.Shape[1], 1] : [1]);
                if (t.Name.EndsWith("wte.weight", StringComparison.Ordinal))
                {
                    wte = st;
                    wteShard = s;
                }
            }
        }
        if (shareHead && wte is not null)
        {
            // A tied head saved as transformers' older save_pretrained did: lm_head.weight is wte's very storage.
            var shape = f.Tensors.Single(t => t.Name.EndsWith("wte.weight", StringComparison.Ordinal)).Shape;
            writers[wteShard].AddTensor("lm_head.weight", wte, 0, shape, [shape[1], 1]);
            map["lm_head.weight"] = wteShard.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        for (int s = 0; s < shards; s++)
        {
            if (packed[s] is null) continue;
            var st = writers[s].AddStorage(type, es, packed[s].ToArray());
            foreach (var (name, off, shape) in packedItems[s]) writers[s].AddTensor(name, st, off, shape, [1]);
        }
        if (shards == 1)
        {
            writers[0].Save(Path.Combine(dir, TorchCheckpoint.SingleFileName));
        }
        else
        {
            string File(int s) => $"pytorch_model-{s + 1:D5}-of-{shards:D5}.bin";
            for (int s = 0; s < shards; s++) writers[s].Save(Path.Combine(dir, File(s)));
            var wm = string.Join(",\n", map.Select(kv => $"    \"{kv.Key}\": \"{File(int.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture))}\""));
            System.IO.File.WriteAllText(Path.Combine(dir, TorchCheckpoint.IndexFileName), "{\"metadata\": {}, \"weight_map\": {\n" + wm + "\n}}\n");
        }
        return $"{shards} shard(s), {transposed} transposed, shared head {shareHead && wte is not null}";
    }

    /// <summary>Every truncation and many random byte changes of a real .bin give a UserError (or a clean load), never
    /// another exception.</summary>
    [Fact]
    public void Corrupt_bin_files_fail_with_a_user_error()
    {
        var src = Path.Combine(Fixture("gpt2-f16-strided-untied"), "pytorch_model.bin");
        var good = File.ReadAllBytes(src);
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(Fixture("gpt2-f16-strided-untied"), "config.json"), Path.Combine(dir, "config.json"));
        var path = Path.Combine(dir, "pytorch_model.bin");
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        int refused = 0, loaded = 0;
        void Try(byte[] bytes, string what)
        {
            File.WriteAllBytes(path, bytes);
            try
            {
                HfCheckpoint.Load(dir);
                loaded++;
            }
            catch (UserError e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                refused++;
            }
            catch (Exception e)
            {
                Assert.Fail($"seed {seed}, {what}: {e.GetType().Name}: {e.Message}");
            }
        }
        for (int n = 0; n < good.Length; n += Math.Max(1, good.Length / 97)) Try(good[..n], $"truncated to {n} bytes");
        for (int k = 0; k < 300; k++)
        {
            var b = (byte[])good.Clone();
            int flips = rng.Next(1, 4);
            var where = new List<int>();
            for (int i = 0; i < flips; i++)
            {
                // Half of the changes land in the pickle (the first entry), the rest anywhere.
                int at = rng.Next(2) == 0 ? rng.Next(30, Math.Min(b.Length, 1500)) : rng.Next(b.Length);
                b[at] = (byte)rng.Next(256);
                where.Add(at);
            }
            Try(b, $"bytes changed at {string.Join(",", where)}");
        }
        TestContext.Current.SendDiagnosticMessage($"seed {seed}: {refused} refused, {loaded} loaded");
        Assert.True(refused > 0);
    }
}

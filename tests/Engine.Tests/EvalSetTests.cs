using System.Text.Json.Nodes;
using LearningCurves.Engine.EvalSets;
using LearningCurves.Tests.Common;
using Xunit;
using LearningCurves.Formats.IO;
using LearningCurves.Formats.EvalSets;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class EvalSetTests
{
    [Fact]
    public void Lines_packing_starts_with_begin_separates_lines_and_drops_the_cut_rest()
    {
        int[][] lines = [[10, 11, 12], [], [20, 21], [30, 31, 32, 33, 34, 35], [40], [50, 51, 52, 53, 54, 55, 56, 57], [60]];
        var seqs = EvalSetBuilder.PackLines(lines, 8, beginId: 1, sepId: 2);
        // [1 10 11 12 2 20 21 2] fills exactly; [1 30..35 2] fills after the sep; line 40 then 50.. cut: rest dropped;
        // [1 60 2] is short and dropped.
        Assert.Equal(3, seqs.Count);
        Assert.Equal([1, 10, 11, 12, 2, 20, 21, 2], seqs[0]);
        Assert.Equal([1, 30, 31, 32, 33, 34, 35, 2], seqs[1]);
        Assert.Equal([1, 40, 2, 50, 51, 52, 53, 54], seqs[2]);
    }

    [Fact]
    public void Stream_packing_cuts_consecutive_chunks()
    {
        int[][] chunks = [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10], [11]];
        var seqs = EvalSetBuilder.PackStream(chunks, 4);
        Assert.Equal(2, seqs.Count);
        Assert.Equal([1, 2, 3, 4], seqs[0]);
        Assert.Equal([5, 6, 7, 8], seqs[1]);
    }

    [Theory]
    [InlineData(1234)]
    [InlineData(-1)]
    public void Packing_matches_a_token_by_token_reference(int seed)
    {
        if (seed < 0) seed = Random.Shared.Next();
        var rng = new Random(seed);
        for (int seqLen = 2; seqLen <= 9; seqLen++)
        {
            for (int round = 0; round < 20; round++)
            {
                // Line lengths 0..2 seqLen: empty lines, lines that fill the room exactly, lines cut.
                var lines = Enumerable.Range(0, rng.Next(0, 12))
                    .Select(_ => Enumerable.Range(0, rng.Next(0, 2 * seqLen + 1)).Select(_ => rng.Next(10, 100)).ToArray()).ToArray();
                AssertSame(ReferenceLines(lines, seqLen, 1, 2), EvalSetBuilder.PackLines(lines, seqLen, 1, 2), "lines", seqLen);
                AssertSame(ReferenceStream(lines, seqLen), EvalSetBuilder.PackStream(lines, seqLen), "stream", seqLen);
            }
        }

        void AssertSame(List<int[]> want, List<int[]> got, string packing, int seqLen)
        {
            for (int i = 0; i < Math.Max(want.Count, got.Count); i++)
            {
                string w = i < want.Count ? string.Join(' ', want[i]) : "none", g = i < got.Count ? string.Join(' ', got[i]) : "none";
                Assert.True(w == g, $"seed {seed}, {packing}, seqLen {seqLen}: sequence {i} is [{g}], want [{w}]");
            }
        }
    }

    // The packings written token by token: begin at a sequence's start, a line's tokens while there is room, a separator
    // when there is room after it; a full sequence is kept.
    private static List<int[]> ReferenceLines(int[][] lines, int seqLen, int begin, int sep)
    {
        var seqs = new List<int[]>();
        var cur = new List<int>();
        void Push(int t)
        {
            cur.Add(t);
            if (cur.Count == seqLen) { seqs.Add([.. cur]); cur.Clear(); }
        }
        foreach (var line in lines.Where(l => l.Length > 0))
        {
            if (cur.Count == 0) Push(begin);
            bool closed = false;
            foreach (int t in line)
            {
                Push(t);
                if (cur.Count == 0) { closed = true; break; }
            }
            if (!closed) Push(sep);
        }
        return seqs;
    }

    private static List<int[]> ReferenceStream(int[][] chunks, int seqLen)
    {
        var all = chunks.SelectMany(c => c).ToArray();
        return Enumerable.Range(0, all.Length / seqLen).Select(i => all[(i * seqLen)..((i + 1) * seqLen)]).ToList();
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(16, 5)]
    [InlineData(16, 15)]
    [InlineData(128, 10)]
    [InlineData(129, 127)]
    public void Targets_are_distinct_sorted_in_range_and_fixed_by_the_seed(int seqLen, int k)
    {
        ulong seed = (ulong)Random.Shared.NextInt64();
        var t = EvalSetBuilder.DrawTargets(7, seqLen, k, seed);
        Assert.Equal(7 * k * 2, t.Length);
        for (int s = 0; s < 7; s++)
        {
            var pos = Enumerable.Range(0, k).Select(i => t[(s * k + i) * 2 + 1]).ToArray();
            Assert.All(Enumerable.Range(0, k), i => Assert.Equal(s, t[(s * k + i) * 2]));
            Assert.True(pos.All(p => p >= 1 && p < seqLen), $"seed {seed}: out of range {string.Join(",", pos)}");
            Assert.True(pos.Zip(pos.Skip(1)).All(x => x.First < x.Second), $"seed {seed}: not strictly increasing {string.Join(",", pos)}");
        }
        Assert.Equal(t, EvalSetBuilder.DrawTargets(7, seqLen, k, seed));
        if (k < seqLen - 1) Assert.NotEqual(t, EvalSetBuilder.DrawTargets(7, seqLen, k, seed + 1));
    }

    [Fact]
    public void Targets_all_lists_every_position_and_bad_counts_are_refused()
    {
        var t = EvalSetBuilder.DrawTargets(2, 4, null, 0);
        Assert.Equal([0, 1, 0, 2, 0, 3, 1, 1, 1, 2, 1, 3], t);
        Assert.Throws<UserError>(() => EvalSetBuilder.DrawTargets(2, 4, 4, 0));
        Assert.Throws<UserError>(() => EvalSetBuilder.DrawTargets(2, 4, 0, 0));
    }

    [Fact]
    public void Target_positions_are_drawn_uniformly()
    {
        // 20,000 sequences x 3 of 1..9: each position is expected 6,667 times; a chi-square with 8 degrees of freedom
        // above 26.1 has probability 0.001.
        ulong seed = (ulong)Random.Shared.NextInt64();
        var t = EvalSetBuilder.DrawTargets(20_000, 10, 3, seed);
        var counts = new double[10];
        for (int i = 1; i < t.Length; i += 2) counts[t[i]]++;
        double expected = 20_000 * 3 / 9.0;
        double chi2 = Enumerable.Range(1, 9).Sum(p => (counts[p] - expected) * (counts[p] - expected) / expected);
        Assert.True(chi2 < 26.1, $"seed {seed}: chi-square {chi2:F1}, counts {string.Join(",", counts.Skip(1))}");
    }

    [Fact]
    public void Picked_sequences_are_distinct_sorted_and_seeded()
    {
        var p = EvalSetBuilder.PickSequences(1000, 50, 42);
        Assert.Equal(50, p.Distinct().Count());
        Assert.True(p.Zip(p.Skip(1)).All(x => x.First < x.Second));
        Assert.True(p.All(i => i is >= 0 and < 1000));
        Assert.Equal(p, EvalSetBuilder.PickSequences(1000, 50, 42));
        Assert.NotEqual(p, EvalSetBuilder.PickSequences(1000, 50, 43));
        Assert.Equal(Enumerable.Range(0, 5), EvalSetBuilder.PickSequences(5, null, 1));
        Assert.Throws<UserError>(() => EvalSetBuilder.PickSequences(5, 6, 1));
    }

    [Fact]
    public void Saved_eval_set_loads_back_and_numpy_shapes_are_the_contract()
    {
        string dir = TestPaths.TempDir();
        var tokens = Enumerable.Range(0, 3 * 5).Select(i => i % 9).ToArray();
        var targets = EvalSetBuilder.DrawTargets(3, 5, 2, 9);
        var set = new EvalSet(tokens, 3, 5, targets, 9);
        set.Save(dir, new JsonObject { ["seed"] = 9 });
        var h = Npy.ReadHeader(Path.Combine(dir, "sequences.npy"));
        Assert.Equal(NpyDType.Int32, h.DType);
        Assert.Equal([3L, 5L], h.Shape);
        var ht = Npy.ReadHeader(Path.Combine(dir, "targets.npy"));
        Assert.Equal(NpyDType.Int32, ht.DType);
        Assert.Equal([6L, 2L], ht.Shape);
        var back = EvalSet.Load(dir);
        Assert.Equal(tokens, back.Tokens);
        Assert.Equal(targets, back.Targets);
        Assert.Equal(set.ContentHash, back.ContentHash);
        Assert.StartsWith("sha256:", back.ContentHash, StringComparison.Ordinal);
        Assert.Equal(9, back.Manifest!["seed"]!.GetValue<int>());
    }

    [Fact]
    public void Changed_arrays_or_out_of_range_ids_are_refused_on_load()
    {
        string dir = TestPaths.TempDir();
        new EvalSet(new int[10], 2, 5, [0, 1, 1, 4], 9).Save(dir, new JsonObject());
        Npy.Write<int>(Path.Combine(dir, "targets.npy"), [0, 1, 1, 3], 2, 2);
        var e = Assert.Throws<UserError>(() => EvalSet.Load(dir));
        Assert.Contains("changed since the eval set was built", e.Message, StringComparison.Ordinal);

        string dir2 = TestPaths.TempDir();
        new EvalSet([0, 1, 2, 3, 9, 0, 1, 2, 3, 4], 2, 5, [0, 1], 9).Save(dir2, new JsonObject());
        Assert.Contains("token id 9", Assert.Throws<UserError>(() => EvalSet.Load(dir2)).Message, StringComparison.Ordinal);

        string dir3 = TestPaths.TempDir();
        new EvalSet(new int[10], 2, 5, [0, 5], 9).Save(dir3, new JsonObject());
        Assert.Contains("example 0", Assert.Throws<UserError>(() => EvalSet.Load(dir3)).Message, StringComparison.Ordinal);
        Assert.Contains("no manifest.json", Assert.Throws<UserError>(() => EvalSet.Load(TestPaths.TempDir())).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Maker_packs_ids_files_with_flags_and_refuses_bad_ids()
    {
        string dir = TestPaths.TempDir();
        string ids = Path.Combine(dir, "ids.txt");
        File.WriteAllLines(ids, Enumerable.Range(0, 60).Select(i => string.Join(' ', Enumerable.Range(0, 2 + i % 7).Select(j => 3 + (i * 7 + j) % 40))));
        var set = EvalSetMaker.Make(new EvalSetRequest
        {
            IdsFile = ids, SeqLen = 12, PerSequence = 4, Seed = 5, Sequences = 10, BeginId = 0, SepId = 1, VocabSize = 50,
        }, Path.Combine(dir, "ev"));
        Assert.Equal(10, set.SequenceCount);
        Assert.Equal(40, set.Examples);
        Assert.All(Enumerable.Range(0, 10), s => Assert.Equal(0, set.Sequence(s)[0]));
        var again = EvalSetMaker.Make(new EvalSetRequest
        {
            IdsFile = ids, SeqLen = 12, PerSequence = 4, Seed = 5, Sequences = 10, BeginId = 0, SepId = 1, VocabSize = 50,
        }, Path.Combine(dir, "ev2"));
        Assert.Equal(set.ContentHash, again.ContentHash);
        var loaded = EvalSet.Load(Path.Combine(dir, "ev"));
        Assert.Equal("lines", loaded.Manifest!["packing"]!.GetValue<string>());
        Assert.Equal(4, loaded.Manifest!["per_sequence"]!.GetValue<int>());

        Assert.Throws<UserError>(() => EvalSetMaker.Make(new EvalSetRequest { IdsFile = ids, SeqLen = 12, Seed = 5, BeginId = 0, SepId = 1, VocabSize = 20 }, Path.Combine(dir, "ev3")));
        Assert.Throws<UserError>(() => EvalSetMaker.Make(new EvalSetRequest { IdsFile = ids, SeqLen = 12, Seed = 5, VocabSize = 50 }, Path.Combine(dir, "ev4")));
        var stream = EvalSetMaker.Make(new EvalSetRequest { IdsFile = ids, SeqLen = 12, PerSequence = null, Seed = 5, Packing = Packing.Stream, VocabSize = 50 }, Path.Combine(dir, "ev5"));
        Assert.Equal(11, stream.Examples / stream.SequenceCount);
        Assert.Equal(File.ReadAllLines(ids).SelectMany(l => l.Split(' ')).Take(12).Select(int.Parse), stream.Sequence(0).ToArray());
    }

    [Fact]
    public void Maker_tokenizes_text_with_the_gpt2_tokenizer()
    {
        string fixture = TestPaths.SharedFixture("tiny-random-gpt2");
        string dir = TestPaths.TempDir();
        string text = Path.Combine(dir, "a.txt");
        File.WriteAllLines(text, Enumerable.Range(0, 50).Select(i => $"line {i} of some plain text for the tiny tokenizer"));
        var set = EvalSetMaker.Make(new EvalSetRequest { TextFiles = [text], TokenizerDir = fixture, SeqLen = 16, PerSequence = 3, Seed = 1, BeginId = 0, SepId = 0 },
            Path.Combine(dir, "ev"));
        Assert.Equal(1000, set.VocabSize);
        Assert.True(set.SequenceCount > 5);
        Assert.All(set.Tokens, id => Assert.InRange(id, 0, 999));
    }
}

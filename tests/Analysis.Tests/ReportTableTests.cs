using System.Globalization;
using LearningCurves.Analysis.Report;
using LearningCurves.Tests.Common;
using Parquet;
using Xunit;

namespace LearningCurves.Analysis.Tests;

public class ReportTableTests
{
    [Fact]
    public async Task Csv_and_parquet_hold_the_same_rows_exactly()
    {
        int seed = Random.Shared.Next();
        var rng = new Random(seed);
        var dir = TestPaths.TempDir();
        string csv = Path.Combine(dir, "t.csv"), pq = Path.Combine(dir, "t.parquet");
        var cols = new[] { TableColumn.Long("example"), TableColumn.Double("aoa"), TableColumn.Text("token") };
        var allIds = new List<long>();
        var allAoa = new List<double>();
        var allTok = new List<string>();
        using (var w = new ExampleTableWriter(csv, pq, cols))
        {
            foreach (int n in new[] { 5, 0, 1000 + rng.Next(50) })
            {
                var ids = Enumerable.Range(allIds.Count, n).Select(i => (long)i).ToArray();
                var aoa = ids.Select(_ => rng.NextDouble() < 0.1 ? double.NaN : rng.NextDouble() * 1e3 - 5).ToArray();
                var tok = ids.Select(i => i % 7 == 0 ? "a,\"b\"\nc" : $"t{i}").ToArray();
                w.WriteBlock([ids, aoa, tok]);
                allIds.AddRange(ids);
                allAoa.AddRange(aoa);
                allTok.AddRange(tok);
            }
            // Nothing final exists until Complete.
            Assert.False(File.Exists(csv) || File.Exists(pq));
            w.Complete();
            Assert.Equal(allIds.Count, w.Rows);
        }

        // CSV: doubles round-trip, NaN empty (the token column is quoted where needed; read only the first two fields).
        var lines = File.ReadAllLines(csv);
        Assert.Equal("example,aoa,token", lines[0]);
        var firstFields = lines.Skip(1).Where(l => l.Length > 0 && char.IsAsciiDigit(l[0])).Select(l => l.Split(',')).ToList();
        Assert.Equal(allIds.Count, firstFields.Count);
        for (int i = 0; i < allIds.Count; i++)
        {
            Assert.Equal(allIds[i], long.Parse(firstFields[i][0], CultureInfo.InvariantCulture));
            double v = firstFields[i][1].Length == 0 ? double.NaN : double.Parse(firstFields[i][1], CultureInfo.InvariantCulture);
            Assert.True(v.Equals(allAoa[i]), $"seed {seed} row {i}: csv {v} vs {allAoa[i]}");
        }

        // Parquet: read back every row group.
        var ct = TestContext.Current.CancellationToken;
        await using var reader = await ParquetReader.CreateAsync(pq, cancellationToken: ct);
        var fields = reader.Schema.DataFields;
        Assert.Equal(["example", "aoa", "token"], fields.Select(f => f.Name));
        var gotIds = new List<long>();
        var gotAoa = new List<double>();
        var gotTok = new List<string>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            int n = (int)rg.RowCount;
            var ids = new long[n];
            var aoa = new double[n];
            var tok = new string?[n];
            await rg.ReadAsync<long>(fields[0], ids, cancellationToken: ct);
            await rg.ReadAsync<double>(fields[1], aoa, cancellationToken: ct);
            await rg.ReadAsync(fields[2], tok.AsMemory(), cancellationToken: ct);
            gotIds.AddRange(ids);
            gotAoa.AddRange(aoa);
            gotTok.AddRange(tok.Select(t => t ?? "<null>"));
        }
        Assert.Equal(allIds, gotIds);
        Assert.Equal(allTok, gotTok);
        for (int i = 0; i < allAoa.Count; i++) Assert.True(allAoa[i].Equals(gotAoa[i]), $"row {i}");
    }

    [Fact]
    public void An_abandoned_table_leaves_no_files_and_bad_blocks_are_refused()
    {
        var dir = TestPaths.TempDir();
        string csv = Path.Combine(dir, "t.csv"), pq = Path.Combine(dir, "t.parquet");
        using (var w = new ExampleTableWriter(csv, pq, [TableColumn.Long("a"), TableColumn.Double("b")]))
        {
            Assert.Throws<ArgumentException>(() => w.WriteBlock([new long[2], new double[3]]));
            Assert.Throws<ArgumentException>(() => w.WriteBlock([new long[2], new long[2]]));
            w.WriteBlock([new long[2], new double[2]]);
        }
        Assert.Empty(Directory.GetFiles(dir));
        Assert.Throws<ArgumentException>(() => new ExampleTableWriter(csv, pq, [TableColumn.Long("a"), TableColumn.Double("a")]));
    }
}

using System.Text.Json;
using LearningCurves.Engine;
using LearningCurves.Tests.Common;
using LearningCurves.Training.Corpus;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Training.Tests;

public sealed class CorpusTests
{
    [Fact]
    public void CleanRemovesAudienceMarkersAndNormalizes()
    {
        var s = CorpusBuilder.Clean("We will win. (Applause.)  And we [Laughter] will \u201Cgrow\u201D \u2014 it\u2019s true.\n[applause] End.");
        Assert.Equal("We will win. And we will \"grow\" \u2014 it's true. End.", s);
        // Parenthesised content that is not a marker stays.
        Assert.Equal("The Act (S. 3,984) passed.", CorpusBuilder.Clean("The Act (S. 3,984) passed."));
    }

    [Fact]
    public void SentencesSplitButNotAfterAbbreviations()
    {
        var s = CorpusBuilder.Sentences("Mr. Speaker, the U.S. Congress met. It was 1790! Was it? \"Yes.\" Gen. Grant spoke to J. Smith. Done");
        Assert.Equal(new[] { "Mr. Speaker, the U.S. Congress met.", "It was 1790!", "Was it?", "\"Yes.\"", "Gen. Grant spoke to J. Smith.", "Done" }, s);
    }

    [Fact]
    public void SplitIsByDocumentAndRecorded()
    {
        var src = TestPaths.TempDir();
        var rng = new Random();
        int docs = 23;
        for (int i = 0; i < docs; i++)
            File.WriteAllText(Path.Combine(src, $"{1800 + i}_doc.txt"), $"Document {i} begins here. It has id {rng.Next()}. (Applause.) The end of {i}.");
        File.WriteAllText(Path.Combine(src, "README.md"), "not a document");
        var outDir = Path.Combine(TestPaths.TempDir(), "corpus");
        var summary = CorpusBuilder.Build(src, outDir, heldOutEvery: 10);
        Assert.Equal(2, summary.HeldOutDocuments);   // indices 9 and 19
        Assert.Equal(21, summary.TrainDocuments);

        var train = File.ReadAllLines(Path.Combine(outDir, CorpusBuilder.TrainFile));
        var held = File.ReadAllLines(Path.Combine(outDir, CorpusBuilder.HeldOutFile));
        Assert.Equal(21 * 3, train.Length);
        Assert.Equal(new[] { "Document 9 begins here.", "Document 19 begins here." }, held.Where(l => l.StartsWith("Document", StringComparison.Ordinal)));
        Assert.DoesNotContain(train, l => l.Contains("Applause", StringComparison.Ordinal));
        Assert.Empty(train.Intersect(held));

        using var m = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, CorpusBuilder.ManifestFile)));
        var list = m.RootElement.GetProperty("documents").EnumerateArray().ToArray();
        Assert.Equal(docs, list.Length);
        Assert.Equal("heldout", list[9].GetProperty("split").GetString());
        Assert.Equal("train", list[10].GetProperty("split").GetString());
        Assert.Equal(3, list[19].GetProperty("first_line").GetInt32());
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp*"));
    }

    [Fact]
    public void MissingSourceIsAUserErrorNamingIt()
    {
        var dir = Path.Combine(TestPaths.TempDir(), "absent");
        var e = Assert.Throws<UserError>(() => CorpusBuilder.Build(dir, TestPaths.TempDir()));
        Assert.StartsWith(dir, e.Message, StringComparison.Ordinal);
    }
}

using System.Text;
using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

/// <summary>Bad input through the runner: exit code 2, one line naming the file and the problem, no output file.</summary>
[Collection(ConsoleTests.Name)]
public class ScoreBadInputTests
{
    private static void Fails(string fileInMessage, string problem, params string[] args)
    {
        int i = Array.IndexOf(args, "--out");
        var outPath = args[i + 1];
        var (code, _, err) = Cli.Run(args);
        Assert.True(code == 2, $"exit {code}, stderr: {err}");
        var line = err.TrimEnd('\n');
        var lines = line.Split('\n').Where(l => !l.StartsWith("backend:", StringComparison.Ordinal)).ToArray();
        Assert.True(lines.Length == 1, $"expected one error line, got: {err}");
        Assert.StartsWith("learning-curves score: ", lines[0]);
        Assert.Contains(fileInMessage, lines[0], StringComparison.Ordinal);
        Assert.Contains(problem, lines[0], StringComparison.Ordinal);
        Assert.False(File.Exists(outPath), "an output file was left behind");
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(outPath)!));
    }

    private static (string Model, string Ids, string Out) Setup(string caseName = "tied-prefix-f32")
    {
        var root = TestPaths.TempDir(caseName);
        var model = Cli.CopyModel(caseName, Path.Combine(root, "model"));
        var ids = Path.Combine(root, "ids.txt");
        File.WriteAllText(ids, "1 2 3 4\n5 6\n");
        var outDir = Path.Combine(root, "out");
        Directory.CreateDirectory(outDir);
        return (model, ids, Path.Combine(outDir, "s.csv"));
    }

    [Fact]
    public void A_truncated_safetensors_file()
    {
        var (model, ids, outCsv) = Setup();
        var st = Path.Combine(model, "model.safetensors");
        var bytes = File.ReadAllBytes(st);
        File.WriteAllBytes(st, bytes[..^10]);
        Fails(st, "truncated", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_safetensors_header_that_lies_about_a_shape()
    {
        var (model, ids, outCsv) = Setup();
        var st = Path.Combine(model, "model.safetensors");
        var bytes = File.ReadAllBytes(st);
        // Same header length, one shape changed: the byte range no longer matches the element count.
        var text = Encoding.Latin1.GetString(bytes);
        int at = text.IndexOf("\"shape\":[96,32]", StringComparison.Ordinal);
        Assert.True(at > 0);
        Encoding.Latin1.GetBytes("\"shape\":[97,32]").CopyTo(bytes, at);
        File.WriteAllBytes(st, bytes);
        Fails(st, "needs 12416 bytes but data_offsets", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_safetensors_header_length_past_the_end()
    {
        var (model, ids, outCsv) = Setup();
        var st = Path.Combine(model, "model.safetensors");
        var bytes = File.ReadAllBytes(st);
        BitConverter.GetBytes((ulong)bytes.Length).CopyTo(bytes, 0);
        File.WriteAllBytes(st, bytes);
        Fails(st, "exceeds the file size", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_config_that_does_not_match_the_tensors()
    {
        var (model, ids, outCsv) = Setup();
        var cfg = Path.Combine(model, "config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"n_layer\": 2", "\"n_layer\": 3", StringComparison.Ordinal));
        Fails(Path.Combine(model, "model.safetensors"), "missing tensors 'h.2.ln_1.weight'",
            "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");

        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"n_layer\": 3", "\"n_layer\": 2", StringComparison.Ordinal)
            .Replace("\"vocab_size\": 96", "\"vocab_size\": 100", StringComparison.Ordinal));
        Fails(Path.Combine(model, "model.safetensors"), "tensor 'transformer.wte.weight' has shape [96, 32]",
            "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_missing_config()
    {
        var (model, ids, outCsv) = Setup();
        File.Delete(Path.Combine(model, "config.json"));
        Fails(Path.Combine(model, "config.json"), "not found", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_missing_tokenizer()
    {
        var (model, _, outCsv) = Setup();
        var text = Path.Combine(Path.GetDirectoryName(model)!, "in.txt");
        File.WriteAllText(text, "some text");
        Fails(model, "no tokenizer", "score", "--model", model, "--text", text, "--out", outCsv, "--backend", "cpu");

        File.WriteAllText(Path.Combine(model, "vocab.json"), "{}");
        Fails(Path.Combine(model, "merges.txt"), "missing", "score", "--model", model, "--text", text, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void Ids_outside_the_vocabulary()
    {
        var (model, ids, outCsv) = Setup();
        File.WriteAllText(ids, "1 2 3\n4 96 5\n");
        Fails(ids, "sequence 2, token 1: id 96 is outside the model's vocabulary (0..95)",
            "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_sequence_longer_than_n_positions()
    {
        var (model, ids, outCsv) = Setup();
        File.WriteAllText(ids, string.Join(' ', Enumerable.Repeat("1", 25)) + "\n");
        Fails(ids, "more than the model's n_positions (24)", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void Malformed_ids()
    {
        var (model, ids, outCsv) = Setup();
        File.WriteAllText(ids, "1 2\n3 four\n");
        Fails(ids, "line 2: 'four' is not a token id", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void Empty_ids()
    {
        var (model, ids, outCsv) = Setup();
        File.WriteAllText(ids, "");
        Fails(ids, "the input is empty", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
        File.WriteAllText(ids, "\n  \n");
        Fails(ids, "the input is empty", "score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void An_empty_text()
    {
        var (model, _, outCsv) = Setup();
        var tinyRandom = TestPaths.SharedFixture("tiny-random-gpt2");
        var text = Path.Combine(Path.GetDirectoryName(model)!, "in.txt");
        File.WriteAllText(text, "");
        Fails(text, "the input is empty", "score", "--model", tinyRandom, "--text", text, "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void A_seq_len_beyond_n_positions()
    {
        var (_, _, outCsv) = Setup();
        var text = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(outCsv)!)!, "in.txt");
        File.WriteAllText(text, "some text");
        var (code, _, err) = Cli.Run("score", "--model", TestPaths.SharedFixture("tiny-random-gpt2"), "--text", text, "--seq-len", "513",
            "--out", outCsv, "--backend", "cpu");
        Assert.Equal(2, code);
        Assert.Contains("--seq-len must be in 2..512", err, StringComparison.Ordinal);
        Assert.False(File.Exists(outCsv));
    }

    [Fact]
    public void Missing_files_and_folders()
    {
        var (model, ids, outCsv) = Setup();
        var nowhere = Path.Combine(Path.GetDirectoryName(model)!, "nowhere");
        Fails(nowhere, "not found", "score", "--model", nowhere, "--ids", ids, "--out", outCsv, "--backend", "cpu");
        Fails(Path.Combine(nowhere, "ids.txt"), "not found", "score", "--model", model, "--ids", Path.Combine(nowhere, "ids.txt"), "--out", outCsv, "--backend", "cpu");
    }

    [Fact]
    public void An_existing_output_is_left_untouched_on_error()
    {
        var (model, ids, outCsv) = Setup();
        File.WriteAllText(ids, "1 200\n");
        File.WriteAllText(outCsv, "previous");
        var (code, _, _) = Cli.Run("score", "--model", model, "--ids", ids, "--out", outCsv, "--backend", "cpu");
        Assert.Equal(2, code);
        Assert.Equal("previous", File.ReadAllText(outCsv));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(outCsv)!));
    }
}

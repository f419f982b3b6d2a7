using LearningCurves.Tests.Common;
using Xunit;

namespace LearningCurves.Runner.Tests;

[Collection(ConsoleTests.Name)]
public class InspectCommandTests
{
    [Fact]
    public void Prints_config_parameters_dtypes_and_tensors()
    {
        var dir = Cli.Parity("inner-untied-noprefix-f16");
        var (code, o, err) = Cli.Run("inspect", "--model", dir);
        Assert.True(code == 0, err);
        Assert.Matches(@"n_inner\s+40 \(MLP width 40\)", o);
        Assert.Matches(@"n_layer\s+3", o);
        Assert.Matches(@"tie_word_embeddings\s+false", o);
        // V=150, P=16, C=24, I=40, L=3, untied: 150*24 + 16*24 + 3*(2*24 + 24*72+72 + 24*24+24 + 2*24 + 24*40+40 + 40*24+24) + 2*24 + 150*24
        long perLayer = 2 * 24 + 24 * 72 + 72 + 24 * 24 + 24 + 2 * 24 + 24 * 40 + 40 + 40 * 24 + 24;
        long total = 150 * 24 + 16 * 24 + 3 * perLayer + 2 * 24 + 150 * 24;
        Assert.Contains($"parameters: {total:N0} stored ({total:N0} from the config)", o, StringComparison.Ordinal);
        Assert.Contains("F16 x", o, StringComparison.Ordinal);
        Assert.Matches(@"h\.1\.mlp\.c_fc\.weight\s+F16\s+\[24, 40\]\s+960", o);
        Assert.Matches(@"h\.0\.attn\.bias\s+F32\s+\[1, 1, 16, 16\]\s+256\s+\(buffer, ignored\)", o);
        Assert.Matches(@"lm_head\.weight\s+F16\s+\[150, 24\]", o);
        // The memory plan from the model's buffers: fp32 weights with the head's own copy padded to 256 rows.
        long fp32Bytes = (total - 150 * 24 + 256 * 24) * 4;
        Assert.Contains($"fp32/tf32  weights {fp32Bytes / (double)(1 << 20):F2} MiB", o, StringComparison.Ordinal);
        Assert.Matches(@"bf16\s+weights [0-9.]+ MiB, per sequence [0-9.]+ MiB, batch 4096 / 4096 / 4096", o);
    }

    [Fact]
    public void Inspects_the_real_hugging_face_checkpoint()
    {
        var (code, o, err) = Cli.Run("inspect", "--model", TestPaths.SharedFixture("tiny-random-gpt2"));
        Assert.True(code == 0, err);
        Assert.Contains("parameters: 111,968 stored", o, StringComparison.Ordinal);
        Assert.Contains("tokenizer: vocab.json + merges.txt", o, StringComparison.Ordinal);
        Assert.Matches(@"transformer\.wte\.weight\s+F32\s+\[1000, 32\]", o);
    }

    [Fact]
    public void A_broken_folder_is_one_line_and_exit_2()
    {
        var dir = TestPaths.TempDir();
        File.WriteAllText(Path.Combine(dir, "config.json"), "{}");
        var (code, _, err) = Cli.Run("inspect", "--model", dir);
        Assert.Equal(2, code);
        Assert.Equal($"learning-curves inspect: {dir}: no weights in the model folder (looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin and pytorch_model.bin.index.json)\n", err);
    }

    [Fact]
    public void Names_the_gpt_neox_architecture_of_a_torch_bin()
    {
        var dir = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-neox", "pythia-like-bin-f32");
        var (code, o, err) = Cli.Run("inspect", "--model", dir);
        Assert.True(code == 0, err);
        Assert.Contains("architecture: GPT-NeoX (model_type \"gpt_neox\", GPTNeoXForCausalLM): rotary on 2 of 8 head dims", o, StringComparison.Ordinal);
        Assert.Contains("weights: pytorch_model.bin (torch.save zip)", o, StringComparison.Ordinal);
        Assert.Matches(@"gpt_neox\.layers\.0\.attention\.rotary_emb\.inv_freq\s+F32\s+\[1\]\s+1\s+\(buffer, ignored\)", o);
        Assert.Matches(@"embed_out\.weight\s+F32\s+\[50, 16\]", o);
    }

    [Fact]
    public void Names_the_llama_family_architecture_and_its_options()
    {
        var fx = Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "parity-llama");
        var (code, o, err) = Cli.Run("inspect", "--model", Path.Combine(fx, "llama-odd-heads-headdim-f32"));
        Assert.True(code == 0, err);
        Assert.Contains("architecture: LLaMA (model_type \"llama\", LlamaForCausalLM): RMSNorm pre-norms, SwiGLU MLP, multi-query attention (3 query heads, 1 kv head), head size 8 (head_dim)", o, StringComparison.Ordinal);
        Assert.Contains("num_key_value_heads             1 (head_dim 8)", o, StringComparison.Ordinal);
        (code, o, err) = Cli.Run("inspect", "--model", Path.Combine(fx, "olmo-clip-f32"));
        Assert.True(code == 0, err);
        Assert.Contains("architecture: OLMo (model_type \"olmo\", OlmoForCausalLM): non-parametric layer norms, SwiGLU MLP, 4 heads, head size 8, rotary on 8 of 8 head dims (rope_theta 10000), clip_qkv 2", o, StringComparison.Ordinal);
        (code, o, err) = Cli.Run("inspect", "--model", Path.Combine(fx, "olmo2-sharded-bf16"));
        Assert.True(code == 0, err);
        Assert.Contains("OLMo-2 (model_type \"olmo2\", Olmo2ForCausalLM): RMSNorm post-norms, QK-norm", o, StringComparison.Ordinal);
        Assert.Contains("(rope_theta 500000)", o, StringComparison.Ordinal);
        (code, o, err) = Cli.Run("inspect", "--model", Path.Combine(fx, "qwen2-gqa-untied-f32"));
        Assert.True(code == 0, err);
        Assert.Contains("architecture: Qwen2 (model_type \"qwen2\", Qwen2ForCausalLM): RMSNorm pre-norms, q/k/v biases, full attention, SwiGLU MLP, grouped-query attention (9 query heads, 3 kv heads), head size 4, rotary on 4 of 4 head dims (rope_theta 1000000)", o, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malicious_bin_is_one_line_exit_2_and_never_runs()
    {
        File.Delete("/tmp/lc-pickle-ran-os-system");
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch-bin", "malicious", "os-system", "pytorch_model.bin"), Path.Combine(dir, "pytorch_model.bin"));
        File.Copy(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "torch-bin", "gpt2-f32-shared-head", "config.json"), Path.Combine(dir, "config.json"));
        var (code, _, err) = Cli.Run("inspect", "--model", dir);
        Assert.Equal(2, code);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
        Assert.Contains("refused: the pickle names the global posix.system", err, StringComparison.Ordinal);
        Assert.False(File.Exists("/tmp/lc-pickle-ran-os-system"));
    }
}

using LearningCurves.Engine;
using LearningCurves.Engine.Model;
using Xunit;
using LearningCurves.Formats;

namespace LearningCurves.Engine.Tests;

public class Gpt2ConfigTests
{
    private static ModelConfig Small => new() { VocabSize = 50257, MaxPositions = 1024, Embd = 768, Layers = 12, Heads = 12 };

    [Fact]
    public void Gpt2_small_has_124M_parameters()
    {
        Assert.Equal(124_439_808, Small.ParameterCount(untiedHead: false));
        Assert.Equal(3072, Small.InnerSize);
        Assert.Equal(64, Small.HeadSize);
    }

    [Fact]
    public void Invalid_configs_name_the_file_and_field()
    {
        var e = Assert.Throws<UserError>(() => (Small with { Heads = 7 }).Validate("m/config.json"));
        Assert.StartsWith("m/config.json: n_embd (768) must be divisible by n_head (7)", e.Message);
        Assert.Throws<UserError>(() => (Small with { VocabSize = 0 }).Validate("c"));
    }
}

using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Sana;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class SanaTransformerTests(ITestOutputHelper output)
{
    const string Case = "sana";

    [Fact]
    public void FixtureMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(Case), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{Case} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{Case} {r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }

    [Fact]
    public void ConfigDefaultsAreSana1600M()
    {
        var c = SanaConfig.From(JsonConfig.Parse("""{"_class_name": "SanaTransformer2DModel"}""", "sana/config.json"));
        Assert.Equal(2240, c.InnerDim);
        Assert.Equal(5600, c.FfnHidden);
        Assert.Equal(32, c.OutChannels);
        Assert.Null(c.InterpolationScale);
        var nullOut = SanaConfig.From(JsonConfig.Parse("""{"in_channels": 16, "out_channels": null}""", "sana/config.json"));
        Assert.Equal(16, nullOut.OutChannels);
    }

    /// <summary>SANA Sprint's keys are read (diffusers' defaults: no guidance embedder, scale 0.1, no qk norm).</summary>
    [Fact]
    public void ConfigReadsSanaSprintsGuidanceEmbeddingAndQkNorm()
    {
        var plain = SanaConfig.From(JsonConfig.Parse("{}", "sana/config.json"));
        Assert.False(plain.GuidanceEmbeds);
        Assert.False(plain.QkNorm);
        Assert.Equal(0.1, plain.GuidanceEmbedsScale);
        var sprint = SanaConfig.From(JsonConfig.Parse("""{"guidance_embeds": true, "guidance_embeds_scale": 0.2, "qk_norm": "rms_norm_across_heads"}""", "sana/config.json"));
        Assert.True(sprint.GuidanceEmbeds);
        Assert.True(sprint.QkNorm);
        Assert.Equal(0.2, sprint.GuidanceEmbedsScale);
    }

    [Theory]
    [InlineData("""{"guidance_embeds": 1}""", "guidance_embeds")]
    [InlineData("""{"qk_norm": "layer_norm"}""", "qk_norm")]
    [InlineData("""{"guidance_embeds_scale": "x"}""", "guidance_embeds_scale")]
    [InlineData("""{"norm_elementwise_affine": true}""", "norm_elementwise_affine")]
    [InlineData("""{"num_cross_attention_heads": 10}""", "num_cross_attention_heads")]
    [InlineData("""{"cross_attention_dim": 1152}""", "cross_attention_dim")]
    [InlineData("""{"_class_name": "PixArtTransformer2DModel"}""", "_class_name")]
    public void ConfigRefusesWhatItCannotRunNamingFileAndKey(string json, string key)
    {
        var e = Assert.ThrowsAny<Exception>(() => SanaConfig.From(JsonConfig.Parse(json, "sana/config.json")));
        Assert.True(e is NotSupportedException or FormatException, e.GetType().Name);
        Assert.StartsWith("sana/config.json: ", e.Message);
        Assert.Contains(key, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

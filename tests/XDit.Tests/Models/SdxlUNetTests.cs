using System.Text.Json.Nodes;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Sdxl;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class SdxlUNetTests(ITestOutputHelper output)
{
    const string Case = "sdxl_unet";

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

    static string FixtureConfigWith(Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixture(Case), "config.json")))!.AsObject();
        edit(node);
        return node.ToJsonString();
    }

    [Theory]
    [InlineData("use_linear_projection", "use_linear_projection")]
    [InlineData("attention_head_dim", "'attention_head_dim' has 2 entries")]
    [InlineData("up_block_types", "up block type 'AttnUpBlock2D'")]
    [InlineData("addition_embed_type", "addition_embed_type 'text'")]
    [InlineData("class_embed_type", "'class_embed_type' must be null")]
    public void ConfigsItCannotRunAreRefusedNamingFileAndKey(string key, string expected)
    {
        var json = FixtureConfigWith(c =>
        {
            switch (key)
            {
                case "use_linear_projection": c[key] = false; break;
                case "attention_head_dim": c[key] = new JsonArray(2, 2); break;
                case "up_block_types": c[key] = new JsonArray("AttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"); break;
                case "addition_embed_type": c[key] = "text"; break;
                case "class_embed_type": c[key] = "timestep"; break;
            }
        });
        var e = Assert.ThrowsAny<Exception>(() => SdxlUNetConfig.From(JsonConfig.Parse(json, "unet/config.json")));
        Assert.Contains("unet/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void TimeIdsThatDoNotFitTheAddEmbeddingAreRefusedWithTheExpectedShape()
    {
        // 72 = text_embeds 24 + 6 time ids × 8: five time ids per row leave text_embeds needing 32 features
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture(Case));
        using var model = SdxlUNet.Load(fx.Dir, ops);
        using var sample = fx.UploadInput(ops, "sample");
        using var text = fx.UploadInput(ops, "encoder_hidden_states");
        using var embeds = fx.UploadInput(ops, "text_embeds");
        var e = Assert.Throws<ArgumentException>(() => model.Forward(ops, new SdxlUNetInputs
        {
            Sample = sample, Timestep = fx.InputFloats("timestep"), EncoderHiddenStates = text, TextEmbeds = embeds,
            TimeIds = fx.InputFloats("time_ids")[..10],
        }));
        Assert.Contains("text_embeds must be [2, 32]", e.Message);
        Assert.Contains("[2, 24]", e.Message);
    }
}

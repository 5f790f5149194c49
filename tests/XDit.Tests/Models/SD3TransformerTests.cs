using System.Text.Json.Nodes;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.SD3;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class SD3TransformerTests
{
    [Theory]
    [InlineData("sd3")]
    [InlineData("sd35")]
    public void FixtureMatchesDiffusers(string name)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
            TestContext.Current.TestOutputHelper?.WriteLine($"{name}/{r.Name}: relative error {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
        foreach (var r in results)
            Assert.True(r.Passed, $"{name}/{r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) {r.Problem}");
    }

    [Fact]
    public void PositionCropIsCentredOnANonSquareGrid()
    {
        // The sd3 fixture stores a 16×16 table; a 3×6 grid takes rows 6..8 and columns 5..10.
        using var ops = new CpuOps();
        using var model = SD3Transformer.Load(TestPaths.Fixture("sd3"), ops);
        int p = model.Config.PosEmbedMaxSize, d = model.Config.InnerDim;
        using var source = Checkpoint.Open(Path.Combine(TestPaths.Fixture("sd3"), "diffusion_pytorch_model.safetensors"));
        using var tableT = source.ReadF32("pos_embed.pos_embed");
        var table = tableT.ToFloatArray();
        int gh = 3, gw = 6, top = (p - gh) / 2, left = (p - gw) / 2;
        Assert.Equal((6, 5), (top, left));

        using var crop = model.PositionCrop(ops, gh, gw);
        Assert.Equal(new[] { gh, gw, d }, crop.Dims);
        var got = ops.ToHost(crop);
        for (int i = 0; i < gh; i++)
            for (int j = 0; j < gw; j++)
                for (int c = 0; c < d; c++)
                    Assert.Equal(table[((top + i) * p + left + j) * d + c], got[(i * gw + j) * d + c]);
        Assert.Throws<ArgumentException>(() => model.PositionCrop(ops, p + 1, 2));
    }

    [Fact]
    public void AttentionCallsSeparateImageAndTextTokens()
    {
        using var ops = new CpuOps();
        using var model = SD3Transformer.Load(TestPaths.Fixture("sd35"), ops);
        int b = 1, h = 6, w = 4, t = 3, p = model.Config.PatchSize;
        using var x = ops.FromHost(Numerics.Random(b * model.Config.InChannels * h * w, 1), b, model.Config.InChannels, h, w);
        using var ctx = ops.FromHost(Numerics.Random(b * t * model.Config.JointAttentionDim, 2), b, t, model.Config.JointAttentionDim);
        using var pooled = ops.FromHost(Numerics.Random(b * model.Config.PooledProjectionDim, 3), b, model.Config.PooledProjectionDim);
        var rec = new JointAttentionRecorder();
        var inputs = new DitInputs { HiddenStates = x, EncoderHiddenStates = ctx, PooledProjections = pooled, Timestep = [500f] };
        using var withRecorder = model.Forward(ops, inputs, rec);
        using var plain = model.Forward(ops, inputs);

        int n = (h / p) * (w / p), heads = model.NumHeads, hd = model.HeadDim;
        Assert.Equal(model.NumBlocks, rec.Calls.Count);
        Assert.Equal(rec.Calls.Count, rec.Calls.Select(c => c.Layer).Distinct().Count());
        foreach (var c in rec.Calls)
        {
            Assert.Equal(AttentionKind.Self, c.Kind);
            Assert.False(c.JointFirst);
            foreach (var s in new[] { c.Q, c.K, c.V }) Assert.Equal(new[] { b, n, heads, hd }, s);
            foreach (var s in new[] { c.JointQ, c.JointK, c.JointV }) Assert.Equal(new[] { b, t, heads, hd }, s);
        }
        Assert.Equal(new[] { b, model.Config.OutChannels, h, w }, plain.Dims);
        Assert.Equal(ops.ToHost(plain), ops.ToHost(withRecorder));
    }

    [Fact]
    public void StagesComposeLikeForwardAndTheTextStreamEndsAtTheLastBlock()
    {
        using var ops = new CpuOps();
        using var model = SD3Transformer.Load(TestPaths.Fixture("sd3"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("sd3"));
        using var x = fx.UploadInput(ops, "hidden_states");
        using var ctx = fx.UploadInput(ops, "encoder_hidden_states");
        using var pooled = fx.UploadInput(ops, "pooled_projections");
        var inputs = new DitInputs { HiddenStates = x, EncoderHiddenStates = ctx, PooledProjections = pooled, Timestep = fx.InputFloats("timestep") };

        using var state = model.Embed(ops, inputs);
        Assert.Equal((4, 5, 20), (state.GridH, state.GridW, state.TotalTokens));
        for (int i = 0; i < model.NumBlocks; i++)
        {
            Assert.NotNull(state.Text);
            model.RunBlock(ops, i, state, LocalAttention.Instance);
        }
        Assert.Null(state.Text);
        using var tokens = model.Finish(ops, state);
        using var staged = model.Unpatchify(ops, tokens, state);
        using var forward = model.Forward(ops, inputs);
        Assert.Equal(ops.ToHost(forward), ops.ToHost(staged));
    }

    [Fact]
    public void WrongShapedWeightNamesBothShapes()
    {
        // A config claiming 3 heads of 16 for weights made for 2 heads of 16.
        var dir = CopyFixtureWithConfig("sd3", cfg => { cfg["num_attention_heads"] = 3; cfg["caption_projection_dim"] = 48; });
        using var ops = new CpuOps();
        var e = Assert.Throws<WeightShapeException>(() => SD3Transformer.Load(dir, ops));
        Assert.Contains("pos_embed.proj.weight", e.Message);
        Assert.Contains("[32, 4, 2, 2]", e.Message);
        Assert.Contains("[48, 4, 2, 2]", e.Message);
    }

    [Fact]
    public void ConfigErrorsAreClear()
    {
        var wrongClass = JsonConfig.Parse("""{"_class_name": "FluxTransformer2DModel"}""", "x/config.json");
        var e = Assert.Throws<NotSupportedException>(() => SD3Config.From(wrongClass));
        Assert.Contains("FluxTransformer2DModel", e.Message);
        Assert.Contains("x/config.json", e.Message);

        // Missing keys take diffusers' defaults; an explicit null out_channels means in_channels.
        var defaults = SD3Config.From(JsonConfig.Parse("""{"_class_name": "SD3Transformer2DModel", "caption_projection_dim": 1152}"""));
        Assert.Equal((18, 18, 64, 96, 16), (defaults.NumLayers, defaults.NumAttentionHeads, defaults.AttentionHeadDim, defaults.PosEmbedMaxSize, defaults.OutChannels));
        Assert.Null(defaults.QkNorm);
        Assert.Empty(defaults.DualAttentionLayers);
        Assert.Equal(8, SD3Config.From(JsonConfig.Parse("""{"in_channels": 8, "out_channels": null}""")).OutChannels);

        Assert.Throws<NotSupportedException>(() => SD3Config.From(JsonConfig.Parse("""{"qk_norm": "layer_norm"}""")));
        Assert.Throws<NotSupportedException>(() => SD3Config.From(JsonConfig.Parse("""{"caption_projection_dim": 100}""")));
    }

    [Fact]
    public void QkNormWeightsWithoutQkNormConfigAreRejected()
    {
        var dir = CopyFixtureWithConfig("sd35", cfg => cfg["qk_norm"] = null);
        using var ops = new CpuOps();
        var e = Assert.Throws<FormatException>(() => SD3Transformer.Load(dir, ops));
        Assert.Contains("norm_q", e.Message);
    }

    /// <summary>A temporary copy of a fixture's model folder with its config edited.</summary>
    internal static string CopyFixtureWithConfig(string fixture, Action<JsonObject> edit)
    {
        var src = TestPaths.Fixture(fixture);
        var dir = TestPaths.TempDir();
        File.Copy(Path.Combine(src, "diffusion_pytorch_model.safetensors"), Path.Combine(dir, "diffusion_pytorch_model.safetensors"));
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        edit(cfg);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        return dir;
    }
}

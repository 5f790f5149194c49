using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Flux;
using XDit.Models.Flux2;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class Flux2TransformerTests
{
    [Fact]
    public void FixtureMatchesDiffusers()
    {
        // 16 noisy tokens then 15 reference tokens in one sequence (ids t = 0 and t = 10): sample_full is every row,
        // sample the noisy ones the pipeline keeps
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("flux2"), ops);
        Assert.Equal(["sample", "sample_full"], results.Select(r => r.Name).Order(StringComparer.Ordinal).ToArray());
        foreach (var r in results)
            TestContext.Current.TestOutputHelper?.WriteLine($"flux2/{r.Name}: relative error {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
        foreach (var r in results)
            Assert.True(r.Passed && r.RelativeError < 1e-4, $"flux2/{r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) {r.Problem}");
    }

    [Fact]
    public void ConfigDefaultsAreFlux2Devs()
    {
        var c = Flux2Config.From(JsonConfig.Parse("""{"_class_name": "Flux2Transformer2DModel", "out_channels": null}"""));
        Assert.Equal((8, 48, 48, 128, 128, 128, 15360), (c.NumLayers, c.NumSingleLayers, c.NumAttentionHeads, c.AttentionHeadDim, c.InChannels, c.OutChannels, c.JointAttentionDim));
        Assert.Equal((6144, 18432, 256, 2000.0, true), (c.InnerDim, c.MlpDim, c.TimestepGuidanceChannels, c.RopeTheta, c.GuidanceEmbeds));
        Assert.Equal(new[] { 32, 32, 32, 32 }, c.AxesDimsRope);
        // int(inner · mlp_ratio) truncates as diffusers does
        Assert.Equal(10, Flux2Config.From(JsonConfig.Parse("""{"num_attention_heads": 1, "attention_head_dim": 4, "axes_dims_rope": [2, 2], "mlp_ratio": 2.6}""")).MlpDim);
    }

    [Theory]
    [InlineData("""{"_class_name": "FluxTransformer2DModel"}""", "_class_name")]
    [InlineData("""{"attention_head_dim": 16, "axes_dims_rope": [4, 4, 4, 2]}""", "axes_dims_rope")]
    [InlineData("""{"attention_head_dim": 16, "axes_dims_rope": [4, 4, 3, 5]}""", "axes_dims_rope")]
    [InlineData("""{"eps": 1e-5}""", "eps")]
    [InlineData("""{"num_layers": 0, "num_single_layers": 0}""", "num_single_layers")]
    [InlineData("""{"mlp_ratio": 0}""", "mlp_ratio")]
    [InlineData("""{"rope_theta": -1}""", "rope_theta")]
    public void ConfigRefusalsNameTheFileAndKey(string json, string key)
    {
        var e = Assert.ThrowsAny<Exception>(() => Flux2Config.From(JsonConfig.Parse(json, "f2/config.json")));
        Assert.True(e is FormatException or NotSupportedException, e.ToString());
        Assert.Contains("f2/config.json", e.Message);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void WrongShapedWeightNamesBothShapes()
    {
        var dir = SD3TransformerTests.CopyFixtureWithConfig("flux2", cfg => cfg["joint_attention_dim"] = 30);
        using var ops = new CpuOps();
        var e = Assert.Throws<WeightShapeException>(() => Flux2Transformer.Load(dir, ops));
        Assert.Contains("context_embedder.weight", e.Message);
        Assert.Contains("[32, 48]", e.Message);
        Assert.Contains("[32, 30]", e.Message);
    }

    [Fact]
    public void GuidanceWeightsUnderAGuidanceFreeConfigAreRefused()
    {
        var dir = SD3TransformerTests.CopyFixtureWithConfig("flux2", cfg => cfg["guidance_embeds"] = false);
        using var ops = new CpuOps();
        var e = Assert.Throws<FormatException>(() => Flux2Transformer.Load(dir, ops));
        Assert.Contains("time_guidance_embed.guidance_embedder", e.Message);
    }

    [Fact]
    public void BadInputsNameWhatIsWrong()
    {
        using var ops = new CpuOps();
        using var model = Flux2TestInputs.LoadModel(ops);
        var f = Flux2TestInputs.Load();
        var owned = new List<Tensor>();
        try
        {
            var good = f.Upload(ops, owned);
            Tensor Own(Tensor t) { owned.Add(t); return t; }
            void Refused(DitInputs bad, params string[] words)
            {
                var e = Assert.Throws<ArgumentException>(() => model.Embed(ops, bad));
                foreach (var w in words) Assert.Contains(w, e.Message);
            }
            Refused(good with { HiddenStates = Own(ops.Zeros(DType.F32, 1, 31, 5)) }, "hidden_states", "[1, 31, 5]");
            Refused(good with { EncoderHiddenStates = Own(ops.Zeros(DType.F32, 1, 12, 40)) }, "encoder_hidden_states", "48");
            Refused(good with { ImgIds = Own(ops.Zeros(DType.F32, 1, 30, 4)) }, "img_ids", "30", "31");
            Refused(good with { ImgIds = Own(ops.Zeros(DType.F32, 31, 3)) }, "img_ids", "[31, 3]");
            Refused(good with { TxtIds = null }, "txt_ids");
            Refused(good with { Timestep = [0.5f, 0.5f] }, "timestep");
            Refused(good with { Guidance = [4f, 4f] }, "guidance");
            // no guidance runs the timestep embedding alone, as diffusers does when it is given none
            using var plain = model.Forward(ops, good);
            using var unguided = model.Forward(ops, good with { Guidance = null });
            Assert.True(Numerics.RelativeError(ops.ToHost(unguided), ops.ToHost(plain)) > 1e-3, "the guidance embedding changed nothing");
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    [Fact]
    public void EmbedBuildsFourAxisRopeTablesAndReadsAGridOnlyWithoutReferences()
    {
        using var ops = new CpuOps();
        using var model = Flux2TestInputs.LoadModel(ops);
        var f = Flux2TestInputs.Load();
        var owned = new List<Tensor>();
        try
        {
            using (var state = model.Embed(ops, f.Upload(ops, owned)))
            {
                // noisy and reference tokens together form no grid: one row of 31
                Assert.Equal((1, 31, 31), (state.GridH, state.GridW, state.TotalTokens));
                var ids = f.Tensors["img_ids"].Data;
                var expect = FluxRope.Tables(ids, 31, [4, 4, 4, 4], 2000);
                Assert.Equal(expect.Cos, ops.ToHost(state.ImageRopeCos!));
                Assert.Equal(expect.Sin, ops.ToHost(state.ImageRopeSin!));
                // channel 2k and 2k+1 of axis a turn by id_a · 2000^(−2k/4); token 20 is a reference token (t = 10)
                int tok = 20;
                for (int a = 0; a < 4; a++)
                    for (int k = 0; k < 2; k++)
                        Assert.Equal(Math.Cos(ids[tok * 4 + a] * Math.Pow(2000, -2.0 * k / 4)), expect.Cos[tok * 16 + a * 4 + 2 * k + 1], 5e-6);
                Assert.Equal(10f, ids[tok * 4]);
                Assert.Equal(new[] { 1, 17 * 32 }, state.Conditioning.Dims);
            }
            using (var state = model.Embed(ops, f.FirstTokens(16).Upload(ops, owned)))
                Assert.Equal((4, 4, 16), (state.GridH, state.GridW, state.TotalTokens));
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    [Fact]
    public void ReferenceTokensSteerTheNoisyRowsThroughAttentionOnly()
    {
        // the reference rows are image tokens like the noisy ones: dropping them changes the noisy rows' output (they
        // attend to them), while the noisy rows alone are the model's plain text-to-image forward
        using var ops = new CpuOps();
        using var model = Flux2TestInputs.LoadModel(ops);
        var f = Flux2TestInputs.Load();
        var full = f.Predict(ops, model);
        var alone = f.FirstTokens(16).Predict(ops, model);
        Assert.Equal(31 * 4, full.Length);
        Assert.Equal(16 * 4, alone.Length);
        Assert.True(Numerics.RelativeError(full[..(16 * 4)], alone) > 1e-3, "the reference tokens did not reach the noisy rows");
    }
}

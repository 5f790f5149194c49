using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.HunyuanVideo;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class HunyuanVideoTransformerTests(ITestOutputHelper output)
{
    /// <summary>hunyuanvideo: the public case (1 dual + 1 single block, 1 refiner block, guidance, 2 rows whose text
    /// keeps 8 and 5 of 8 tokens); hunyuanvideo_i2v (hunyuanvideo_cases.py): latent_concat's 9 input channels to 4,
    /// no guidance, patch_size_t 2, mlp_ratio 2, 2 refiner blocks, text rows keeping 6 and 2 of 6.</summary>
    [Theory]
    [InlineData("hunyuanvideo")]
    [InlineData("hunyuanvideo_i2v")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    [Theory]
    [InlineData("""{"qk_norm": "layer_norm"}""", "qk_norm 'layer_norm'")]
    [InlineData("""{"image_condition_type": "token_replace"}""", "image_condition_type 'token_replace'")]
    [InlineData("""{"rope_axes_dim": [16, 56, 48]}""", "rope_axes_dim [16, 56, 48] sums to 120, expected attention_head_dim 128")]
    [InlineData("""{"rope_axes_dim": [64, 64]}""", "must hold 3 positive even widths")]
    [InlineData("""{"num_layers": 0, "num_single_layers": 0}""", "num_layers + num_single_layers is 0")]
    [InlineData("""{"_class_name": "HunyuanVideoFramepackTransformer3DModel"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => HunyuanVideoConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>An empty config is HunyuanVideo T2V (diffusers' defaults); HunyuanVideo-I2V-33ch's switches load (the
    /// transformer is the same, the pipeline concatenates the image latents).</summary>
    [Fact]
    public void ConfigTakesDiffusersDefaultsAndTheI2VConcatSwitches()
    {
        var c = HunyuanVideoConfig.From(JsonConfig.Parse("{}", "x/config.json"));
        Assert.Equal((24, 128, 20, 40, 2, 16, 16, 4096, 768), (c.NumAttentionHeads, c.AttentionHeadDim, c.NumLayers, c.NumSingleLayers, c.NumRefinerLayers, c.InChannels, c.OutChannels, c.TextEmbedDim, c.PooledProjectionDim));
        Assert.Equal([16, 56, 56], c.RopeAxesDim);
        Assert.True(c.GuidanceEmbeds);
        Assert.Equal((12288, 12288, 64, 64), (c.MlpDim, c.RefinerMlpDim, c.PatchFeatures, c.OutFeatures));
        var i2v = HunyuanVideoConfig.From(JsonConfig.Parse("""{"in_channels": 33, "out_channels": 16, "guidance_embeds": false, "image_condition_type": "latent_concat"}""", "x/config.json"));
        Assert.Equal((132, 64, "latent_concat"), (i2v.PatchFeatures, i2v.OutFeatures, i2v.ImageConditionType));
        Assert.Equal(5, HunyuanVideoConfig.From(JsonConfig.Parse("""{"in_channels": 5, "out_channels": null}""", "x/config.json")).OutChannels);
    }

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("hunyuanvideo"));
        using var model = HunyuanVideoTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        var good = new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
            PooledProjections = up["pooled_projections"], Timestep = [1000, 500], Guidance = [6000, 6000],
        };
        using var frontFrames = ops.Zeros(DType.F32, 2, 2, 4, 4, 6);   // [B, F, C, H, W]
        Assert.Contains("must be [B, 4, F, H, W]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { HiddenStates = frontFrames })).Message);
        using var odd = ops.Zeros(DType.F32, 2, 4, 2, 5, 6);
        Assert.Contains("5×6 is not a multiple of patch_size 2", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { HiddenStates = odd })).Message);
        Assert.Contains("needs guidance", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { Guidance = null })).Message);
        Assert.Contains("needs pooled_projections [2, 8]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { PooledProjections = null })).Message);
        using var gap = ops.FromHost([1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 2, 8);
        Assert.Contains("row 0 keeps token 3 after padded token 2", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderAttentionMask = gap })).Message);
        using var none = ops.FromHost([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 2, 8);
        Assert.Contains("row 0 keeps no token", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderAttentionMask = none })).Message);
        using var shortMask = ops.Zeros(DType.F32, 2, 7);
        Assert.Contains("encoder_attention_mask must be [2, 8]", Assert.Throws<ArgumentException>(() => model.Embed(ops, good with { EncoderAttentionMask = shortMask })).Message);
    }

    /// <summary>The state holds the video grid and the text key bias [B, N + T] (zeros for the video keys, −10000 for
    /// the text keys past each row's kept count); without padding there is no bias; unpatchify puts each token's
    /// features (c, frame in group, row, column) back where its patch came from.</summary>
    [Fact]
    public void StateHoldsTheGridAndTheKeyBiasAndUnpatchifyInvertsThePatchLayout()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("hunyuanvideo_i2v"));
        using var model = HunyuanVideoTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        var inputs = new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], EncoderAttentionMask = up["encoder_attention_mask"],
            PooledProjections = up["pooled_projections"], Timestep = [999, 250],
        };
        using (var state = model.Embed(ops, inputs))
        {
            // 4 latent frames in groups of 2, 4×6 latents in 2×2 patches: 2 × 2×3 = 12 tokens
            Assert.Equal((12, 2, 4, 3), (state.TotalTokens, state.GridT, state.GridH, state.GridW));
            Assert.Equal([2, 6, 16], state.Text!.Dims);
            var bias = ops.ToHost(state.TextKeyBias!);
            Assert.Equal(2 * 18, bias.Length);
            Assert.All(bias.AsSpan(0, 18).ToArray(), v => Assert.Equal(0f, v));              // row 0 keeps all 6
            Assert.All(bias.AsSpan(18, 14).ToArray(), v => Assert.Equal(0f, v));             // row 1: 12 video + 2 text
            Assert.All(bias.AsSpan(32, 4).ToArray(), v => Assert.Equal(TextKeyBias.PaddedKeyBias, v));

            var tokens = new float[2 * 12 * 32];
            for (int i = 0; i < tokens.Length; i++) tokens[i] = i;
            using var tk = ops.FromHost(tokens, 2, 12, 32);
            using var video = model.Unpatchify(ops, tk, state);
            Assert.Equal([2, 4, 4, 4, 6], video.Dims);
            var v = ops.ToHost(video);
            // batch 1, frame group 1, patch row 0, column 2 is token 1·6 + 0·3 + 2 = 8; feature (c 3, frame 1, a 1, b 0)
            // is 3·8 + 1·4 + 1·2 + 0 = 30; it lands at channel 3, frame 3, y 1, x 4
            Assert.Equal((1 * 12 + 8) * 32 + 30, v[(((1 * 4 + 3) * 4 + 3) * 4 + 1) * 6 + 4]);
        }
        using var allKept = ops.FromHost(Enumerable.Repeat(1f, 12).ToArray(), 2, 6);
        using var unpadded = model.Embed(ops, inputs with { EncoderAttentionMask = allKept });
        Assert.Null(unpadded.TextKeyBias);
    }

    /// <summary>The RoPE rows: token (f, y, x) rotates its frame features at f, its height features at y, its width
    /// features at x, pairs interleaved, each axis from frequency 1 down in float32 as diffusers computes them.</summary>
    [Fact]
    public void RopeTablesRotateEachAxisByItsPosition()
    {
        var (cos, sin) = HunyuanVideoRope.Tables(3, 4, 5, [4, 6, 6], 256.0);
        Assert.Equal(3 * 4 * 5 * 16, cos.Length);
        Assert.All(cos.AsSpan(0, 16).ToArray(), v => Assert.Equal(1f, v));
        int o = ((2 * 4 + 3) * 5 + 4) * 16;   // token (2, 3, 4)
        Assert.Equal(MathF.Sin(2f), sin[o]);
        Assert.Equal(MathF.Sin(2f), sin[o + 1]);
        Assert.Equal(MathF.Sin(2f / 16f), sin[o + 2], 6);            // frame axis pair 1: 256^(−2/4) = 1/16
        Assert.Equal(MathF.Cos(3f), cos[o + 4]);
        Assert.Equal(MathF.Sin(4f), sin[o + 10]);
        Assert.Equal(MathF.Sin(4f * MathF.Pow(256f, -4f / 6f)), sin[o + 14], 6);
    }

    /// <summary>One row alone (the CFG split's case) keeps 5 of its 8 text tokens: the text is cut to those 5 and the
    /// attention runs without a key bias; the output is still diffusers' for that row (computed over all 8 with its
    /// mask).</summary>
    [Fact]
    public void ARowAloneDropsItsPaddedTextAndStillMatchesDiffusers()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("hunyuanvideo"));
        using var model = HunyuanVideoTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        Tensor Row1(string name) => up[name].Slice(0, 1, 1);
        var inputs = new DitInputs
        {
            HiddenStates = Row1("hidden_states"), EncoderHiddenStates = Row1("encoder_hidden_states"), EncoderAttentionMask = Row1("encoder_attention_mask"),
            PooledProjections = Row1("pooled_projections"), Timestep = [fx.InputFloats("timestep")[1]], Guidance = [fx.InputFloats("guidance")[1]],
        };
        using (var state = model.Embed(ops, inputs))
        {
            Assert.Equal([1, 5, 20], state.Text!.Dims);
            Assert.Null(state.TextKeyBias);
        }
        using var y = model.Forward(ops, inputs);
        using var want = fx.Expected("sample");
        var all = want.ToFloatArray();
        var row = all.AsSpan(all.Length / 2).ToArray();
        double err = Numerics.RelativeError(ops.ToHost(y), row);
        output.WriteLine($"row 1 alone: rel {err:E3}");
        Assert.True(err < 1e-4, $"row 1 alone: relative error {err:E3}");
    }

    /// <summary>The real-size entry's toy twin runs a forward on the CPU with its random weights; the real one takes
    /// its video latent (9×68×120: 33 frames at 544×960) and refuses a square latent size.</summary>
    [Fact]
    public void RealSizeEntriesRunAndKeepTheirVideoLatent()
    {
        var tiny = XDit.Engine.Bench.RealSizeModels.Workload("hunyuanvideo-tiny", DType.F32);
        Assert.Equal((12, 8, 1), (tiny.ImageTokens, tiny.TextTokens, tiny.Rows));
        using var ops = new CpuOps();
        using var model = tiny.Load(ops);
        var owned = new List<Tensor>();
        try
        {
            using var y = model.Forward(ops, tiny.Inputs(ops, owned));
            Assert.Equal([1, 4, 2, 4, 6], y.Dims);
            Assert.All(ops.ToHost(y), v => Assert.True(float.IsFinite(v)));
        }
        finally { foreach (var t in owned) t.Dispose(); }
        var real = XDit.Engine.Bench.RealSizeModels.Workload("hunyuanvideo", DType.BF16, shapeOnlyWeights: true);
        Assert.Equal((9 * 34 * 60, 256, 1, 24), (real.ImageTokens, real.TextTokens, real.Rows, real.Heads));
        Assert.Contains("9×68×120", Assert.Throws<ArgumentException>(() => XDit.Engine.Bench.RealSizeModels.Workload("hunyuanvideo", DType.BF16, latentSize: 64)).Message);
    }
}

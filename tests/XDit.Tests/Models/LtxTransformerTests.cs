using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Ltx;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class LtxTransformerTests(ITestOutputHelper output)
{
    const string Fixture = "ltx";

    /// <summary>ltx: LTX-Video's architecture at toy size (4 heads × 8, 2 layers, caption 32), 3 latent frames of 4×6
    /// packed, caption rows keeping 10 and 6 of 10 tokens, rope_interpolation_scale (8/25, 32, 32); ltx_shapes
    /// (tests/fixtures/ltx_cases.py): norm1/norm2 weights, no attention biases, D mod 6 = 4, patch sizes 2 scaling the
    /// RoPE grid, out_channels ≠ in_channels, a 3×2×5 grid.</summary>
    [Theory]
    [InlineData("ltx")]
    [InlineData("ltx_shapes")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    [Theory]
    [InlineData("""{"qk_norm": "rms_norm"}""", "qk_norm 'rms_norm' is not supported")]
    [InlineData("""{"activation_fn": "gelu"}""", "activation_fn 'gelu' is not supported")]
    [InlineData("""{"cross_attention_dim": 4096}""", "cross_attention_dim 4096 must equal num_attention_heads × attention_head_dim = 2048")]
    [InlineData("""{"num_attention_heads": 1, "attention_head_dim": 5, "cross_attention_dim": 5}""", "= 5 must be even and at least 6")]
    [InlineData("""{"num_attention_heads": 0}""", "num_attention_heads")]
    [InlineData("""{"_class_name": "WanTransformer3DModel"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => LtxConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>diffusers' defaults are LTX-Video 0.9's; out_channels null takes in_channels.</summary>
    [Fact]
    public void ConfigTakesDiffusersDefaults()
    {
        var c = LtxConfig.From(JsonConfig.Parse("""{"out_channels": null, "in_channels": 64, "cross_attention_dim": 2048}""", "x/config.json"));
        Assert.Equal((32, 64, 28, 64, 64, 4096, 2048), (c.NumAttentionHeads, c.AttentionHeadDim, c.NumLayers, c.InChannels, c.OutChannels, c.CaptionChannels, c.InnerDim));
        Assert.Equal((1, 1), (c.PatchSize, c.PatchSizeT));
        Assert.False(c.NormElementwiseAffine);
        Assert.True(c.AttentionBias && c.AttentionOutBias);
        Assert.Equal(1e-6, c.NormEps);
    }

    /// <summary>The table row spans all heads: D mod 6 features first, unrotated; then pair 3j + a turns axis a
    /// (frame, row, column) at θ^(j/(⌊D/6⌋ − 1))·π/2 times 2·g_a − 1, g = position·scale·patch / (20, 2048, 2048).</summary>
    [Fact]
    public void RotaryTableAlternatesTheAxesPairByPairAfterTheUnrotatedRemainder()
    {
        // D = 16: 4 features of remainder, then ⌊16/6⌋ = 2 frequencies (π/2 and 10⁴·π/2) for each of 3 axes
        var c = LtxConfig.From(JsonConfig.Parse("""{"num_attention_heads": 2, "attention_head_dim": 8, "cross_attention_dim": 16}""", "x/config.json"));
        var (cos, sin) = LtxRotaryTable.Build(c, 2, 3, 5, (0.5f, 64f, 128f));
        Assert.Equal(2 * 3 * 5 * 16, cos.Length);
        int token = (1 * 3 + 2) * 5 + 3, o = token * 16;   // frame 1, row 2, column 3
        for (int i = 0; i < 4; i++) Assert.Equal((1f, 0f), (cos[o + i], sin[o + i]));
        double[] g = [1 * 0.5 / 20, 2 * 64.0 / 2048, 3 * 128.0 / 2048];
        double[] w = [Math.PI / 2, 10000 * Math.PI / 2];
        for (int j = 0; j < 2; j++)
            for (int a = 0; a < 3; a++)
            {
                double angle = w[j] * (2 * g[a] - 1);
                int e = o + 4 + 2 * (3 * j + a);
                // the high frequency's angle (~1.5·10⁴ rad) is formed in float32, as torch forms it
                int digits = j == 0 ? 5 : 2;
                Assert.Equal(Math.Cos(angle), cos[e], digits);
                Assert.Equal(cos[e], cos[e + 1]);
                Assert.Equal(Math.Sin(angle), sin[e], digits);
                Assert.Equal(sin[e], sin[e + 1]);
            }
        // position 0 of every axis is g = 0: the angle is −ω_j, not 0
        Assert.Equal(Math.Cos(-Math.PI / 2), cos[4], 5);
        Assert.Equal(-1f, sin[4], 5);
    }

    /// <summary>The patch sizes scale the grid as diffusers' coordinates do (p_t on frames, p on rows and columns).</summary>
    [Fact]
    public void PatchSizesScaleTheRotaryGrid()
    {
        var c = LtxConfig.From(JsonConfig.Parse("""{"num_attention_heads": 1, "attention_head_dim": 6, "cross_attention_dim": 6}""", "x/config.json"));
        var (_, plain) = LtxRotaryTable.Build(c, 2, 2, 2, (1f, 32f, 32f));
        var (_, patched) = LtxRotaryTable.Build(c with { PatchSize = 2, PatchSizeT = 3 }, 2, 2, 2, (1f, 32f, 32f));
        var (_, scaled) = LtxRotaryTable.Build(c, 2, 2, 2, (3f, 64f, 64f));
        Assert.Equal(scaled, patched);
        Assert.NotEqual(plain, patched);
    }

    static DitInputs Inputs(FixtureUploads up, FixtureCase fx) => new()
    {
        HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"],
        EncoderAttentionMask = up["encoder_attention_mask"], Timestep = fx.InputFloats("timestep"),
        ImgShape = (3, 4, 6), RopeInterpolationScale = LtxFixtureRunner.RopeInterpolationScale(fx),
    };

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        using var model = LtxTransformer.Load(TestPaths.Fixture(Fixture), ops);
        using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
        using var up = new FixtureUploads(fx, ops);
        var good = Inputs(up, fx);
        using var unpacked = ops.Zeros(DType.F32, 2, 8, 3, 4, 6);
        using var wideText = ops.Zeros(DType.F32, 2, 10, 33);
        using var shortMask = ops.Zeros(DType.F32, 2, 9);
        string Refusal(DitInputs i) => Assert.Throws<ArgumentException>(() => model.Embed(ops, i)).Message;
        Assert.Contains("must be packed [B, F·H·W, 8], got [2, 8, 3, 4, 6]", Refusal(good with { HiddenStates = unpacked }));
        Assert.Contains("grid 3×4×5 (num_frames × height × width) does not hold the 72 tokens", Refusal(good with { ImgShape = (3, 4, 5) }));
        Assert.Contains("needs num_frames, height and width", Refusal(good with { ImgShape = null }));
        Assert.Contains("needs rope_interpolation_scale", Refusal(good with { RopeInterpolationScale = null }));
        Assert.Contains("must be finite, got (NaN, 32, 32)", Refusal(good with { RopeInterpolationScale = (float.NaN, 32f, 32f) }));
        Assert.Contains("one timestep per batch row (2), got 3", Refusal(good with { Timestep = [1, 2, 3] }));
        Assert.Contains("encoder_hidden_states must be [2, T, 32], got [2, 10, 33]", Refusal(good with { EncoderHiddenStates = wideText }));
        Assert.Contains("encoder_attention_mask must be [2, 10]; got [2, 9]", Refusal(good with { EncoderAttentionMask = shortMask }));
    }

    /// <summary>A checkpoint whose norm1 does not match norm_elementwise_affine is refused at load, naming the tensor.</summary>
    [Fact]
    public void NormAffineMustMatchTheConfig()
    {
        using var ops = new CpuOps();
        var config = LtxConfig.Load(Path.Combine(TestPaths.Fixture(Fixture), "config.json")) with { NormElementwiseAffine = true };
        using var source = Checkpoint.Open(TestPaths.Fixture(Fixture));
        var e = Assert.ThrowsAny<Exception>(() => LtxTransformer.Load(config, source, ops));
        Assert.Contains("transformer_blocks.0.norm1.weight", e.Message);
    }

    /// <summary>The video grid: 3 latent frames of 4×6 tokens, their rows stacked; the RoPE rows are D wide (all heads);
    /// the padded caption keys get −10000; the output stays packed.</summary>
    [Fact]
    public void StateHoldsTheVideoGridAndTheOutputStaysPacked()
    {
        using var ops = new CpuOps();
        using var model = LtxTransformer.Load(TestPaths.Fixture(Fixture), ops);
        using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
        using var up = new FixtureUploads(fx, ops);
        using var state = model.Embed(ops, Inputs(up, fx));
        Assert.Equal((72, 3, 12, 6), (state.TotalTokens, state.GridT, state.GridH, state.GridW));
        Assert.Equal([2, 10, 32], state.Text!.Dims);
        Assert.Equal([2, 192], state.Conditioning.Dims);
        Assert.Equal([2, 32], state.EmbeddedTimestep!.Dims);
        Assert.Equal([72, 32], state.ImageRopeCos!.Dims);
        var bias = ops.ToHost(state.TextKeyBias!);
        Assert.Equal(0f, bias[10 + 5]);
        Assert.Equal(TextKeyBias.PaddedKeyBias, bias[10 + 6]);
        using var tokens = ops.FromHost(Enumerable.Range(0, 2 * 72 * 8).Select(i => (float)i).ToArray(), 2, 72, 8);
        using var sample = model.Unpatchify(ops, tokens, state);
        Assert.Equal([2, 72, 8], sample.Dims);
        Assert.Equal(ops.ToHost(tokens), ops.ToHost(sample));
        using var wrong = ops.Zeros(DType.F32, 2, 71, 8);
        Assert.Contains("[B, 72, 8] tokens", Assert.Throws<ArgumentException>(() => model.Unpatchify(ops, wrong, state)).Message);
    }
}

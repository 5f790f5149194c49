using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Wan;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class WanTransformerTests(ITestOutputHelper output)
{
    /// <summary>wan: Wan 2.1's architecture at toy size (2 heads × 12, 2 layers, cross_attn_norm), 3 latent frames of
    /// 4×6, UMT5 states zeroed past each prompt; wan_shapes (tests/fixtures/wan_cases.py): no norm2, patch (2, 2, 2),
    /// 8 channels in and 4 out, freq_dim 32, eps 1e-5, one row of a 3×2×5 patch grid; wan22_ti2v: Wan2.2-TI2V-5B's
    /// switches (in = out channels) with its pipeline's per-token timesteps, one value a row.</summary>
    [Theory]
    [InlineData("wan")]
    [InlineData("wan_shapes")]
    [InlineData("wan22_ti2v")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    [Theory]
    [InlineData("""{"image_dim": 1280}""", "image_dim 1280 is not supported")]
    [InlineData("""{"added_kv_proj_dim": 5120}""", "added_kv_proj_dim 5120 is not supported")]
    [InlineData("""{"pos_embed_seq_len": 514}""", "pos_embed_seq_len 514 is not supported")]
    [InlineData("""{"qk_norm": "rms_norm"}""", "qk_norm 'rms_norm'")]
    [InlineData("""{"patch_size": [2, 2]}""", "patch_size must be 3 integers")]
    [InlineData("""{"attention_head_dim": 13}""", "attention_head_dim 13 must be even")]
    [InlineData("""{"_class_name": "CogVideoXTransformer3DModel"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => WanConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>diffusers' defaults are Wan2.1-T2V-14B's; null image keys are the text-to-video model.</summary>
    [Fact]
    public void ConfigTakesDiffusersDefaults()
    {
        var c = WanConfig.From(JsonConfig.Parse("""{"image_dim": null, "added_kv_proj_dim": null, "out_channels": null}""", "x/config.json"));
        Assert.Equal((40, 128, 40, 16, 16, 4096, 256, 13824, 1024), (c.NumAttentionHeads, c.AttentionHeadDim, c.NumLayers, c.InChannels, c.OutChannels, c.TextDim, c.FreqDim, c.FfnDim, c.RopeMaxSeqLen));
        Assert.Equal((1, 2, 2), (c.PatchT, c.PatchH, c.PatchW));
        Assert.True(c.CrossAttnNorm);
        Assert.Equal(1e-6, c.Eps);
        // head_dim 128: height and width take 42 features each, frames 44
        Assert.Equal((44, 42), (c.RopeTDim, c.RopeHDim));
        Assert.Equal(64, c.OutFeatures);
    }

    /// <summary>Token (frame f, row y, column x) takes the frame axis' angles of f in its first t_dim features, the
    /// height's of y, then the width's of x; pair i of an axis of width a turns at 10000^(−2i/a), both of a pair alike.</summary>
    [Fact]
    public void RotaryTableTakesEachAxisPositionInItsOwnFeatures()
    {
        var c = WanConfig.From(JsonConfig.Parse("""{"attention_head_dim": 12, "num_attention_heads": 2}""", "x/config.json"));
        Assert.Equal((4, 4), (c.RopeTDim, c.RopeHDim));
        var (cos, sin) = WanRotaryTable.Build(c, 3, 2, 5);
        Assert.Equal(3 * 2 * 5 * 12, cos.Length);
        Assert.All(cos.AsSpan(0, 12).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(sin.AsSpan(0, 12).ToArray(), v => Assert.Equal(0f, v));
        int token = (2 * 2 + 1) * 5 + 3, o = token * 12;   // frame 2, row 1, column 3
        Assert.Equal(MathF.Sin(2f), sin[o], 6);
        Assert.Equal(MathF.Sin(2f), sin[o + 1], 6);
        Assert.Equal(MathF.Sin(2f / 100f), sin[o + 2], 5);   // pair 1 of 4 features: 10000^(−1/2)
        Assert.Equal(MathF.Cos(1f), cos[o + 4], 6);
        Assert.Equal(MathF.Sin(3f), sin[o + 8], 6);
        Assert.Equal(MathF.Sin(3f / 100f), sin[o + 11], 5);
        var e = Assert.Throws<ArgumentException>(() => WanRotaryTable.Build(c with { RopeMaxSeqLen = 4 }, 3, 2, 5));
        Assert.Contains("exceeds rope_max_seq_len 4", e.Message);
    }

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        using var model = WanTransformer.Load(TestPaths.Fixture("wan"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("wan"));
        using var up = new FixtureUploads(fx, ops);
        using var odd = ops.Zeros(DType.F32, 2, 16, 3, 5, 6);
        using var framesFirst = ops.Zeros(DType.F32, 2, 3, 16, 4, 6);
        using var wideText = ops.Zeros(DType.F32, 2, 12, 33);
        DitInputs With(Tensor x, Tensor? text = null, float[]? t = null) => new()
        {
            HiddenStates = x, EncoderHiddenStates = text ?? up["encoder_hidden_states"], Timestep = t ?? [1, 2],
        };
        Assert.Contains("[B, 16, F, H, W] (channels before frames)", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(framesFirst))).Message);
        Assert.Contains("3×5×6 (frames × height × width) is not a multiple of patch_size (1, 2, 2)", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(odd))).Message);
        Assert.Contains("must be [2, T, 32], got [2, 12, 33]", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(up["hidden_states"], wideText))).Message);
        Assert.Contains("one timestep per batch row (2) or per token (2 × 18), got 3", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(up["hidden_states"], t: [1, 2, 3]))).Message);
        var perToken = Enumerable.Repeat(5f, 36).ToArray();
        perToken[20] = 0f;   // row 1, token 2: an image-conditioned frame
        Assert.Contains("differ within a row are not supported (row 1: token 0 at 5, token 2 at 0", Assert.Throws<NotSupportedException>(() => model.Embed(ops, With(up["hidden_states"], t: perToken))).Message);
    }

    /// <summary>A checkpoint whose norm2 does not match cross_attn_norm is refused at load, naming the tensor.</summary>
    [Fact]
    public void Norm2MustMatchTheConfig()
    {
        using var ops = new CpuOps();
        var config = WanConfig.Load(Path.Combine(TestPaths.Fixture("wan"), "config.json")) with { CrossAttnNorm = false };
        using var source = Checkpoint.Open(TestPaths.Fixture("wan"));
        var e = Assert.Throws<FormatException>(() => WanTransformer.Load(config, source, ops));
        Assert.Contains("blocks.0.norm2.weight", e.Message);
        Assert.Contains("cross_attn_norm false", e.Message);
    }

    /// <summary>The video grid: 3 latent frames of 2×3 patches, their rows stacked; unpatchify puts each feature
    /// (p_t, p_h, p_w, C) of a token back where its patch came from.</summary>
    [Fact]
    public void StateHoldsTheVideoGridAndUnpatchifyInvertsThePatchLayout()
    {
        using var ops = new CpuOps();
        using var model = WanTransformer.Load(TestPaths.Fixture("wan"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("wan"));
        using var up = new FixtureUploads(fx, ops);
        using var state = model.Embed(ops, new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], Timestep = [999, 437],
        });
        Assert.Equal((18, 3, 6, 3), (state.TotalTokens, state.GridT, state.GridH, state.GridW));
        Assert.Equal([2, 12, 24], state.Text!.Dims);
        Assert.Equal([2, 144], state.Conditioning.Dims);
        Assert.Equal([18, 12], state.ImageRopeCos!.Dims);
        var tokens = new float[2 * 18 * 64];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = i;
        using var tk = ops.FromHost(tokens, 2, 18, 64);
        using var video = model.Unpatchify(ops, tk, state);
        Assert.Equal([2, 16, 3, 4, 6], video.Dims);
        var v = ops.ToHost(video);
        // batch 1, frame 2, patch row 1, column 2 is token 2·6 + 1·3 + 2 = 17; feature (a 1, b 0, c 5) is
        // (1·2 + 0)·16 + 5 = 37; it lands at channel 5, frame 2, y 3, x 4
        float want = (1 * 18 + 17) * 64 + 37;
        Assert.Equal(want, v[(((1 * 16 + 5) * 3 + 2) * 4 + 3) * 6 + 4]);
    }

    /// <summary>The released transformers' configs as diffusers' conversion script writes them: the text-to-video ones
    /// load (Wan2.2-TI2V-5B's too: its per-token timesteps are the pipeline's, refused at Embed), the image-to-video
    /// one is refused naming its image embedder.</summary>
    public static TheoryData<string, string, int, int> ReleasedConfigs() => new()
    {
        { "Wan2.1-T2V-1.3B", """{"added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "in_channels": 16, "num_attention_heads": 12, "num_layers": 30, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 4096}""", 1536, 64 },
        { "Wan2.1-T2V-14B", """{"added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 13824, "freq_dim": 256, "in_channels": 16, "num_attention_heads": 40, "num_layers": 40, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 4096}""", 5120, 64 },
        { "Wan2.2-T2V-A14B", """{"added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 13824, "freq_dim": 256, "in_channels": 16, "num_attention_heads": 40, "num_layers": 40, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 4096}""", 5120, 64 },
        { "Wan2.2-TI2V-5B", """{"added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 14336, "freq_dim": 256, "in_channels": 48, "num_attention_heads": 24, "num_layers": 30, "out_channels": 48, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 4096}""", 3072, 192 },
        { "Wan2.1-I2V-14B-480P", """{"image_dim": 1280, "added_kv_proj_dim": 5120, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 13824, "freq_dim": 256, "in_channels": 36, "num_attention_heads": 40, "num_layers": 40, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "text_dim": 4096}""", 0, 0 },
    };

    [Theory, MemberData(nameof(ReleasedConfigs))]
    public void EveryReleasedTextToVideoConfigLoadsAndImageToVideoIsRefused(string name, string json, int dim, int outFeatures)
    {
        string path = $"{name}/transformer/config.json";
        if (dim == 0)
        {
            var e = Assert.Throws<NotSupportedException>(() => WanConfig.From(JsonConfig.Parse(json, path)));
            Assert.Contains($"{path}: image_dim 1280 is not supported", e.Message);
            return;
        }
        var c = WanConfig.From(JsonConfig.Parse(json, path));
        Assert.Equal((dim, outFeatures, 1024), (c.InnerDim, c.OutFeatures, c.RopeMaxSeqLen));
        // the default video of each: 81 frames of 480×832 (Wan 2.2 TI2V: 121 of 704×1280, a 16× VAE) in latents
        var (f, h, w) = name == "Wan2.2-TI2V-5B" ? (31, 44, 80) : (21, 60, 104);
        var (cos, sin) = WanRotaryTable.Build(c, f, h / 2, w / 2);
        Assert.Equal(f * (h / 2) * (w / 2) * 128, cos.Length);
        Assert.Equal(cos.Length, sin.Length);
    }

    /// <summary>Wan 2.2 TI2V's text-to-video call passes a timestep per token, the row's value everywhere: diffusers'
    /// per-token path then computes exactly the per-row one, and so does this model.</summary>
    [Fact]
    public void PerTokenTimestepsOfOneValueARowEqualThePerRowCall()
    {
        using var ops = new CpuOps();
        using var model = WanTransformer.Load(TestPaths.Fixture("wan"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("wan"));
        using var up = new FixtureUploads(fx, ops);
        DitInputs With(float[] t) => new() { HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], Timestep = t };
        using var perRow = model.Forward(ops, With([700f, 250f]));
        using var perToken = model.Forward(ops, With([.. Enumerable.Repeat(700f, 18), .. Enumerable.Repeat(250f, 18)]));
        using var other = model.Forward(ops, With([250f, 700f]));
        Assert.Equal(ops.ToHost(perRow), ops.ToHost(perToken));
        Assert.NotEqual(ops.ToHost(perRow), ops.ToHost(other));
    }
}

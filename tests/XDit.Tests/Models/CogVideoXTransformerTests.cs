using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.CogVideoX;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class CogVideoXTransformerTests(ITestOutputHelper output)
{
    /// <summary>cogvideox: 1.0 with crop-region RoPE (the public case); cogvideox15: 1.5 (patch_size_t 2, slice RoPE,
    /// no patch bias, the I2V ofs embedding); cogvideox_2b: the sin-cos position table, no RoPE, 2 blocks;
    /// cogvideox_i2v: 1.0 RoPE and the learned position table.</summary>
    [Theory]
    [InlineData("cogvideox")]
    [InlineData("cogvideox15")]
    [InlineData("cogvideox_2b")]
    [InlineData("cogvideox_i2v")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    /// <summary>The tables each fixture stores were made as the pipeline makes them, for latents of the stored size
    /// (pixels = latents × 8).</summary>
    [Theory]
    [InlineData("cogvideox")]
    [InlineData("cogvideox15")]
    [InlineData("cogvideox_i2v")]
    public void RotaryTableMatchesThePipelinesTablesOfTheFixture(string fixture)
    {
        using var fx = new FixtureCase(TestPaths.Fixture(fixture));
        var config = CogVideoXConfig.Load(Path.Combine(fx.Dir, "config.json"));
        var wantCos = fx.InputFloats("image_rotary_emb_cos");
        var wantSin = fx.InputFloats("image_rotary_emb_sin");
        using var x = fx.Input("hidden_states");
        using var ops = new CpuOps();
        var (tc, ts) = CogVideoXRotaryTable.Upload(ops, config, x.Dim(1), 8 * x.Dim(3), 8 * x.Dim(4));
        using (tc) using (ts) Assert.Equal([wantCos.Length / config.AttentionHeadDim, config.AttentionHeadDim], tc.Dims);
        var (cos, sin) = CogVideoXRotaryTable.Build(config, x.Dim(1), 8 * x.Dim(3), 8 * x.Dim(4));
        Assert.Equal(wantCos.Length, cos.Length);
        double maxErr = 0;
        for (int k = 0; k < cos.Length; k++)
            maxErr = Math.Max(maxErr, Math.Max(Math.Abs(cos[k] - wantCos[k]), Math.Abs(sin[k] - wantSin[k])));
        output.WriteLine($"{fixture}: max abs error {maxErr:E3}");
        Assert.True(maxErr < 1e-6, $"{fixture}: max abs error {maxErr:E3}");
    }

    [Theory]
    [InlineData(30, 45, 0, 0, 30, 45)]    // 480×720 on CogVideoX-5b's 30×45 base: the whole grid
    [InlineData(2, 3, 0, 0, 30, 45)]      // the same aspect at any size
    [InlineData(45, 30, 0, 12, 30, 32)]   // portrait: 30 rows, 30/45·30 = 20 columns; (45 − 20)/2 = 12.5 rounds half to even
    [InlineData(30, 90, 8, 0, 23, 45)]    // wide: 45 columns, 45/90·30 = 15 rows; (30 − 15)/2 = 7.5 rounds half to even
    public void ResizeCropRegionFitsTheGridIntoTheBaseGrid(int gh, int gw, int top, int left, int bottom, int right)
        => Assert.Equal(((top, left), (bottom, right)), CogVideoXRotaryTable.ResizeCropRegion(gh, gw, 45, 30));

    [Fact]
    public void SliceTablesRefuseAGridLargerThanTheTrainedOne()
    {
        var config = CogVideoXConfig.From(JsonConfig.Parse("""{"patch_size_t": 2, "use_rotary_positional_embeddings": true, "sample_height": 8, "sample_width": 10}""", "x/config.json"));
        // 8×10 latents at patch 2: a 4×5 base; 6×10 latents ask for a 3×5 grid (fits), 10×10 for 5×5 (does not)
        Assert.Equal(2 * 3 * 5 * 64, CogVideoXRotaryTable.Build(config, 4, 48, 80).Cos.Length);
        var e = Assert.Throws<ArgumentException>(() => CogVideoXRotaryTable.Build(config, 4, 80, 80));
        Assert.Contains("exceeds the trained grid 4×5", e.Message);
    }

    [Theory]
    [InlineData("""{"use_learned_positional_embeddings": true}""", "use_learned_positional_embeddings")]
    [InlineData("""{"patch_size_t": 2}""", "patch_size_t 2 with use_rotary_positional_embeddings false")]
    [InlineData("""{"ofs_embed_dim": 256, "use_rotary_positional_embeddings": true}""", "ofs_embed_dim 256 must equal time_embed_dim 512")]
    [InlineData("""{"activation_fn": "gelu"}""", "activation_fn 'gelu'")]
    [InlineData("""{"timestep_activation_fn": "relu"}""", "timestep_activation_fn 'relu'")]
    [InlineData("""{"attention_head_dim": 40, "use_rotary_positional_embeddings": true}""", "attention_head_dim 40 must be a multiple of 16")]
    [InlineData("""{"_class_name": "CogVideoXTransformer3DModelX"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => CogVideoXConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ConfigTakesDiffusersDefaults()
    {
        var c = CogVideoXConfig.From(JsonConfig.Parse("{}", "x/config.json"));
        Assert.Equal((30, 64, 30, 16, 512, 4096, 226), (c.NumAttentionHeads, c.AttentionHeadDim, c.NumLayers, c.InChannels, c.TimeEmbedDim, c.TextEmbedDim, c.MaxTextSeqLength));
        Assert.True(c.UsesSinCosPositions);
        Assert.Null(c.PatchSizeT);
        Assert.Null(c.OfsEmbedDim);
        Assert.Equal(13, c.SampleLatentFrames);
    }

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("cogvideox15"));
        using var model = CogVideoXTransformer.Load(fx.Dir, ops);
        using var y = fx.UploadInput(ops, "encoder_hidden_states");
        using var cos = fx.UploadInput(ops, "image_rotary_emb_cos");
        using var sin = fx.UploadInput(ops, "image_rotary_emb_sin");
        using var odd = ops.Zeros(DType.F32, 2, 3, 4, 4, 6);         // 3 frames: not a multiple of patch_size_t 2
        using var image = ops.Zeros(DType.F32, 2, 4, 4, 6);          // 4-D
        using var good = fx.UploadInput(ops, "hidden_states");
        DitInputs With(Tensor x, Tensor? c = null, float[]? ofs = null) => new()
        {
            HiddenStates = x, EncoderHiddenStates = y, Timestep = [1, 2], ImageRotaryCos = c ?? cos, ImageRotarySin = sin, Ofs = ofs ?? [2f],
        };
        Assert.Contains("not a multiple of patch_size_t 2", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(odd))).Message);
        Assert.Contains("[B, F, 4, H, W]", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(image))).Message);
        using (var small = ops.Zeros(DType.F32, 6, 16))
            Assert.Contains("must be [12, 16]", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(good, small))).Message);
        Assert.Contains("one value or one per batch row", Assert.Throws<ArgumentException>(() => model.Embed(ops, With(good, ofs: [1f, 2f, 3f]))).Message);
        var noOfs = With(good) with { Ofs = null };
        Assert.Contains("needs ofs", Assert.Throws<ArgumentException>(() => model.Embed(ops, noOfs)).Message);
        var noRope = With(good) with { ImageRotaryCos = null };
        Assert.Contains("needs image_rotary_emb cos [12, 16]", Assert.Throws<ArgumentException>(() => model.Embed(ops, noRope)).Message);
    }

    [Fact]
    public void AModelWithoutRopeRefusesTablesAndALearnedTableOtherSizes()
    {
        using var ops = new CpuOps();
        using var fx2b = new FixtureCase(TestPaths.Fixture("cogvideox_2b"));
        using var model2b = CogVideoXTransformer.Load(fx2b.Dir, ops);
        using var up = new FixtureUploads(fx2b, ops);
        using var table = ops.Zeros(DType.F32, 12, 8);
        var e = Assert.Throws<ArgumentException>(() => model2b.Embed(ops, new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], Timestep = [1, 2], ImageRotaryCos = table, ImageRotarySin = table,
        }));
        Assert.Contains("takes no image_rotary_emb", e.Message);

        // 5b-I2V's learned table holds rows for its sample size (4×6 latents here) and max_text_seq_length (4) only
        using var fxI2v = new FixtureCase(TestPaths.Fixture("cogvideox_i2v"));
        using var i2v = CogVideoXTransformer.Load(fxI2v.Dir, ops);
        using var upI = new FixtureUploads(fxI2v, ops);
        using var wide = ops.Zeros(DType.F32, 2, 2, 8, 4, 8);
        using var cos = ops.Zeros(DType.F32, 16, 16);
        var inputs = new DitInputs
        {
            HiddenStates = wide, EncoderHiddenStates = upI["encoder_hidden_states"], Timestep = [1, 2], ImageRotaryCos = cos, ImageRotarySin = cos,
        };
        Assert.Contains("runs at its sample size 4×6 latents only, got 4×8", Assert.Throws<ArgumentException>(() => i2v.Embed(ops, inputs)).Message);
        using var shortText = ops.Zeros(DType.F32, 2, 3, 12);
        var x = upI["hidden_states"];
        using var cos12 = ops.Zeros(DType.F32, 12, 16);
        Assert.Contains("max_text_seq_length = 4 tokens, got 3", Assert.Throws<ArgumentException>(() => i2v.Embed(ops, new DitInputs
        {
            HiddenStates = x, EncoderHiddenStates = shortText, Timestep = [1, 2], ImageRotaryCos = cos12, ImageRotarySin = cos12,
        })).Message);
    }

    /// <summary>A learned table where the config has none (or the reverse) is refused at load, naming the tensor.</summary>
    [Fact]
    public void ALearnedTableMustMatchTheConfig()
    {
        using var ops = new CpuOps();
        var config = CogVideoXConfig.Load(Path.Combine(TestPaths.Fixture("cogvideox_i2v"), "config.json")) with { UseLearnedPositionalEmbeddings = false };
        using var source = Checkpoint.Open(TestPaths.Fixture("cogvideox_i2v"));
        var e = Assert.Throws<FormatException>(() => CogVideoXTransformer.Load(config, source, ops));
        Assert.Contains("patch_embed.pos_embedding", e.Message);
        Assert.Contains("use_learned_positional_embeddings false", e.Message);
    }

    /// <summary>The video grid: 1.5's 4 latent frames are 2 frame groups of 2×3 patches, their rows stacked.</summary>
    [Fact]
    public void StateHoldsTheVideoGridAndUnpatchifyInvertsThePatchEmbedLayout()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture("cogvideox15"));
        using var model = CogVideoXTransformer.Load(fx.Dir, ops);
        using var up = new FixtureUploads(fx, ops);
        using var state = model.Embed(ops, new DitInputs
        {
            HiddenStates = up["hidden_states"], EncoderHiddenStates = up["encoder_hidden_states"], Timestep = [999, 437],
            ImageRotaryCos = up["image_rotary_emb_cos"], ImageRotarySin = up["image_rotary_emb_sin"], Ofs = [2f],
        });
        Assert.Equal((12, 2, 4, 3), (state.TotalTokens, state.GridT, state.GridH, state.GridW));
        Assert.Equal([2, 5, 32], state.Text!.Dims);
        // a token's features (c, frame in group, row, column) land where the patch came from
        var tokens = new float[2 * 12 * 32];
        for (int i = 0; i < tokens.Length; i++) tokens[i] = i;
        using var tk = ops.FromHost(tokens, 2, 12, 32);
        using var video = model.Unpatchify(ops, tk, state);
        Assert.Equal([2, 4, 4, 4, 6], video.Dims);
        var v = ops.ToHost(video);
        // batch 1, frame group 1, patch row 0, column 2 is token 1·6 + 0·3 + 2 = 8; feature (c 3, frame 1, a 1, b 0) is
        // 3·8 + 1·4 + 1·2 + 0 = 30; it lands at frame 3, channel 3, y 1, x 4
        float want = (1 * 12 + 8) * 32 + 30;
        Assert.Equal(want, v[(((1 * 4 + 3) * 4 + 3) * 4 + 1) * 6 + 4]);
    }

    /// <summary>The five released transformers' configs, as diffusers' conversion script makes them (1.0: sample 60×90
    /// latents of 49 frames, patch bias; 1.5: patch_size_t 2, no patch bias, sample 300×300 and 81 frames; I2V: 32 input
    /// channels, 5b-I2V the learned table, 1.5-I2V ofs 512).</summary>
    public static TheoryData<string, string> ReleasedConfigs() => new()
    {
        { "CogVideoX-2b", """{"num_attention_heads": 30, "num_layers": 30, "in_channels": 16, "use_rotary_positional_embeddings": false, "patch_size": 2, "patch_bias": true, "sample_height": 60, "sample_width": 90, "sample_frames": 49}""" },
        { "CogVideoX-5b", """{"num_attention_heads": 48, "num_layers": 42, "in_channels": 16, "use_rotary_positional_embeddings": true, "patch_size": 2, "patch_bias": true, "sample_height": 60, "sample_width": 90, "sample_frames": 49}""" },
        { "CogVideoX-5b-I2V", """{"num_attention_heads": 48, "num_layers": 42, "in_channels": 32, "use_rotary_positional_embeddings": true, "use_learned_positional_embeddings": true, "patch_size": 2, "patch_bias": true, "sample_height": 60, "sample_width": 90, "sample_frames": 49}""" },
        { "CogVideoX1.5-5B", """{"num_attention_heads": 48, "num_layers": 42, "in_channels": 16, "use_rotary_positional_embeddings": true, "patch_size": 2, "patch_size_t": 2, "patch_bias": false, "sample_height": 300, "sample_width": 300, "sample_frames": 81, "ofs_embed_dim": null}""" },
        { "CogVideoX1.5-5B-I2V", """{"num_attention_heads": 48, "num_layers": 42, "in_channels": 32, "use_rotary_positional_embeddings": true, "patch_size": 2, "patch_size_t": 2, "patch_bias": false, "sample_height": 300, "sample_width": 300, "sample_frames": 81, "ofs_embed_dim": 512}""" },
    };

    [Theory, MemberData(nameof(ReleasedConfigs))]
    public void EveryReleasedConfigLoadsAndItsPipelineTablesHaveOneRowPerToken(string name, string json)
    {
        var c = CogVideoXConfig.From(JsonConfig.Parse(json, $"{name}/transformer/config.json"));
        bool v15 = name.StartsWith("CogVideoX1.5", StringComparison.Ordinal);
        Assert.Equal(v15 ? 2 * 2 * 2 * c.InChannels : 2 * 2 * c.InChannels, c.PatchFeatures);
        Assert.Equal(v15 ? 128 : 64, c.OutFeatures);
        Assert.Equal(name.EndsWith("I2V", StringComparison.Ordinal) && v15 ? 512 : null, c.OfsEmbedDim);
        if (!c.UseRotaryPositionalEmbeddings)
        {
            Assert.Throws<ArgumentException>(() => CogVideoXRotaryTable.Build(c, 13, 480, 720));
            return;
        }
        // the default videos: 1.0 49 frames of 480×720 (13 latent frames), 1.5 81 frames of 768×1360 (21, padded to 22)
        var (frames, h, w, tokens) = v15 ? (22, 768, 1360, 11 * 48 * 85) : (13, 480, 720, 13 * 30 * 45);
        var (cos, sin) = CogVideoXRotaryTable.Build(c, frames, h, w);
        Assert.Equal(tokens * c.AttentionHeadDim, cos.Length);
        Assert.Equal(cos.Length, sin.Length);
        Assert.All(cos, v => Assert.InRange(v, -1f, 1f));
    }

    /// <summary>1.0's crop region at its trained size is the whole base grid: the tables are those of plain indices,
    /// and the first token (frame 0, row 0, column 0) has angle 0 everywhere.</summary>
    [Fact]
    public void CropRegionTablesAtTheTrainedSizeAreThoseOfPlainIndices()
    {
        var c = CogVideoXConfig.From(JsonConfig.Parse("""{"use_rotary_positional_embeddings": true}""", "x/config.json"));
        var (cos, sin) = CogVideoXRotaryTable.Build(c, 13, 480, 720);
        Assert.All(cos.AsSpan(0, 64).ToArray(), v => Assert.Equal(1f, v));
        Assert.All(sin.AsSpan(0, 64).ToArray(), v => Assert.Equal(0f, v));
        // token (frame 2, row 3, column 5): t features 0..15 at position 2, h 16..39 at 3, w 40..63 at 5; pair 0 of each
        // axis rotates at frequency 1
        int token = (2 * 30 + 3) * 45 + 5, o = token * 64;
        Assert.Equal(MathF.Cos(2f), cos[o], 5);
        Assert.Equal(MathF.Sin(3f), sin[o + 16], 5);
        Assert.Equal(MathF.Sin(5f), sin[o + 41], 5);
    }
}

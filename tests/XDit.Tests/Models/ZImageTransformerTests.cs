using XDit.Engine.Bench;
using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.ZImage;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class ZImageTransformerTests(ITestOutputHelper output)
{
    /// <summary>zimage: the public case (8×8 latents: 16 image tokens and 16 x_pad rows, captions of 7 and 12 tokens,
    /// both padded to 32); zimage_batch: three captions padding to 32, 64, 64 (the batch mask, each row's own image
    /// frame position) and a 3×5 token grid; zimage_grid32: an 8×8 grid and a 32-token caption, nothing padded
    /// (tests/fixtures/zimage_cases.py).</summary>
    [Theory]
    [InlineData("zimage")]
    [InlineData("zimage_batch")]
    [InlineData("zimage_grid32")]
    public void FixtureMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, output);

    [Fact]
    public void ConfigTakesDiffusersDefaultsWhichAreZImageTurbos()
    {
        var c = ZImageConfig.From(JsonConfig.Parse("{}", "x/config.json"));
        Assert.Equal((3840, 30, 2, 30, 30, 2560, 16), (c.Dim, c.NLayers, c.NRefinerLayers, c.NHeads, c.NKvHeads, c.CapFeatDim, c.InChannels));
        Assert.Equal((128, 256, 10240, 64, "2-1"), (c.HeadDim, c.AdaLnDim, c.FfnDim, c.PatchFeatures, c.PatchKey));
        Assert.Equal([32, 48, 48], c.AxesDims);
        Assert.Equal([1024, 512, 512], c.AxesLens);
        Assert.Equal((256.0, 1000.0, 1e-5, true), (c.RopeTheta, c.TScale, c.NormEps, c.QkNorm));
        var r = RealSizeModels.ZImageTurbo;
        Assert.Equal(r with { AllPatchSize = c.AllPatchSize, AllFPatchSize = c.AllFPatchSize, AxesDims = c.AxesDims, AxesLens = c.AxesLens }, c);
        // the public fixture's config is the toy real-size entry's shape but for the width: the entry's two heads are
        // 64 wide (a head dim the fused q/k projection is built for, as the real 128 is), the fixture's 16, whose FFN
        // is int(32 / 3 · 8) = 85 wide
        var tiny = ZImageConfig.Load(Path.Combine(TestPaths.Fixture("zimage"), "config.json"));
        var t = RealSizeModels.ZImageTiny;
        Assert.Equal(t with { Dim = tiny.Dim, AllPatchSize = tiny.AllPatchSize, AllFPatchSize = tiny.AllFPatchSize, AxesDims = tiny.AxesDims, AxesLens = tiny.AxesLens }, tiny);
        Assert.Equal((64, 16), (t.HeadDim, tiny.HeadDim));
        Assert.Equal([32, 16, 16], t.AxesDims);
        Assert.Equal([8, 4, 4], tiny.AxesDims);
        Assert.Equal(t.AxesLens, tiny.AxesLens);
        Assert.Equal(85, tiny.FfnDim);
    }

    [Theory]
    [InlineData("""{"siglip_feat_dim": 1152}""", "siglip_feat_dim 1152")]
    [InlineData("""{"n_kv_heads": 15}""", "n_kv_heads 15 differs from n_heads 30")]
    [InlineData("""{"axes_dims": [32, 48, 40]}""", "sums to 120, but the head dim dim / n_heads is 128")]
    [InlineData("""{"axes_dims": [64, 64]}""", "three positive even widths")]
    [InlineData("""{"axes_lens": [1024, 512]}""", "axes_lens [1024, 512] must hold a positive length")]
    [InlineData("""{"all_patch_size": [1], "all_f_patch_size": [1]}""", "hold no (2, 1) pair")]
    [InlineData("""{"all_patch_size": [2, 4], "all_f_patch_size": [1]}""", "must have the same length")]
    [InlineData("""{"dim": 3841}""", "dim 3841 is not a multiple of n_heads 30")]
    [InlineData("""{"_class_name": "FluxTransformer2DModel"}""", "_class_name")]
    public void ConfigRefusesWhatTheCodeDoesNotRunNamingTheFileAndKey(string json, string expected)
    {
        var e = Assert.ThrowsAny<Exception>(() => ZImageConfig.From(JsonConfig.Parse(json, "x/config.json")));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Bad inputs are refused in one line naming what was expected and found.</summary>
    [Fact]
    public void EmbedRefusesBadInputs()
    {
        using var ops = new CpuOps();
        var f = ZImageTestInputs.Load("zimage");
        using var model = f.LoadModel(ops);
        var owned = new List<Tensor>();
        try
        {
            var good = f.Upload(ops, owned);
            Tensor Zeros(params int[] shape) { var t = ops.Zeros(DType.F32, shape); owned.Add(t); return t; }
            string Refused(DitInputs bad) => Assert.Throws<ArgumentException>(() => model.Embed(ops, bad)).Message;
            Assert.Contains("must be [B, 16, 1, H, W] (the list of (C, 1, H, W) latents stacked), got [2, 16, 8, 8]", Refused(good with { HiddenStates = Zeros(2, 16, 8, 8) }));
            Assert.Contains("multiples of the patch size 2, got 7×8", Refused(good with { HiddenStates = Zeros(2, 16, 1, 7, 8) }));
            Assert.Contains("must be [2, L, 16] with L ≥ 1, got [2, 12, 8]", Refused(good with { EncoderHiddenStates = Zeros(2, 12, 8) }));
            Assert.Contains("one timestep per batch row (2), got 1", Refused(good with { Timestep = [0.5f] }));
            Assert.Contains("encoder_attention_mask must be [2, 12] like encoder_hidden_states' rows, got [2, 11]", Refused(good with { EncoderAttentionMask = Zeros(2, 11) }));
            var oneEmpty = ops.FromHost([.. Enumerable.Repeat(1f, 12), .. new float[12]], 2, 12);
            owned.Add(oneEmpty);
            Assert.Contains("row 1 keeps no caption token", Refused(good with { EncoderAttentionMask = oneEmpty }));
            // 255 caption tokens pad to 256: the image's frame position 257 is past the fixture's axes_lens[0] = 256
            Assert.Contains("RoPE positions out of axes_lens [256, 32, 32]: the image's frame position 257 (caption padded to 256)",
                Refused(good with { EncoderHiddenStates = Zeros(2, 255, 16), EncoderAttentionMask = null }));
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    /// <summary>The state holds the image grid alone as its tokens (what sequence parallelism splits) and the image's
    /// x_pad rows then the captions as the joint rows; a key bias only where the captions pad to different lengths.</summary>
    [Fact]
    public void TheStateHoldsTheGridAsImageTokensAndThePaddingAndCaptionsAsJointRows()
    {
        using var ops = new CpuOps();
        foreach (var (fixture, shape) in new[] { ("zimage", (16, 4, 4, 16 + 32)), ("zimage_batch", (15, 3, 5, 17 + 64)) })
        {
            var f = ZImageTestInputs.Load(fixture);
            using var model = f.LoadModel(ops);
            var owned = new List<Tensor>();
            try
            {
                using var state = model.Embed(ops, f.Upload(ops, owned));
                Assert.Equal(shape, (state.TotalTokens, state.GridH, state.GridW, state.Text!.Dim(1)));
                Assert.Equal([f.Rows, shape.Item1, 32], state.Image.Dims);
                Assert.Equal(fixture == "zimage_batch", state.TextKeyBias is not null);
            }
            finally { foreach (var t in owned) t.Dispose(); }
        }
    }

    /// <summary>The mask is read token by token, as the pipeline's prompt_embeds[i][mask[i]] picks a caption: tokens
    /// masked inside and after the prompt change nothing (the output equals the prefix-masked one's), and they do
    /// change it once the mask keeps them.</summary>
    [Fact]
    public void MaskedCaptionTokensAreLeftOutWhereverTheySit()
    {
        using var ops = new CpuOps();
        var f = ZImageTestInputs.Load("zimage");
        using var model = f.LoadModel(ops);
        var reference = f.Predict(ops, model, SingleRankExecutor.Instance);
        // row 0 (7 tokens) gets 3 random tokens after its second, row 1 (12 tokens) 3 random ones at its end
        int l = f.CaptionShape[1], d = f.CaptionShape[2], nl = l + 3;
        var rng = new Random(7);
        var caps = new float[2 * nl * d];
        var mask = new float[2 * nl];
        int[][] order = [[0, 1, -1, -1, -1, 2, 3, 4, 5, 6], [.. Enumerable.Range(0, 12), -1, -1, -1]];
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < order[r].Length; j++)
            {
                int src = order[r][j];
                for (int i = 0; i < d; i++) caps[(r * nl + j) * d + i] = src < 0 ? (float)rng.NextDouble() * 4 - 2 : f.Captions[(r * l + src) * d + i];
                mask[r * nl + j] = src < 0 ? 0f : 1f;
            }
        var holes = f with { Captions = caps, CaptionShape = [2, nl, d], Mask = mask };
        Assert.True(Numerics.RelativeError(holes.Predict(ops, model, SingleRankExecutor.Instance), reference) < 1e-6);
        var kept = holes with { Mask = mask.Select((m, i) => i < nl ? 1f : m).ToArray() };
        Assert.True(Numerics.RelativeError(kept.Predict(ops, model, SingleRankExecutor.Instance), reference) > 1e-3);
    }

    /// <summary>A row alone, where its caption is the longest and nothing moves, gives what it gives in zimage_batch,
    /// where row 0's caption pads to 32 beside two of 64 (masked padding, positions moved by 32): the batch changes
    /// nothing but the rounding (what CFG and data parallelism rely on, each rank running its own rows).</summary>
    [Fact]
    public void EachRowAloneGivesItsBatchedOutput()
    {
        using var ops = new CpuOps();
        var f = ZImageTestInputs.Load("zimage_batch");
        using var model = f.LoadModel(ops);
        var all = f.Predict(ops, model, SingleRankExecutor.Instance);
        int per = all.Length / f.Rows;
        for (int r = 0; r < f.Rows; r++)
        {
            var alone = f.RowsOf(r, 1).Predict(ops, model, SingleRankExecutor.Instance);
            double err = Numerics.RelativeError(alone, all.AsSpan(r * per, per));
            Assert.True(err < 1e-5, $"row {r}: relative error {err:E2}");
        }
    }
}

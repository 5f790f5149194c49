using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Latte;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class LatteTransformerTests(ITestOutputHelper output)
{
    void AssertFixturePasses(string name)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{name} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{name} {r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }

    /// <summary>The public case: temporal attention on, 3 frames = video_length, 2 blocks.</summary>
    [Fact] public void FixtureLatteMatchesDiffusers() => AssertFixturePasses("latte");
    /// <summary>enable_temporal_attentions false, a frame count other than video_length, out_channels null.</summary>
    [Fact] public void FixtureWithoutTemporalAttentionMatchesDiffusers() => AssertFixturePasses("latte_spatial");
    /// <summary>sample_size 128 (interpolation scale 2) at a 3×5 grid, 4 frames, batch 2.</summary>
    [Fact] public void FixtureAtAnotherSizeMatchesDiffusers() => AssertFixturePasses("latte_sized");

    /// <summary>Row f of the frame table from its definition: [sin(f·ω_k), cos(f·ω_k)], ω_k = 10000^(−2k/D).</summary>
    [Fact]
    public void FrameTableMatchesTheDirectFormula()
    {
        const int dim = 12, frames = 5;
        var t = LatteFrameTable.Build(dim, frames);
        double maxErr = 0;
        for (int f = 0; f < frames; f++)
            for (int ch = 0; ch < dim; ch++)
            {
                int k = ch % (dim / 2);
                double a = f * Math.Exp(-Math.Log(10000.0) * 2.0 * k / dim);
                maxErr = Math.Max(maxErr, Math.Abs(t[f * dim + ch] - (ch < dim / 2 ? Math.Sin(a) : Math.Cos(a))));
            }
        Assert.True(maxErr < 1e-6, $"max error {maxErr}");
        Assert.Equal(new float[] { 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1 }, t.AsSpan(0, dim).ToArray());   // frame 0
    }

    static DitInputs Inputs(IOps ops, FixtureCase f, List<Tensor> owned, Tensor? mask = null)
    {
        Tensor Up(string n) { using var h = f.Input(n); var t = ops.Upload(h); owned.Add(t); return t; }
        using var ts = f.Input("timestep");
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"), EncoderHiddenStates = Up("encoder_hidden_states"),
            Timestep = ts.ToFloatArray(), EncoderAttentionMask = mask,
        };
    }

    [Fact]
    public void SequenceParallelShardsAreRefusedInOneLine()
    {
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("latte"));
        using var model = LatteTransformer.Load(f.Dir, ops);
        var owned = new List<Tensor>();
        try
        {
            using var state = model.Embed(ops, Inputs(ops, f, owned));
            Assert.Equal(3, state.GridT);
            Assert.Equal(state.TotalTokens, state.GridH * state.GridW);
            state.Shard(ops, 0, state.TotalTokens / 2);
            var e = Assert.Throws<NotSupportedException>(() => model.RunBlock(ops, 0, state, LocalAttention.Instance));
            Assert.Contains("sequence parallelism", e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void FrameCountOtherThanVideoLengthAndMasksAreRefused()
    {
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("latte"));
        using var model = LatteTransformer.Load(f.Dir, ops);
        var owned = new List<Tensor>();
        try
        {
            var inputs = Inputs(ops, f, owned);
            var x = inputs.HiddenStates;   // [2, 4, 3, 8, 6]; video_length 3
            using var two = ops.Contiguous(x.Slice(2, 0, 2));
            var e = Assert.Throws<ArgumentException>(() => model.Forward(ops, inputs with { HiddenStates = two }));
            Assert.Contains("video_length = 3", e.Message);
            using var one = ops.Contiguous(x.Slice(2, 0, 1));   // one frame: no frame table, diffusers runs it
            using var y = model.Forward(ops, inputs with { HiddenStates = one });
            Assert.Equal(new[] { 2, 8, 1, 8, 6 }, y.Dims);
            using var mask = ops.FromHost(new float[2 * 7], 2, 7);
            Assert.Throws<ArgumentException>(() => model.Forward(ops, inputs with { EncoderAttentionMask = mask }));
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void TemporalAttentionChangesTheOutputAndEachFrameIsItsOwnWithoutIt()
    {
        // with temporal attention off, frame k of the output depends on frame k of the input alone; on, it does not
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("latte"));
        using var on = LatteTransformer.Load(f.Dir, ops);
        using var off = LatteTransformer.Load(f.Dir, ops, enableTemporalAttentions: false);
        var owned = new List<Tensor>();
        try
        {
            var inputs = Inputs(ops, f, owned);
            using var x0 = f.Input("hidden_states");
            var v = x0.ToFloatArray();
            int frames = x0.Dim(2), plane = x0.Dim(3) * x0.Dim(4);
            for (int i = 0; i < v.Length; i++) if (i / plane % frames == 2) v[i] += 1f;   // change frame 2 only
            using var moved = ops.FromHost(v, x0.Dims);
            float[] Frame0(LatteTransformer m, Tensor x)
            {
                using var y = m.Forward(ops, inputs with { HiddenStates = x });
                using var f0 = ops.Contiguous(y.Slice(2, 0, 1));
                return ops.ToHost(f0);
            }
            Assert.True(Numerics.RelativeError(Frame0(off, moved), Frame0(off, inputs.HiddenStates)) < 1e-6);
            Assert.True(Numerics.RelativeError(Frame0(on, moved), Frame0(on, inputs.HiddenStates)) > 1e-3);
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void ForwardGivesBackEverythingItAllocates()
    {
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("latte"));
        using var model = LatteTransformer.Load(f.Dir, ops);
        var owned = new List<Tensor>();
        try
        {
            var inputs = Inputs(ops, f, owned);
            model.Forward(ops, inputs).Dispose();          // builds and caches the position tables
            long before = ops.Allocator.BytesInUse;
            model.Forward(ops, inputs).Dispose();
            Assert.Equal(before, ops.Allocator.BytesInUse);
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void ConfigTakesDiffusersDefaultsAndRefusesWhatIsNotImplemented()
    {
        const string Minimal = "\"_class_name\": \"LatteTransformer3DModel\", \"in_channels\": 4, \"patch_size\": 2, \"caption_channels\": 16, \"norm_type\": \"ada_norm_single\", \"activation_fn\": \"gelu-approximate\", \"norm_elementwise_affine\": false";
        LatteConfig Parse(string extra) => LatteConfig.From(JsonConfig.Parse("{" + Minimal + extra + "}", "config.json"));
        var c = Parse(""", "cross_attention_dim": 1408""");
        Assert.Equal((16, 88, 1, 64, 16), (c.NumAttentionHeads, c.AttentionHeadDim, c.NumLayers, c.SampleSize, c.VideoLength));
        Assert.Equal(4, c.OutChannels);              // out_channels missing: in_channels
        Assert.False(c.AttentionBias);
        Assert.Equal(1e-5, c.NormEps);
        Assert.Equal(1.0, c.InterpolationScale);
        Assert.Equal(2.0, Parse(""", "cross_attention_dim": 1408, "sample_size": 128""").InterpolationScale);

        void Refused(string extra, params string[] words)
        {
            var e = Assert.ThrowsAny<Exception>(() => Parse(extra));
            Assert.True(e is NotSupportedException or FormatException or KeyNotFoundException, e.GetType().Name);
            Assert.Contains("config.json", e.Message);
            foreach (var w in words) Assert.Contains(w, e.Message);
        }
        Refused(""", "cross_attention_dim": 1152""", "cross_attention_dim", "1408", "1152");
        Refused(""", "cross_attention_dim": 1408, "norm_type": "layer_norm" """, "norm_type", "ada_norm_single", "layer_norm");
        Refused(""", "cross_attention_dim": 1408, "activation_fn": "geglu" """, "activation_fn", "geglu");
        Refused(""", "cross_attention_dim": 1408, "norm_elementwise_affine": true """, "norm_elementwise_affine");
        Refused(""", "cross_attention_dim": 1408, "_class_name": "PixArtTransformer2DModel" """, "PixArtTransformer2DModel");
        // keys diffusers has no usable default for
        var noCaption = Assert.ThrowsAny<Exception>(() => LatteConfig.From(JsonConfig.Parse("""{"in_channels": 4, "patch_size": 2, "cross_attention_dim": 1408, "norm_type": "ada_norm_single", "activation_fn": "gelu-approximate", "norm_elementwise_affine": false}""", "config.json")));
        Assert.Contains("caption_channels", noCaption.Message);
        // the affine default is diffusers' true, and the message says the file did not give it
        var affine = Assert.Throws<NotSupportedException>(() => LatteConfig.From(JsonConfig.Parse("""{"in_channels": 4, "patch_size": 2, "caption_channels": 8, "cross_attention_dim": 1408, "norm_type": "ada_norm_single", "activation_fn": "gelu-approximate"}""", "config.json")));
        Assert.Contains("not in the file", affine.Message);
    }

    [Fact]
    public void PublicFixtureConfigReadsEveryKey()
    {
        var c = LatteConfig.Load(Path.Combine(TestPaths.Fixture("latte"), "config.json"));
        Assert.Equal((3, 8, 4, 8, 2, 24, true, 8, 2, 32, 3), (c.NumAttentionHeads, c.AttentionHeadDim, c.InChannels, c.OutChannels,
            c.NumLayers, c.CrossAttentionDim, c.AttentionBias, c.SampleSize, c.PatchSize, c.CaptionChannels, c.VideoLength));
        Assert.Equal(1e-6, c.NormEps);
    }
}

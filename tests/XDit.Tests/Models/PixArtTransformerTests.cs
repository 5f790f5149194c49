using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class PixArtTransformerTests(ITestOutputHelper output)
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

    [Fact] public void FixturePixArtAlphaMatchesDiffusers() => AssertFixturePasses("pixart_alpha");
    [Fact] public void FixturePixArtSigmaMatchesDiffusers() => AssertFixturePasses("pixart_sigma");

    /// <summary>The table from its definition, written independently: channel c &lt; D/2 embeds the column,
    /// the rest the row; within a half, the first D/4 are sines and the next D/4 cosines of frequency
    /// 10000^(−k/(D/4)); coordinates are index·base/side/interp.</summary>
    static double Direct(int dim, int gh, int gw, int baseSize, double interp, int token, int channel)
    {
        int i = token / gw, j = token % gw, half = dim / 2, quarter = dim / 4;
        bool column = channel < half;
        double coord = column ? j * (double)baseSize / gw / interp : i * (double)baseSize / gh / interp;
        int c = channel % half;
        int k = c % quarter;
        double angle = coord * Math.Pow(10000.0, -(double)k / quarter);
        return c < quarter ? Math.Sin(angle) : Math.Cos(angle);
    }

    [Theory]
    [InlineData(16, 4, 6, 4, 1.0)]     // non-square (the alpha fixture's grid)
    [InlineData(32, 6, 3, 4, 1.0)]     // taller than wide
    [InlineData(24, 10, 12, 4, 2.0)]   // larger than trained, with interpolation scale 2
    [InlineData(8, 4, 4, 4, 1.0)]      // the trained grid: integer coordinates
    public void PositionTableMatchesTheDirectFormula(int dim, int gh, int gw, int baseSize, double interp)
    {
        var table = PixArtPositionTable.Build(dim, gh, gw, baseSize, interp);
        Assert.Equal(gh * gw * dim, table.Length);
        double maxErr = 0;
        for (int n = 0; n < gh * gw; n++)
            for (int c = 0; c < dim; c++)
                maxErr = Math.Max(maxErr, Math.Abs(table[n * dim + c] - Direct(dim, gh, gw, baseSize, interp, n, c)));
        Assert.True(maxErr < 2e-6, $"max error {maxErr}");
    }

    [Fact]
    public void PositionTableCoordinatesAreRowForRowsAndColumnForColumns()
    {
        // token (i=1, j=0) of a 2×3 grid: its column half is the embedding of 0 (sin 0, cos 1), its row half is not
        var t = PixArtPositionTable.Build(8, 2, 3, 2, 1.0);
        var tok = t.AsSpan(3 * 8, 8);
        Assert.Equal(new float[] { 0, 0, 1, 1 }, tok[..4].ToArray());
        Assert.NotEqual(0f, tok[4]);
    }

    static DitInputs SigmaInputs(IOps ops, FixtureCase f, List<Tensor> owned, Func<float[], float[]>? editText = null)
    {
        Tensor Up(string n) { using var h = f.Input(n); var t = ops.Upload(h); owned.Add(t); return t; }
        Tensor text;
        using (var h = f.Input("encoder_hidden_states"))
        {
            var v = h.ToFloatArray();
            if (editText is not null) v = editText(v);
            text = ops.FromHost(v, h.Dims);
            owned.Add(text);
        }
        using var ts = f.Input("timestep");
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"),
            EncoderHiddenStates = text,
            EncoderAttentionMask = Up("encoder_attention_mask"),
            Timestep = ts.ToFloatArray(),
        };
    }

    [Fact]
    public void PaddedTextTokensDoNotChangeTheOutput()
    {
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("pixart_sigma"));
        using var model = PixArtTransformer.Load(f.Dir, ops);
        using var mask = f.Input("encoder_attention_mask");
        var m = mask.ToFloatArray();
        int b = mask.Dim(0), t = mask.Dim(1);
        int padded = Array.IndexOf(m, 0f);
        int kept = Array.IndexOf(m, 1f, (padded / t) * t);   // a real token of the same batch row
        Assert.True(padded >= 0 && kept >= 0 && kept / t == padded / t);
        int width = model.Config.CaptionChannels!.Value;
        var rnd = Numerics.Random(width, 7, 5f);

        float[] Edit(float[] v, int token) { v = (float[])v.Clone(); rnd.CopyTo(v.AsSpan(token * width, width)); return v; }

        var owned = new List<Tensor>();
        try
        {
            using var y0 = model.Forward(ops, SigmaInputs(ops, f, owned));
            using var yPad = model.Forward(ops, SigmaInputs(ops, f, owned, v => Edit(v, padded)));
            using var yReal = model.Forward(ops, SigmaInputs(ops, f, owned, v => Edit(v, kept)));
            var a = ops.ToHost(y0);
            Assert.True(Numerics.RelativeError(ops.ToHost(yPad), a) < 1e-6);
            Assert.True(Numerics.RelativeError(ops.ToHost(yReal), a) > 1e-4);   // the check is not vacuous
            Assert.Equal(b, y0.Dim(0));
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void FinishOfAShardEqualsTheMatchingRowsOfTheFullFinish()
    {
        // Everything per image token lives in state.Image, so a sharded state finishes to exactly its rows.
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("pixart_sigma"));
        using var model = PixArtTransformer.Load(f.Dir, ops);
        var owned = new List<Tensor>();
        try
        {
            var inputs = SigmaInputs(ops, f, owned);
            using var full = model.Embed(ops, inputs);
            using var fullOut = model.Finish(ops, full);
            using var shard = model.Embed(ops, inputs);
            int n = shard.TotalTokens, start = n / 4, count = n / 2;
            shard.Shard(ops, start, count);
            using var shardOut = model.Finish(ops, shard);
            var expected = ops.ToHost(fullOut.Slice(1, start, count));
            Assert.True(Numerics.RelativeError(ops.ToHost(shardOut), expected) < 1e-6);
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void DemoTransformerLoadsFp16AndRunsOneForward()
    {
        using var ops = new CpuOps();
        using var model = PixArtTransformer.Load(Path.Combine(TestPaths.DemoModel, "transformer"), ops);
        var c = model.Config;
        Assert.False(c.UseAdditionalConditions);
        int b = 2, t = 12;
        using var x = ops.FromHost(Numerics.Random(b * c.InChannels * 8 * 8, 1), b, c.InChannels, 8, 8);
        using var y = ops.FromHost(Numerics.Random(b * t * c.CaptionChannels!.Value, 2), b, t, c.CaptionChannels.Value);
        var maskValues = new float[b * t];
        for (int i = 0; i < b * t; i++) maskValues[i] = i % t < 8 ? 1 : 0;
        using var mask = ops.FromHost(maskValues, b, t);
        using var outT = model.Forward(ops, new DitInputs { HiddenStates = x, EncoderHiddenStates = y, EncoderAttentionMask = mask, Timestep = [999f, 500f] });
        Assert.Equal(new[] { b, c.OutChannels, 8, 8 }, outT.Dims);
        var v = ops.ToHost(outT);
        Assert.All(v, z => Assert.True(float.IsFinite(z)));
    }

    [Fact]
    public void ForwardGivesBackEverythingItAllocates()
    {
        using var ops = new CpuOps();
        using var f = new FixtureCase(TestPaths.Fixture("pixart_alpha"));
        using var model = PixArtTransformer.Load(f.Dir, ops);
        var owned = new List<Tensor>();
        Tensor Up(string n) { using var h = f.Input(n); var t = ops.Upload(h); owned.Add(t); return t; }
        using var ts = f.Input("timestep");
        var inputs = new DitInputs
        {
            HiddenStates = Up("hidden_states"), EncoderHiddenStates = Up("encoder_hidden_states"),
            EncoderAttentionMask = Up("encoder_attention_mask"), Timestep = ts.ToFloatArray(),
            Resolution = Up("resolution"), AspectRatio = Up("aspect_ratio"),
        };
        try
        {
            model.Forward(ops, inputs).Dispose();          // builds and caches the position table
            long before = ops.Allocator.BytesInUse;
            model.Forward(ops, inputs).Dispose();
            Assert.Equal(before, ops.Allocator.BytesInUse);
        }
        finally { foreach (var x in owned) x.Dispose(); }
    }

    [Fact]
    public void ConfigRulesFollowDiffusers()
    {
        PixArtConfig Parse(string json) => PixArtConfig.From(JsonConfig.Parse(json, "config.json"));
        var alpha = Parse("""{"_class_name": "PixArtTransformer2DModel", "sample_size": 128, "patch_size": 2, "in_channels": 4}""");
        Assert.True(alpha.UseAdditionalConditions);
        Assert.Equal(2.0, alpha.InterpolationScale);
        Assert.Equal(8, alpha.OutChannels);
        Assert.Equal(1152, alpha.InnerDim);
        var legacy = Parse("""{"_class_name": "Transformer2DModel", "norm_type": "ada_norm_single", "sample_size": 64, "patch_size": 2, "in_channels": 4, "use_additional_conditions": null}""");
        Assert.False(legacy.UseAdditionalConditions);
        Assert.Equal(1.0, legacy.InterpolationScale);
        var e1 = Assert.Throws<NotSupportedException>(() => Parse("""{"_class_name": "SD3Transformer2DModel", "sample_size": 64, "patch_size": 2, "in_channels": 4}"""));
        Assert.Contains("SD3Transformer2DModel", e1.Message);
        Assert.Throws<NotSupportedException>(() => Parse("""{"_class_name": "Transformer2DModel", "sample_size": 64, "patch_size": 2, "in_channels": 4}"""));
        var e2 = Assert.Throws<KeyNotFoundException>(() => Parse("""{"_class_name": "PixArtTransformer2DModel", "patch_size": 2, "in_channels": 4}"""));
        Assert.Contains("sample_size", e2.Message);
    }
}

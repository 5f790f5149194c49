using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Gemma2;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class Gemma2ModelTests(ITestOutputHelper output)
{
    // The fixture has a sliding layer (window 8 < 12 tokens), a full layer, 4 query heads over 2 K/V heads, logit
    // soft-capping 50 and right padding; measured: without the capping the output moves by 3.9e-3, with a window
    // past the sequence by 0.35, so each feature is checked.
    [Fact]
    public void FixtureMatchesTransformers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("gemma2"), ops);
        var r = Assert.Single(results);
        Assert.Equal("last_hidden_state", r.Name);
        output.WriteLine($"gemma2 {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
        Assert.True(r.Passed, $"gemma2 {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
    }

    [Fact]
    public void SoftCapIsCapTimesTanh()
    {
        using var ops = new CpuOps();
        var s = Numerics.Random(64, 3, 120f);   // well past the cap, and small values
        using var t = ops.FromHost(s, 4, 16);
        using var capped = Gemma2SoftCap.Apply(ops, t, 50f);
        Assert.Equal(new[] { 4, 16 }, capped.Dims);
        var got = ops.ToHost(capped);
        var want = s.Select(v => (float)(50 * Math.Tanh(v / 50.0))).ToArray();
        Assert.True(Numerics.MaxAbsError(got, want) < 2e-5, $"max abs {Numerics.MaxAbsError(got, want):E2}");
    }

    [Fact]
    public void MasksAreCausalWindowedAndHidePaddedKeys()
    {
        var full = Gemma2Masks.Additive([1, 1, 1, 0], 1, 4, window: null, -1f);
        var sliding = Gemma2Masks.Additive([1, 1, 1, 0], 1, 4, window: 2, -1f);
        // row i, key j: 0 visible, −1 hidden
        Assert.Equal(new float[] { 0, -1, -1, -1, 0, 0, -1, -1, 0, 0, 0, -1, 0, 0, 0, -1 }, full);
        Assert.Equal(new float[] { 0, -1, -1, -1, 0, 0, -1, -1, -1, 0, 0, -1, -1, -1, 0, -1 }, sliding);
    }

    // Causal attention: what follows a token (padding or not) never reaches it, and the prefix alone gives the same
    // states (rotary positions count from 0 either way). Run at another length, the GEMMs round differently (1.3e-6).
    [Fact]
    public void LaterTokensDoNotChangeEarlierStates()
    {
        using var ops = new CpuOps();
        using var model = Gemma2Model.Load(TestPaths.Fixture("gemma2"), ops);
        long[] a = [2, 41, 49, 41, 94, 0, 0], b = [2, 41, 49, 41, 94, 63, 88];
        long[] mask = [1, 1, 1, 1, 1, 0, 0];
        using var ya = model.Encode(ops, a, mask, 1, 7);
        using var yb = model.Encode(ops, b, mask, 1, 7);
        using var yShort = model.Encode(ops, a[..5], null, 1, 5);
        int d = model.Config.HiddenSize;
        var fa = ops.ToHost(ya);
        Assert.True(Numerics.RelativeError(ops.ToHost(yb).AsSpan(0, 5 * d), fa.AsSpan(0, 5 * d)) < 1e-6);
        double shortErr = Numerics.RelativeError(ops.ToHost(yShort), fa.AsSpan(0, 5 * d));
        output.WriteLine($"unpadded prefix vs padded: rel {shortErr:E2}");
        Assert.True(shortErr < 1e-5, $"unpadded prefix vs padded: rel {shortErr:E2}");
    }

    [Fact]
    public void ConfigReadsLayerTypesAndRefusesMismatches()
    {
        var c = Gemma2Config.From(JsonConfig.Parse("""{"num_hidden_layers": 3, "sliding_window": 4}""", "g/config.json"));
        Assert.Equal(new[] { true, false, true }, c.SlidingLayers);   // default: even layers slide
        var typed = Gemma2Config.From(JsonConfig.Parse("""{"num_hidden_layers": 2, "sliding_window": 4, "layer_types": ["full_attention", "sliding_attention"]}""", "g/config.json"));
        Assert.Equal(new[] { false, true }, typed.SlidingLayers);
        var e = Assert.Throws<FormatException>(() => Gemma2Config.From(JsonConfig.Parse("""{"num_hidden_layers": 3, "layer_types": ["full_attention"]}""", "g/config.json")));
        Assert.Contains("g/config.json", e.Message);
        Assert.Contains("layer_types has 1", e.Message);
        var gqa = Assert.Throws<FormatException>(() => Gemma2Config.From(JsonConfig.Parse("""{"num_attention_heads": 6, "num_key_value_heads": 4}""", "g/config.json")));
        Assert.Contains("num_key_value_heads 4", gqa.Message);
    }
}

using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.T5;
using XDit.Models.Tokenizers;

namespace XDit.Tests.Models;

public class T5EncoderTests(ITestOutputHelper output)
{
    [Theory]
    // default T5 (32 buckets, max distance 128): exact buckets below 8, log buckets above, keys after the query
    // in the upper half; values worked out by hand from log(n/8)/log(16)·8
    [InlineData(0, 0)]
    [InlineData(-1, 1)]
    [InlineData(1, 17)]
    [InlineData(-7, 7)]
    [InlineData(7, 23)]
    [InlineData(-8, 8)]
    [InlineData(-12, 9)]    // log(1.5)/log(16)·8 = 1.17
    [InlineData(-16, 10)]   // exactly 2 in float32
    [InlineData(-32, 12)]   // exactly 4
    [InlineData(32, 28)]
    [InlineData(-64, 14)]   // exactly 6
    [InlineData(-127, 15)]
    [InlineData(-500, 15)]  // clamped to the last bucket
    [InlineData(200, 31)]
    public void BucketMatchesTransformers(int relative, int bucket)
        => Assert.Equal(bucket, T5RelativePosition.Bucket(relative, 32, 128));

    [Fact]
    public void BucketOfTheDemoConfig()
    {
        // 8 buckets, max distance 16: half 4, exact below 2
        var got = Enumerable.Range(-12, 25).Select(r => T5RelativePosition.Bucket(r, 8, 16)).ToArray();
        Assert.Equal(new[] { 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 1, 0, 5, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7 }, got);
    }

    // mt5: MT5EncoderModel (HunyuanDiT's second text encoder) is the T5 v1.1 encoder (gated-gelu, untied head)
    // under model_type "mt5"; its fixture has right padding in one row and an unpadded one.
    // umt5: UMT5EncoderModel (Wan 2.1's text encoder), a position table in every block; padding as mt5's.
    // umt5_long (cpuref, umt5_cases.py): 36 tokens past max_distance 12, so each block's table is read at exact,
    // logarithmic and clamped buckets (sharing block 0's table moves its output by 26%).
    [Theory]
    [InlineData("t5")]
    [InlineData("mt5")]
    [InlineData("umt5")]
    [InlineData("umt5_long")]
    public void FixtureT5MatchesTransformers(string name)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{name} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }

    [Fact]
    public void PaddedTokensDoNotChangeTheRealTokensOutputs()
    {
        using var ops = new CpuOps();
        using var enc = T5Encoder.Load(TestPaths.Fixture("t5"), ops);
        long[] a = [5, 17, 42, 1, 0, 0], b = [5, 17, 42, 1, 63, 88];
        long[] mask = [1, 1, 1, 1, 0, 0];
        using var ya = enc.Encode(ops, a, mask, 1, 6);
        using var yb = enc.Encode(ops, b, mask, 1, 6);
        var fa = ops.ToHost(ya); var fb = ops.ToHost(yb);
        int d = enc.Config.DModel;
        Assert.True(Numerics.RelativeError(fb.AsSpan(0, 4 * d), fa.AsSpan(0, 4 * d)) < 1e-6);
        // without the mask the extra ids do change the real tokens' outputs
        using var yc = enc.Encode(ops, b, null, 1, 6);
        Assert.True(Numerics.RelativeError(ops.ToHost(yc).AsSpan(0, 4 * d), fa.AsSpan(0, 4 * d)) > 1e-3);
    }

    [Fact]
    public void DemoTextEncoderLoadsFp16AndEncodesTheTokenizedPrompts()
    {
        using var ops = new CpuOps();
        using var enc = T5Encoder.Load(Path.Combine(TestPaths.DemoModel, "text_encoder"), ops);
        var tok = TokenizerLoader.Load(Path.Combine(TestPaths.DemoModel, "tokenizer"));
        var t = tok.Encode(["a red circle on a blue background", ""], 12);
        using var y = enc.Encode(ops, t.Ids, t.Mask, t.Batch, t.Length);
        Assert.Equal(new[] { 2, 12, enc.Config.DModel }, y.Dims);
        var v = ops.ToHost(y);
        Assert.All(v, x => Assert.True(float.IsFinite(x)));
        Assert.Contains(v, x => x != 0);
    }

    [Fact]
    public void ConfigRejectsOtherModelTypesAndReadsGatedGelu()
    {
        var e = Assert.Throws<NotSupportedException>(() => T5Config.From(XDit.Runtime.JsonConfig.Parse("""{"model_type": "mt5x"}""", "c.json")));
        Assert.Contains("c.json", e.Message);
        var c = T5Config.From(XDit.Runtime.JsonConfig.Parse("""{"feed_forward_proj": "gated-gelu"}""", "c.json"));
        Assert.True(c.IsGatedAct);
        Assert.Equal(XDit.Kernels.Activation.GeluTanh, c.DenseActivation);
        var r = T5Config.From(XDit.Runtime.JsonConfig.Parse("{}", "c.json"));
        Assert.False(r.IsGatedAct);
        Assert.Equal(XDit.Kernels.Activation.Relu, r.DenseActivation);
    }

    static string Umt5ConfigWith(string replace, string with)
    {
        var json = File.ReadAllText(Path.Combine(TestPaths.Fixture("umt5"), "config.json"));
        Assert.Contains(replace, json);
        return json.Replace(replace, with);
    }

    [Fact]
    public void Umt5ConfigSelectsAPositionTablePerBlock()
    {
        var c = T5Config.Load(Path.Combine(TestPaths.Fixture("umt5"), "config.json"));
        Assert.Equal("umt5", c.ModelType);
        Assert.True(c.PositionBiasPerLayer);
        Assert.False(T5Config.Load(Path.Combine(TestPaths.Fixture("mt5"), "config.json")).PositionBiasPerLayer);
    }

    [Fact]
    public void Umt5CheckpointUnderAT5ConfigIsRefusedNamingTheUnreadTable()
    {
        // the same weights read as T5 would share block 0's table and leave block 1's unread: refused, not run
        var config = T5Config.From(XDit.Runtime.JsonConfig.Parse(Umt5ConfigWith("\"UMT5EncoderModel\"", "\"T5EncoderModel\"")
            .Replace("\"umt5\"", "\"t5\""), "c.json"));
        using var ops = new CpuOps();
        using var source = XDit.Runtime.Checkpoint.Open(TestPaths.Fixture("umt5"));
        var e = Assert.Throws<FormatException>(() => T5Encoder.Load(config, source, ops));
        Assert.Contains("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight", e.Message);
    }

    [Theory]
    [InlineData("\"UMT5EncoderModel\"", "\"T5EncoderModel\"", "does not go with model_type 'umt5'")]
    [InlineData("\"UMT5EncoderModel\"", "\"UMT5ForTokenClassification\"", "is not a T5 encoder")]
    [InlineData("\"umt5\"", "\"t5\"", "does not go with model_type 't5'")]
    [InlineData("\"dense_act_fn\": \"gelu_new\"", "\"dense_act_fn\": \"relu\"", "dense_act_fn 'relu' disagrees")]
    [InlineData("\"is_gated_act\": true", "\"is_gated_act\": false", "is_gated_act false disagrees")]
    public void ConfigRefusesAMismatchedArchitectureOrActivationInOneLine(string replace, string with, string message)
    {
        var e = Assert.ThrowsAny<Exception>(() => T5Config.From(XDit.Runtime.JsonConfig.Parse(Umt5ConfigWith(replace, with), "c.json")));
        Assert.Contains("c.json", e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}

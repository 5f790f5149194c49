using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Bert;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class BertModelTests(ITestOutputHelper output)
{
    [Fact]
    public void FixtureMatchesTransformers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("bert"), ops);
        var r = Assert.Single(results);
        Assert.Equal("last_hidden_state", r.Name);
        output.WriteLine($"bert {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
        Assert.True(r.Passed, $"bert {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
    }

    [Fact]
    public void PaddedTokensDoNotChangeTheRealTokensOutputs()
    {
        using var ops = new CpuOps();
        using var model = BertModel.Load(TestPaths.Fixture("bert"), ops);
        long[] a = [2, 28, 5, 3, 0, 0], b = [2, 28, 5, 3, 63, 88];
        long[] mask = [1, 1, 1, 1, 0, 0];
        using var ya = model.Encode(ops, a, mask, 1, 6);
        using var yb = model.Encode(ops, b, mask, 1, 6);
        int d = model.Config.HiddenSize;
        var fa = ops.ToHost(ya);
        Assert.True(Numerics.RelativeError(ops.ToHost(yb).AsSpan(0, 4 * d), fa.AsSpan(0, 4 * d)) < 1e-6);
        // the unpadded prefix alone gives the same states (absolute positions, bidirectional attention over real keys)
        using var yShort = model.Encode(ops, a[..4], null, 1, 4);
        Assert.True(Numerics.RelativeError(ops.ToHost(yShort), fa.AsSpan(0, 4 * d)) < 1e-6);
        // without the mask the extra ids do change the real tokens' outputs
        using var yc = model.Encode(ops, b, null, 1, 6);
        Assert.True(Numerics.RelativeError(ops.ToHost(yc).AsSpan(0, 4 * d), fa.AsSpan(0, 4 * d)) > 1e-3);
    }

    [Fact]
    public void UnsupportedConfigsAreRefusedByName()
    {
        var rel = Assert.Throws<NotSupportedException>(() => BertConfig.From(JsonConfig.Parse("""{"position_embedding_type": "relative_key"}""", "bert/config.json")));
        Assert.Contains("bert/config.json", rel.Message);
        Assert.Contains("relative_key", rel.Message);
        var heads = Assert.Throws<FormatException>(() => BertConfig.From(JsonConfig.Parse("""{"hidden_size": 30, "num_attention_heads": 4}""", "bert/config.json")));
        Assert.Contains("hidden_size 30", heads.Message);
    }
}

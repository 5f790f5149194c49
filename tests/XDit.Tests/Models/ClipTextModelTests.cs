using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Clip;

namespace XDit.Tests.Models;

public class ClipTextModelTests
{
    readonly ITestOutputHelper _out;
    public ClipTextModelTests(ITestOutputHelper output) => _out = output;

    // clip_g is CLIP-G as SDXL/SD3 configure it: eos_token_id 2 in config.json (the legacy value), so transformers pools
    // at argmax(input_ids); its second prompt holds the id 2 mid-sequence, where pooling on eos_token_id would go wrong.
    [Theory]
    [InlineData("clip")]
    [InlineData("clip_g")]
    public void FixtureMatchesTransformers(string name)
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), ops);
        Assert.Equal(["last_hidden_state", "penultimate_hidden_state", "text_embeds"], results.Select(r => r.Name).ToArray());
        foreach (var r in results)
        {
            _out.WriteLine($"{name} {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{name} {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
    }

    [Fact]
    public void PoolsAtTheFirstEosOrTheLegacyArgmax()
    {
        using var ops = new CpuOps();
        using var model = ClipTextModel.Load(TestPaths.Fixture("clip"), ops);
        Assert.Equal(99, model.Config.EosTokenId);
        Assert.Equal(3, model.EosPosition([98, 5, 7, 99, 99, 99]));
        Assert.Equal(0, model.EosPosition([98, 5, 7]));
        Assert.True(model.Config.HasProjection);
        Assert.Equal(XDit.Kernels.Activation.QuickGelu, model.Config.HiddenAct);

        var dir = TestPaths.TempDir();
        try
        {
            var path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, """{"architectures": ["CLIPTextModel"], "eos_token_id": 2, "hidden_size": 32, "num_attention_heads": 4}""");
            var legacy = ClipTextConfig.Load(path);
            Assert.False(legacy.HasProjection);
            Assert.Equal(2, legacy.EosTokenId);
            File.WriteAllText(path, """{"architectures": ["CLIPVisionModel"]}""");
            var e = Assert.Throws<NotSupportedException>(() => ClipTextConfig.Load(path));
            Assert.Contains("CLIPVisionModel", e.Message);
            Assert.Contains(path, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The causal mask: a token's hidden state never depends on the tokens after it.</summary>
    [Fact]
    public void LaterTokensDoNotChangeEarlierStates()
    {
        using var ops = new CpuOps();
        using var model = ClipTextModel.Load(TestPaths.Fixture("clip"), ops);
        long[] a = [98, 10, 20, 30, 99, 99, 99, 99], b = [98, 10, 20, 31, 40, 50, 99, 99];
        using var oa = model.Encode(ops, a, 1, a.Length);
        using var ob = model.Encode(ops, b, 1, b.Length);
        var ha = ops.ToHost(oa.LastHiddenState);
        var hb = ops.ToHost(ob.LastHiddenState);
        int d = model.Config.HiddenSize;
        Assert.True(Numerics.MaxAbsError(ha.AsSpan(0, 3 * d), hb.AsSpan(0, 3 * d)) < 1e-5);
        Assert.True(Numerics.MaxAbsError(ha.AsSpan(3 * d, d), hb.AsSpan(3 * d, d)) > 1e-3);
        // pooled = last_hidden_state at the first EOS (position 4 in a)
        Assert.True(Numerics.MaxAbsError(ops.ToHost(oa.Pooled), ha.AsSpan(4 * d, d)) == 0);
    }
}

using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.Flux;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class FluxTransformerTests
{
    [Fact]
    public void FixtureMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("flux"), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
            TestContext.Current.TestOutputHelper?.WriteLine($"flux/{r.Name}: relative error {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
        foreach (var r in results)
            Assert.True(r.Passed, $"flux/{r.Name}: relative error {r.RelativeError:E3} (max abs {r.MaxAbsError:E3}) {r.Problem}");
    }

    [Fact]
    public void RopeTablesMatchTheDirectFormulaOnEveryAxis()
    {
        int[] axes = [16, 56, 56];
        int n = 7;
        var ids = new float[n * 3];
        var rnd = new Random(11);
        for (int i = 0; i < ids.Length; i++) ids[i] = i % 3 == 0 ? rnd.Next(0, 3) : (float)(rnd.NextDouble() * 60 - 5);

        var (cos, sin) = FluxRope.Tables(ids, n, axes);
        Assert.Equal(n * 128, cos.Length);
        for (int t = 0; t < n; t++)
            for (int ch = 0; ch < 128; ch++)
            {
                // Channel ch belongs to axis a at local channel j; its frequency index is j / 2.
                int a = ch < 16 ? 0 : ch < 72 ? 1 : 2;
                int j = ch - (a == 0 ? 0 : a == 1 ? 16 : 72);
                double angle = ids[t * 3 + a] * Math.Exp(-Math.Log(10000.0) * (j / 2 * 2) / axes[a]);
                Assert.Equal(Math.Cos(angle), cos[t * 128 + ch], 5e-6);
                Assert.Equal(Math.Sin(angle), sin[t * 128 + ch], 5e-6);
            }
        // Position 0 on every axis is the identity rotation.
        var (c0, s0) = FluxRope.Tables(new float[3], 1, axes);
        Assert.All(c0, v => Assert.Equal(1f, v));
        Assert.All(s0, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AttentionCallsSeparateImageAndTextTokensWithTextFirst()
    {
        using var ops = new CpuOps();
        using var model = FluxTransformer.Load(TestPaths.Fixture("flux"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("flux"));
        var inputs = FixtureInputs(ops, fx);
        var rec = new JointAttentionRecorder();
        using var recorded = model.Forward(ops, inputs, rec);
        using var plain = model.Forward(ops, inputs);

        int b = inputs.HiddenStates.Dim(0), n = inputs.HiddenStates.Dim(1), t = inputs.EncoderHiddenStates.Dim(1);
        int h = model.NumHeads, d = model.HeadDim;
        Assert.Equal(model.NumBlocks, rec.Calls.Count);
        Assert.Equal(model.Config.NumLayers + model.Config.NumSingleLayers, rec.Calls.Count);
        Assert.Equal(rec.Calls.Count, rec.Calls.Select(c => c.Layer).Distinct().Count());
        Assert.Contains(rec.Calls, c => c.Layer.StartsWith("single_transformer_blocks.", StringComparison.Ordinal));
        foreach (var c in rec.Calls)
        {
            Assert.Equal(AttentionKind.Self, c.Kind);
            Assert.True(c.JointFirst);
            foreach (var s in new[] { c.Q, c.K, c.V }) Assert.Equal(new[] { b, n, h, d }, s);
            foreach (var s in new[] { c.JointQ, c.JointK, c.JointV }) Assert.Equal(new[] { b, t, h, d }, s);
        }
        Assert.Equal(ops.ToHost(plain), ops.ToHost(recorded));
        DisposeInputs(inputs);
    }

    [Fact]
    public void EmbedBuildsRopeTablesPerStreamAndReadsTheGridFromTheIds()
    {
        using var ops = new CpuOps();
        using var model = FluxTransformer.Load(TestPaths.Fixture("flux"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("flux"));
        var inputs = FixtureInputs(ops, fx);
        using var state = model.Embed(ops, inputs);
        int n = inputs.HiddenStates.Dim(1), t = inputs.EncoderHiddenStates.Dim(1), d = model.HeadDim;
        Assert.Equal((4, 5, 20), (state.GridH, state.GridW, state.TotalTokens));
        Assert.Equal(new[] { n, d }, state.ImageRopeCos!.Dims);
        Assert.Equal(new[] { t, d }, state.TextRopeSin!.Dims);
        var expect = FluxRope.Tables(ops.ToHost(inputs.ImgIds!), n, model.Config.AxesDimsRope);
        Assert.Equal(expect.Cos, ops.ToHost(state.ImageRopeCos));
        Assert.Equal(expect.Sin, ops.ToHost(state.ImageRopeSin!));
        DisposeInputs(inputs);
    }

    [Fact]
    public void MissingGuidanceIsAClearError()
    {
        using var ops = new CpuOps();
        using var model = FluxTransformer.Load(TestPaths.Fixture("flux"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("flux"));
        var inputs = FixtureInputs(ops, fx) with { Guidance = null };
        var e = Assert.Throws<ArgumentException>(() => model.Embed(ops, inputs));
        Assert.Contains("guidance", e.Message);
        DisposeInputs(inputs);
    }

    [Fact]
    public void WrongShapedWeightNamesBothShapes()
    {
        var dir = SD3TransformerTests.CopyFixtureWithConfig("flux", cfg => cfg["joint_attention_dim"] = 30);
        using var ops = new CpuOps();
        var e = Assert.Throws<WeightShapeException>(() => FluxTransformer.Load(dir, ops));
        Assert.Contains("context_embedder.weight", e.Message);
        Assert.Contains("[32, 24]", e.Message);
        Assert.Contains("[32, 30]", e.Message);
    }

    [Fact]
    public void ConfigDefaultsAndErrors()
    {
        var c = FluxConfig.From(JsonConfig.Parse("""{"_class_name": "FluxTransformer2DModel", "out_channels": null}"""));
        Assert.Equal((19, 38, 24, 128, 64, 64, false), (c.NumLayers, c.NumSingleLayers, c.NumAttentionHeads, c.AttentionHeadDim, c.InChannels, c.OutChannels, c.GuidanceEmbeds));
        Assert.Equal(new[] { 16, 56, 56 }, c.AxesDimsRope);
        var e = Assert.Throws<NotSupportedException>(() => FluxConfig.From(JsonConfig.Parse("""{"_class_name": "SD3Transformer2DModel"}""", "f/config.json")));
        Assert.Contains("f/config.json", e.Message);
        var axes = Assert.Throws<FormatException>(() => FluxConfig.From(JsonConfig.Parse("""{"axes_dims_rope": [16, 56, 50]}""")));
        Assert.Contains("axes_dims_rope", axes.Message);
    }

    static DitInputs FixtureInputs(CpuOps ops, FixtureCase fx)
    {
        Tensor Up(string name) => fx.UploadInput(ops, name);
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"),
            EncoderHiddenStates = Up("encoder_hidden_states"),
            PooledProjections = Up("pooled_projections"),
            ImgIds = Up("img_ids"),
            TxtIds = Up("txt_ids"),
            Timestep = fx.InputFloats("timestep"),
            Guidance = fx.InputFloats("guidance"),
        };
    }

    static void DisposeInputs(DitInputs i)
    {
        i.HiddenStates.Dispose(); i.EncoderHiddenStates.Dispose(); i.PooledProjections?.Dispose(); i.ImgIds?.Dispose(); i.TxtIds?.Dispose();
    }
}

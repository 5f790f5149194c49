using XDit.Engine.Analysis;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using XDit.Tests.Parallel;

namespace XDit.Tests.Analysis;

/// <summary>The recorder on fixture models: it returns the plain forward; its changes are zero exactly where the
/// inputs repeat and positive where they do not; joint models give the text tokens' series; A is measured after the
/// output projection where the layer has one.</summary>
public class RedundancyRecorderTests
{
    static FixtureInputs Changed(FixtureInputs a)
    {
        var (data, shape) = a.Tensors["hidden_states"];
        return new FixtureInputs
        {
            Name = a.Name,
            Tensors = new Dictionary<string, (float[] Data, int[] Shape)>(a.Tensors) { ["hidden_states"] = (data.Select((v, i) => v * 0.8f + 0.1f * MathF.Sin(i)).ToArray(), shape) },
            Timestep = a.Timestep.Select(t => t * 0.9f).ToArray(),
            Guidance = a.Guidance,
        };
    }

    /// <summary>Runs the recorder on inputs a, a, b and checks each call returns the plain forward.</summary>
    static RedundancyRecorder Record(string fixture, RecordingOptions options, OutputProjections? projections = null)
    {
        var a = FixtureInputs.Load(fixture);
        var b = Changed(a);
        using var ops = new CpuOps();
        using var model = a.LoadModel(ops);
        var recorder = new RedundancyRecorder(options, projections);
        FixtureInputs[] sequence = [a, a, b];
        for (int t = 0; t < sequence.Length; t++)
        {
            var owned = new List<Tensor>();
            try
            {
                var inputs = sequence[t].Upload(ops, owned);
                using var got = recorder.Predict(ops, model, inputs, t);
                using var plain = model.Forward(ops, inputs);
                Assert.Equal(ops.ToHost(plain), ops.ToHost(got));
            }
            finally { foreach (var x in owned) x.Dispose(); }
        }
        return recorder;
    }

    [Theory]
    [InlineData("pixart_alpha")]
    [InlineData("flux")]
    [InlineData("sd3")]
    public void ChangesAreZeroOnlyWhereTheInputsRepeat(string fixture)
    {
        var recorder = Record(fixture, new RecordingOptions { Layers = LayerSelection.All });
        Assert.NotEmpty(recorder.Blocks);
        Assert.NotEmpty(recorder.AttentionLayers);
        foreach (var s in recorder.Series)
        {
            Assert.Equal(2, s.Values.Count);
            foreach (var m in ChangeMetrics.All.Where(m => m != ChangeMetric.VarAbs))
                Assert.Equal(0, s.Values[0][m]);
            // PixArt's cross-attention K/V are the caption's projections: the caption did not change
            bool constant = s.Key.Target is RecordingTarget.K or RecordingTarget.V
                && recorder.AttentionLayers.Single(l => l.Layer == s.Key.Layer).Kind == AttentionKind.Cross;
            if (constant) Assert.Equal(0, s.Values[1].MeanAbs);
            else Assert.True(double.IsFinite(s.Values[1].RelativeL1) && s.Values[1].RelativeL1 > 1e-4, $"{fixture} {s.Name}: change {s.Values[1].RelativeL1} after the inputs changed");
        }
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    public void JointModelsGiveTheTextTokensSeriesAndSelfLayersOnlyByDefault(string fixture)
    {
        var recorder = Record(fixture, new RecordingOptions());
        Assert.All(recorder.AttentionLayers, l => Assert.Equal(AttentionKind.Self, l.Kind));
        var targets = recorder.Series.Select(s => s.Key.Target).ToHashSet();
        foreach (var t in RecordingTarget.Default) Assert.Contains(t, targets);
        Assert.DoesNotContain(RecordingTarget.Residual, targets); // recorded only when asked
        Assert.All(recorder.Series, s => Assert.Equal(SeriesKey.AllRows, s.Key.Half));
    }

    [Fact]
    public void SeparateHalvesSplitTheBatchRowsInTwo()
    {
        var recorder = Record("pixart_alpha", new RecordingOptions { Targets = [RecordingTarget.K], Halves = HalfSelection.Separate });
        var halves = recorder.Series.GroupBy(s => s.Key.Layer).ToList();
        Assert.All(halves, g => Assert.Equal([SeriesKey.Uncond, SeriesKey.Cond], g.Select(s => s.Key.Half)));
        // the fixture's two rows differ (the second is the first scaled by −0.7), so the halves' changes differ too
        Assert.All(halves, g => Assert.NotEqual(g.First().Values[1].MeanAbs, g.Last().Values[1].MeanAbs));
    }

    [Fact]
    public void TheOutputIsMeasuredAfterTheOutputProjectionWhereTheLayerHasOne()
    {
        var options = new RecordingOptions { Targets = [RecordingTarget.A, RecordingTarget.TextA] };
        var raw = Record("flux", options);
        using var projections = OutputProjections.ForPipelineFolder(TestPaths.Fixture("flux"));
        var projected = Record("flux", options, projections);
        Assert.Equal(raw.Series.Select(s => s.Key), projected.Series.Select(s => s.Key));
        foreach (var (r, p) in raw.Series.Zip(projected.Series))
        {
            // Flux's single blocks have no to_out: their A is the attention output in both runs, as in the tool
            bool single = r.Key.Layer.StartsWith("single_transformer_blocks", StringComparison.Ordinal);
            if (single) Assert.Equal(r.Values[1].MeanAbs, p.Values[1].MeanAbs);
            else Assert.NotEqual(r.Values[1].MeanAbs, p.Values[1].MeanAbs);
        }
        Assert.Contains(raw.Series, s => s.Key.Layer.StartsWith("single_transformer_blocks", StringComparison.Ordinal));
    }
}

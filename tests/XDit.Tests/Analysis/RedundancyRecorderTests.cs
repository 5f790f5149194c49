using XDit.Engine.Analysis;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Runtime;
using XDit.Tests.Parallel;

namespace XDit.Tests.Analysis;

/// <summary>The recorder on a fixture model: it returns the plain forward, and its changes are zero exactly where
/// the inputs repeat and positive where they do not.</summary>
public class RedundancyRecorderTests
{
    [Theory]
    [InlineData("pixart_alpha")]
    [InlineData("flux")]
    public void ChangesAreZeroOnlyWhereTheInputsRepeat(string fixture)
    {
        var a = FixtureInputs.Load(fixture);
        var (data, shape) = a.Tensors["hidden_states"];
        var b = new FixtureInputs
        {
            Name = a.Name,
            Tensors = new Dictionary<string, (float[] Data, int[] Shape)>(a.Tensors) { ["hidden_states"] = (data.Select((v, i) => v * 0.8f + 0.1f * MathF.Sin(i)).ToArray(), shape) },
            Timestep = a.Timestep.Select(t => t * 0.9f).ToArray(),
            Guidance = a.Guidance,
        };
        using var ops = new CpuOps();
        using var model = a.LoadModel(ops);
        var recorder = new RedundancyRecorder();
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

        Assert.Equal(model.NumBlocks, recorder.Blocks.Count);
        var layers = recorder.AttentionLayers.ToList();
        Assert.NotEmpty(layers);
        foreach (var s in recorder.Blocks.Concat(layers))
        {
            Assert.Equal(2, s.Relative.Count);
            Assert.Equal(0, s.Relative[0]);
            Assert.Equal(0, s.MeanAbs[0]);
            Assert.True(double.IsFinite(s.Relative[1]) && s.Relative[1] > 1e-4, $"{fixture} {s.Name}: change {s.Relative[1]} after the inputs changed");
        }
    }

    [Fact]
    public void TheRelativeChangeIsMeanAbsDifferenceOverMeanAbsPrevious()
    {
        var s = new ChangeSeries("probe");
        s.Add([1f, -3f, 2f], [2f, -2f, 4f]);
        Assert.Equal((1 + 1 + 2) / 8.0, s.Relative[0], 12);
        Assert.Equal(4 / 3.0, s.MeanAbs[0], 12);
        Assert.Throws<InvalidOperationException>(() => s.Add([1f], [1f, 2f]));
    }
}

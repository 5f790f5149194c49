using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.QwenImage;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>A Qwen-Image fixture's inputs as host arrays, so that each in-process rank (or each step of a synthetic
/// trajectory) uploads its own copy.</summary>
sealed record QwenImageTestInputs(string Fixture, Dictionary<string, (float[] Data, int[] Shape)> Tensors, float[] Timestep, (int, int, int) Shape)
{
    public static QwenImageTestInputs Load(string fixture)
    {
        using var fx = new FixtureCase(TestPaths.Fixture(fixture));
        var tensors = new Dictionary<string, (float[], int[])>();
        foreach (var name in new[] { "hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask" })
        {
            using var t = fx.Input(name);
            tensors[name] = (t.ToFloatArray(), t.Dims);
        }
        return new QwenImageTestInputs(fixture, tensors, fx.InputFloats("timestep"), QwenImageFixtureRunner.ImgShape(fx));
    }

    public QwenImageTransformer LoadModel(IOps ops) => QwenImageTransformer.Load(TestPaths.Fixture(Fixture), ops);

    /// <summary>These inputs with the hidden states scaled by <paramref name="hiddenScale"/> and the timesteps by
    /// <paramref name="timeScale"/>.</summary>
    public QwenImageTestInputs Scaled(float hiddenScale, float timeScale)
    {
        var tensors = new Dictionary<string, (float[] Data, int[] Shape)>(Tensors);
        var (data, shape) = tensors["hidden_states"];
        tensors["hidden_states"] = (data.Select(v => v * hiddenScale).ToArray(), shape);
        return this with { Tensors = tensors, Timestep = Timestep.Select(v => v * timeScale).ToArray() };
    }

    public DitInputs Upload(IOps ops, List<Tensor> owned)
    {
        Tensor Up(string name) { var (d, s) = Tensors[name]; var t = ops.FromHost(d, s); owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"), EncoderHiddenStates = Up("encoder_hidden_states"),
            EncoderAttentionMask = Up("encoder_hidden_states_mask"), Timestep = (float[])Timestep.Clone(), ImgShape = Shape,
        };
    }

    /// <summary>One forward of <paramref name="executor"/> at <paramref name="step"/>, as host values.</summary>
    public float[] Predict(IOps ops, DiffusionTransformer model, IDenoiseExecutor executor, int step)
    {
        var owned = new List<Tensor>();
        try
        {
            using var o = executor.Predict(ops, model, Upload(ops, owned), step);
            return ops.ToHost(o);
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Models;
using XDit.Models.Flux2;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>The flux2 fixture's inputs as host arrays (hidden_states with its reference rows, text, ids, timestep and
/// guidance), so that each in-process rank or device uploads its own copy, and variants of them are one line.</summary>
sealed record Flux2TestInputs(Dictionary<string, (float[] Data, int[] Shape)> Tensors, float[] Timestep, float[]? Guidance)
{
    public const string Fixture = "flux2";

    public static Flux2TestInputs Load()
    {
        using var fx = new FixtureCase(TestPaths.Fixture(Fixture));
        var tensors = new Dictionary<string, (float[], int[])>();
        foreach (var name in new[] { "hidden_states", "encoder_hidden_states", "img_ids", "txt_ids" })
        {
            using var t = fx.Input(name);
            tensors[name] = (t.ToFloatArray(), t.Dims);
        }
        return new Flux2TestInputs(tensors, fx.InputFloats("timestep"), fx.InputFloats("guidance"));
    }

    public static Flux2Transformer LoadModel(IOps ops) => Flux2Transformer.Load(TestPaths.Fixture(Fixture), ops);

    /// <summary>The first <paramref name="n"/> image tokens and their ids (a count the sequence-parallel degrees divide).</summary>
    public Flux2TestInputs FirstTokens(int n)
    {
        var tensors = new Dictionary<string, (float[] Data, int[] Shape)>(Tensors);
        foreach (var name in new[] { "hidden_states", "img_ids" })
        {
            var (d, s) = tensors[name];
            int width = s[^1];
            tensors[name] = (d[..(n * width)], s[..^2].Append(n).Append(width).ToArray());
        }
        return this with { Tensors = tensors };
    }

    public DitInputs Upload(IOps ops, List<Tensor> owned)
    {
        Tensor Up(string name) { var (d, s) = Tensors[name]; var t = ops.FromHost(d, s); owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"), EncoderHiddenStates = Up("encoder_hidden_states"),
            ImgIds = Up("img_ids"), TxtIds = Up("txt_ids"),
            Timestep = (float[])Timestep.Clone(), Guidance = (float[]?)Guidance?.Clone(),
        };
    }

    /// <summary>One forward through <paramref name="executor"/> (the plain one when null), as host values.</summary>
    public float[] Predict(IOps ops, DiffusionTransformer model, IDenoiseExecutor? executor = null, int step = 0)
    {
        var owned = new List<Tensor>();
        try
        {
            using var o = (executor ?? SingleRankExecutor.Instance).Predict(ops, model, Upload(ops, owned), step);
            return ops.ToHost(o);
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }
}

using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.ZImage;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>A Z-Image fixture's inputs as host arrays (the captions padded with their mask, as the fixture runner
/// builds them), so that each in-process rank (or each changed copy) uploads its own.</summary>
sealed record ZImageTestInputs(string Fixture, float[] X, int[] XShape, float[] Captions, int[] CaptionShape, float[] Mask, float[] Timestep)
{
    public static ZImageTestInputs Load(string fixture)
    {
        using var fx = new FixtureCase(TestPaths.Fixture(fixture));
        using var cpu = new CpuOps();
        var (captions, mask) = ZImageFixtureRunner.Captions(fx, cpu);
        using (captions)
        using (mask)
        using (var x = fx.Input("x"))
            return new ZImageTestInputs(fixture, x.ToFloatArray(), x.Dims, cpu.ToHost(captions), captions.Dims, cpu.ToHost(mask), fx.InputFloats("t"));
    }

    public int Rows => XShape[0];

    public ZImageTransformer LoadModel(IOps ops) => ZImageTransformer.Load(TestPaths.Fixture(Fixture), ops);

    /// <summary>Batch rows [start, start + count) alone.</summary>
    public ZImageTestInputs RowsOf(int start, int count)
    {
        int xs = X.Length / Rows, cs = Captions.Length / Rows, ms = Mask.Length / Rows;
        return this with
        {
            X = X[(start * xs)..((start + count) * xs)], XShape = [count, .. XShape[1..]],
            Captions = Captions[(start * cs)..((start + count) * cs)], CaptionShape = [count, .. CaptionShape[1..]],
            Mask = Mask[(start * ms)..((start + count) * ms)], Timestep = Timestep[start..(start + count)],
        };
    }

    public DitInputs Upload(IOps ops, List<Tensor> owned)
    {
        Tensor Up(float[] d, int[] s) { var t = ops.FromHost(d, s); owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Up(X, XShape), EncoderHiddenStates = Up(Captions, CaptionShape), EncoderAttentionMask = Up(Mask, [CaptionShape[0], CaptionShape[1]]),
            Timestep = (float[])Timestep.Clone(),
        };
    }

    /// <summary>One forward of <paramref name="executor"/> at <paramref name="step"/>, as host values.</summary>
    public float[] Predict(IOps ops, DiffusionTransformer model, IDenoiseExecutor executor, int step = 0)
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

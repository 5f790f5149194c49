using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.QwenImage;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>
/// Qwen-Image under the mesh executor on in-process ranks against the single-rank Forward of the same fixture: CFG
/// (each rank its row and its row of the text mask), Ulysses and Ring (each rank a shard of the image tokens, the
/// padded text keys masked through the text part of the key bias). qwenimage: 4 heads, 24 tokens, masks of lengths 5
/// and 8; qwenimage_shapes: 3 heads, 2 frames of 3×5 = 30 tokens, a hole inside a mask.
/// </summary>
public class QwenImageMeshTests
{
    public static TheoryData<string, int, int, int> Cases() => new()
    {
        { "qwenimage", 2, 1, 1 }, { "qwenimage", 1, 2, 1 }, { "qwenimage", 1, 4, 1 }, { "qwenimage", 1, 1, 2 },
        { "qwenimage", 1, 1, 3 }, { "qwenimage", 1, 2, 2 }, { "qwenimage", 2, 2, 2 },
        { "qwenimage_shapes", 1, 3, 1 }, { "qwenimage_shapes", 1, 1, 5 }, { "qwenimage_shapes", 2, 3, 1 }, { "qwenimage_shapes", 1, 3, 2 },
    };

    sealed record Host(Dictionary<string, (float[] Data, int[] Shape)> Tensors, float[] Timestep, (int, int, int) Shape);

    static Host Load(string fixture)
    {
        using var fx = new FixtureCase(TestPaths.Fixture(fixture));
        var tensors = new Dictionary<string, (float[], int[])>();
        foreach (var name in new[] { "hidden_states", "encoder_hidden_states", "encoder_hidden_states_mask" })
        {
            using var t = fx.Input(name);
            tensors[name] = (t.ToFloatArray(), t.Dims);
        }
        return new Host(tensors, fx.InputFloats("timestep"), QwenImageFixtureRunner.ImgShape(fx));
    }

    static DitInputs Upload(IOps ops, Host h, List<Tensor> owned)
    {
        Tensor Up(string name) { var (d, s) = h.Tensors[name]; var t = ops.FromHost(d, s); owned.Add(t); return t; }
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"), EncoderHiddenStates = Up("encoder_hidden_states"),
            EncoderAttentionMask = Up("encoder_hidden_states_mask"), Timestep = (float[])h.Timestep.Clone(), ImgShape = h.Shape,
        };
    }

    [Theory, MemberData(nameof(Cases))]
    public void EveryRankReturnsTheSingleRankOutput(string fixture, int cfg, int ulysses, int ring)
    {
        var host = Load(fixture);
        float[] reference;
        using (var ops = new CpuOps())
        using (var model = QwenImageTransformer.Load(TestPaths.Fixture(fixture), ops))
        {
            var owned = new List<Tensor>();
            try { using var o = model.Forward(ops, Upload(ops, host, owned)); reference = ops.ToHost(o); }
            finally { foreach (var t in owned) t.Dispose(); }
        }

        int world = cfg * ulysses * ring;
        var mesh = new DeviceMesh(world, cfg: cfg, ulysses: ulysses, ring: ring);
        var results = InProcessWorld.Run(world, comm =>
        {
            var ops = comm.Ops;
            using var model = QwenImageTransformer.Load(TestPaths.Fixture(fixture), ops);
            var owned = new List<Tensor>();
            try
            {
                using var o = new MeshExecutor(mesh, comm).Predict(ops, model, Upload(ops, host, owned), 0);
                return (Output: ops.ToHost(o), Bytes: comm.Stats.BytesByOperation);
            }
            finally { foreach (var t in owned) t.Dispose(); }
        });
        for (int r = 0; r < world; r++)
        {
            double err = Numerics.RelativeError(results[r].Output, reference);
            Assert.True(err < 1e-5, $"{fixture} on {mesh}: rank {r} relative error {err:E2}");
            // the attention really communicated: all-to-alls under Ulysses, ring sends under Ring
            Assert.Equal(ulysses > 1, results[r].Bytes.GetValueOrDefault("AllToAll") > 0);
            Assert.Equal(ring > 1, results[r].Bytes.GetValueOrDefault("Send") > 0);
        }
    }
}

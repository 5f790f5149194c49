using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;

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

    [Theory, MemberData(nameof(Cases))]
    public void EveryRankReturnsTheSingleRankOutput(string fixture, int cfg, int ulysses, int ring)
    {
        var inputs = QwenImageTestInputs.Load(fixture);
        float[] reference;
        using (var ops = new CpuOps())
        using (var model = inputs.LoadModel(ops))
            reference = inputs.Predict(ops, model, SingleRankExecutor.Instance, 0);

        int world = cfg * ulysses * ring;
        var mesh = new DeviceMesh(world, cfg: cfg, ulysses: ulysses, ring: ring);
        var results = InProcessWorld.Run(world, comm =>
        {
            var ops = comm.Ops;
            using var model = inputs.LoadModel(ops);
            return (Output: inputs.Predict(ops, model, new MeshExecutor(mesh, comm), 0), Bytes: comm.Stats.BytesByOperation);
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

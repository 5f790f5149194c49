using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Models;

/// <summary>
/// Z-Image under the mesh executor on in-process ranks against the single-rank Forward of the same fixture: CFG
/// (each rank its row and its row of the caption mask), Ulysses and Ring (each rank a shard of the image grid, the
/// x_pad rows and captions replicated as joint rows; zimage_batch's padded caption rows masked through the joint
/// part of the key bias, with a rotary table per batch row).
/// </summary>
public class ZImageMeshTests
{
    public static TheoryData<string, int, int, int> Cases() => new()
    {
        { "zimage", 2, 1, 1 }, { "zimage", 1, 2, 1 }, { "zimage", 1, 1, 2 }, { "zimage", 1, 1, 4 }, { "zimage", 2, 2, 2 },
        { "zimage_batch", 1, 1, 3 }, { "zimage_batch", 1, 1, 5 },
    };

    [Theory, MemberData(nameof(Cases))]
    public void EveryRankReturnsTheSingleRankOutput(string fixture, int cfg, int ulysses, int ring)
    {
        var inputs = ZImageTestInputs.Load(fixture);
        float[] reference;
        using (var ops = new CpuOps())
        using (var model = inputs.LoadModel(ops))
            reference = inputs.Predict(ops, model, SingleRankExecutor.Instance);

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
            Assert.Equal(ulysses > 1, results[r].Bytes.GetValueOrDefault("AllToAll") > 0);
            Assert.Equal(ring > 1, results[r].Bytes.GetValueOrDefault("Send") > 0);
        }
    }
}

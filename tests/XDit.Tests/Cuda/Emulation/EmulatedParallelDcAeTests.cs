using XDit.Comm;
using XDit.Engine.ParallelVae;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>Patch-parallel DC-AE decoding on CudaOps (two emulated devices, in-process ranks): halo rows and the
/// all-reduced linear-attention sums as device tensors, against the CPU's one-rank decode.</summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedParallelDcAeTests
{
    [Fact]
    public void TwoRanksOnEmulatedCudaEqualOneCpuRank()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("dcae");
        var z = Numerics.Random(1 * 8 * 6 * 5, seed: 23, scale: 2f);
        int[] shape = [1, 8, 6, 5];
        float[] want;
        using (var cpu = new CpuOps())
        using (var vae = AutoencoderDC.Load(dir, cpu))
        using (var zt = cpu.FromHost(z, shape))
        using (var img = vae.Decode(cpu, zt))
            want = cpu.ToHost(img);

        var got = InProcessWorld.Run(2, rank => new CudaOps(rank, DType.F32), comm =>
        {
            using var vae = AutoencoderDC.Load(dir, comm.Ops);
            using var zt = comm.Ops.FromHost(z, shape);
            using var img = new ParallelVaeDecoder(comm).Decode(comm.Ops, vae, zt);
            return comm.Ops.ToHost(img);
        });
        foreach (var image in got)
        {
            double err = Numerics.RelativeError(image, want);
            Assert.True(err < 1e-5, $"2 emulated CUDA ranks: relative error {err:E3} against one CPU rank");
        }
    }
}

using XDit.Comm;
using XDit.Engine.ParallelVae;
using XDit.Kernels.Cpu;
using XDit.Kernels.Cuda;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// The host-staged communicators hand back the dtype they were given, as NCCL does: a float32 tensor on a 16-bit
/// device (Ring attention's log-sum-exp, linear attention's sums, the halo rows of a VAE decoded in float32) comes
/// back float32 and exact, where it used to be rounded to the activations' 16 bits by every exchange.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public class EmulatedCommDTypeTests
{
    [Fact]
    public void AFloat32TensorStaysFloat32AndExactOnAnF16Device()
    {
        EmulatedCuda.Require();
        // 1 + i/3000: not representable in f16 (11-bit significand), exact in float32, and doubling stays exact
        var values = Enumerable.Range(0, 12).Select(i => 1f + i / 3000f).ToArray();
        var ranks = InProcessWorld.Run(2, _ => new CudaOps(0, DType.F16), comm =>
        {
            var ops = comm.Ops;
            using var host = Tensor.FromArray(values, 3, 4);
            using var t = ops.Upload(host);
            Assert.Equal(DType.F32, t.DType);
            using var gathered = comm.AllGather(t, 0);
            using var swapped = comm.AllToAll(t, 1, 0);
            comm.AllReduce(t);
            Assert.Equal((DType.F32, DType.F32, DType.F32), (t.DType, gathered.DType, swapped.DType));
            using var received = ops.Zeros(DType.F32, 3, 4);
            using var sent = ops.Upload(host);
            comm.SendRecvAsync(sent, 1 - comm.Rank, received, 1 - comm.Rank).Wait();
            return (Sum: ops.ToHost(t), Gathered: ops.ToHost(gathered), Received: ops.ToHost(received));
        });
        foreach (var r in ranks)
        {
            Assert.Equal(values.Select(v => 2 * v), r.Sum);
            Assert.Equal(values.Concat(values), r.Gathered);
            Assert.Equal(values, r.Received);
        }
    }

    /// <summary>An upcast AutoencoderKL (float32 weights on f16 devices, SDXL's force_upcast) decoded patch-parallel
    /// on two emulated ranks equals one float32 CPU rank: its halo rows and the gathered image travel in float32
    /// (before, 5.7e-4 off: every exchange rounded them to f16).</summary>
    [Fact]
    public void AnUpcastVaeDecodedPatchParallelOnF16RanksEqualsOneFloat32Rank()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("vae4");
        var z = Numerics.Random(1 * 4 * 8 * 6, seed: 29, scale: 2f);
        int[] shape = [1, 4, 8, 6];
        TwoF16RanksEqualOneFloat32CpuRank("float32 VAE", z, shape,
            (cpu, zt) =>
            {
                using var vae = AutoencoderKL.Load(dir, cpu);
                using var img = vae.Decode(cpu, zt);
                return cpu.ToHost(img);
            },
            (comm, zt) =>
            {
                using var vae = AutoencoderKL.Load(dir, comm.Ops, float32: true);
                return new ParallelVaeDecoder(comm).Decode(comm.Ops, vae, zt);
            });
    }

    /// <summary>The upcast encoder (float32 on f16 devices) run patch-parallel on two emulated ranks, at 7 latent
    /// rows (bands of 4 and 3), equals one float32 CPU rank: the halo rows, the downsampler's row from the band below
    /// and the gathered moments travel in float32 too.</summary>
    [Fact]
    public void AnUpcastVaeEncodedPatchParallelOnF16RanksEqualsOneFloat32Rank()
    {
        EmulatedCuda.Require();
        var dir = TestPaths.Fixture("vae16_encode");
        var image = Numerics.Random(1 * 3 * 14 * 16, seed: 31);
        int[] shape = [1, 3, 14, 16];
        TwoF16RanksEqualOneFloat32CpuRank("float32 encoder", image, shape,
            (cpu, x) =>
            {
                using var encoder = VaeEncoder.Load(dir, cpu);
                using var moments = encoder.Moments(cpu, x);
                return cpu.ToHost(moments);
            },
            (comm, x) =>
            {
                using var encoder = VaeEncoder.Load(dir, comm.Ops, float32: true);
                return new ParallelVaeEncoder(comm).Moments(comm.Ops, encoder, x);
            });
    }

    /// <summary>Runs <paramref name="onCpu"/> on one float32 CPU rank and <paramref name="onRank"/> on two emulated
    /// f16 ranks (the input uploaded in float32, as an upcast model takes it) and asserts each rank's output is float32
    /// and within 1e-5 of the CPU's.</summary>
    static void TwoF16RanksEqualOneFloat32CpuRank(string what, float[] input, int[] shape,
        Func<CpuOps, Tensor, float[]> onCpu, Func<ICommunicator, Tensor, Tensor> onRank)
    {
        float[] want;
        using (var cpu = new CpuOps())
        using (var x = cpu.FromHost(input, shape))
            want = onCpu(cpu, x);
        var got = InProcessWorld.Run(2, rank => new CudaOps(rank, DType.F16), comm =>
        {
            using var host = Tensor.FromArray(input, shape);
            using var x = comm.Ops.Upload(host);
            using var output = onRank(comm, x);
            Assert.Equal(DType.F32, output.DType);
            return comm.Ops.ToHost(output);
        });
        foreach (var output in got)
        {
            double err = Numerics.RelativeError(output, want);
            Assert.True(err < 1e-5, $"2 emulated f16 ranks, {what}: relative error {err:E3} against one float32 CPU rank");
        }
    }
}

using XDit.Comm;
using XDit.Engine.ParallelVae;
using XDit.Kernels.Cpu;
using XDit.Models.Vae;
using XDit.Runtime;
using Xunit;

namespace XDit.Tests.ParallelVae;

/// <summary>Patch-parallel decoding against the one-rank decoder of the same weights.</summary>
public class ParallelVaeDecoderTests(ITestOutputHelper output)
{
    /// <summary>Decodes z on one rank and on N ranks; returns the one-rank image and peak activation bytes, and each
    /// rank's image and peak (weights are loaded on a separate op set so the arena peak counts activations only).</summary>
    static (float[] Image, long Peak) OneRank(string vaeDir, float[] z, int[] shape)
    {
        using var weightsOps = new CpuOps();
        using var vae = AutoencoderKL.Load(vaeDir, weightsOps);
        using var ops = new CpuOps();
        using var zt = ops.FromHost(z, shape);
        using var img = vae.Decode(ops, zt);
        return (ops.ToHost(img), ops.Arena.PeakBytesInUse);
    }

    static (float[] Image, long Peak)[] Parallel(string vaeDir, float[] z, int[] shape, int ranks)
        => InProcessWorld.Run(ranks, comm =>
        {
            using var weightsOps = new CpuOps();
            using var vae = AutoencoderKL.Load(vaeDir, weightsOps);
            var ops = (CpuOps)comm.Ops;
            using var zt = ops.FromHost(z, shape);
            using var img = new ParallelVaeDecoder(comm).Decode(ops, vae, zt);
            return (ops.ToHost(img), ops.Arena.PeakBytesInUse);
        });

    [Theory]
    [InlineData("demo", 2)]
    [InlineData("demo", 4)]
    [InlineData("vae4", 2)]
    [InlineData("vae4", 4)]
    [InlineData("vae16", 2)]
    [InlineData("vae16", 4)]
    public void EqualsTheOneRankDecode(string which, int ranks)
    {
        string dir;
        float[] z;
        int[] shape;
        if (which == "demo")
        {
            dir = Path.Combine(TestPaths.DemoModel, "vae");
            shape = [2, 4, 8, 8];
            z = Numerics.Random(2 * 4 * 8 * 8, 11, 2f);
        }
        else
        {
            dir = TestPaths.Fixture(which);
            using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
            using var zin = io.ReadF32("in.z");
            shape = zin.Dims;
            z = zin.ToFloatArray();
        }
        var (want, peak1) = OneRank(dir, z, shape);
        var got = Parallel(dir, z, shape, ranks);
        foreach (var (image, _) in got)
        {
            double err = Numerics.MaxAbsError(image, want);
            Assert.True(err < 1e-5, $"{which} on {ranks} ranks: max abs error {err:G3} against one rank");
        }
        output.WriteLine($"{which} z [{string.Join(",", shape)}] on {ranks} ranks: max abs err {got.Max(g => Numerics.MaxAbsError(g.Image, want)):G3}, rel err {got.Max(g => Numerics.RelativeError(g.Image, want)):G3}; peak activation bytes per rank {string.Join(", ", got.Select(g => g.Peak))} vs one rank {peak1}");
        if (which != "demo")
        {
            using var io = new SafetensorsFile(Path.Combine(dir, "io.safetensors"));
            using var sample = io.ReadF32("out.sample");
            Assert.True(Numerics.RelativeError(got[0].Image, sample.ToFloatArray()) < 1e-4, "against the diffusers fixture output");
        }
    }

    [Fact]
    public void BandsAreBalancedAndTooManyRanksAreRefused()
    {
        Assert.Equal([(0, 3), (3, 3), (6, 2), (8, 2)], Enumerable.Range(0, 4).Select(r => ParallelVaeDecoder.Band(10, 4, r)));
        Assert.Contains("fewer than the 5 ranks", Assert.Throws<ArgumentException>(() => ParallelVaeDecoder.Band(4, 5, 0)).Message);
    }
}

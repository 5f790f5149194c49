using XDit.Comm;
using XDit.Engine.ParallelVae;
using XDit.Kernels.Cpu;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Tests.ParallelVae;

/// <summary>Patch-parallel decoding of SANA's DC-AE (halo rows for every k×k convolution, dense and depth-wise;
/// all-reduced linear-attention sums) against the one-rank decoder of the same weights.</summary>
public class ParallelDcAeDecoderTests(ITestOutputHelper output)
{
    static string Dir => TestPaths.Fixture("dcae");

    static float[] OneRank(float[] z, int[] shape)
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderDC.Load(Dir, ops);
        using var zt = ops.FromHost(z, shape);
        using var img = vae.Decode(ops, zt);
        return ops.ToHost(img);
    }

    static float[][] Parallel(float[] z, int[] shape, int ranks)
        => InProcessWorld.Run(ranks, comm =>
        {
            using var weightsOps = new CpuOps();
            using var vae = AutoencoderDC.Load(Dir, weightsOps);
            var ops = comm.Ops;
            using var zt = ops.FromHost(z, shape);
            using var img = new ParallelVaeDecoder(comm).Decode(ops, vae, zt);
            return ops.ToHost(img);
        });

    [Theory]
    [InlineData(0, 2)]   // the fixture's 4×6 latent: two rows per rank, the least a 5×5 depth-wise kernel needs
    [InlineData(8, 3)]   // an 8-row latent in bands of 3, 3 and 2 rows
    [InlineData(8, 4)]
    public void EqualsTheOneRankDecode(int rows, int ranks)
    {
        float[] z;
        int[] shape;
        if (rows == 0)
        {
            using var io = new SafetensorsFile(Path.Combine(Dir, "io.safetensors"));
            using var zin = io.ReadF32("in.z");
            (z, shape) = (zin.ToFloatArray(), zin.Dims);
        }
        else
        {
            shape = [2, 8, rows, 5];
            z = Numerics.Random(2 * 8 * rows * 5, seed: 17, scale: 2f);
        }
        var want = OneRank(z, shape);
        var got = Parallel(z, shape, ranks);
        foreach (var image in got)
        {
            double err = Numerics.MaxAbsError(image, want);
            Assert.True(err < 1e-5, $"z [{string.Join(",", shape)}] on {ranks} ranks: max abs error {err:G3} against one rank");
        }
        output.WriteLine($"z [{string.Join(",", shape)}] on {ranks} ranks: max abs err {got.Max(g => Numerics.MaxAbsError(g, want)):G3}, rel err {got.Max(g => Numerics.RelativeError(g, want)):G3}");
        if (rows == 0)
        {
            using var io = new SafetensorsFile(Path.Combine(Dir, "io.safetensors"));
            using var sample = io.ReadF32("out.sample");
            Assert.True(Numerics.RelativeError(got[0], sample.ToFloatArray()) < 1e-4, "against the diffusers fixture output");
        }
    }

    /// <summary>A band thinner than a kernel's halo is refused with the layer named, not decoded wrongly.</summary>
    [Fact]
    public void BandsThinnerThanTheDepthwiseHaloAreRefused()
    {
        var z = Numerics.Random(8 * 4 * 6, seed: 3);
        var e = Assert.Throws<ArgumentException>(() => Parallel(z, [1, 8, 4, 6], 4));
        Assert.Contains("to_qkv_multiscale.0.proj_in", e.Message);
        Assert.Contains("fewer than the 2 halo rows", e.Message);
    }
}

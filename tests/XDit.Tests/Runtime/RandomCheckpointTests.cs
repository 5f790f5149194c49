using XDit.Engine.Bench;
using XDit.Kernels.Cpu;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Tests.Runtime;

/// <summary>The made-up checkpoint behind the real-size forward benchmark: repeatable values in range, in the asked
/// dtype and shape, and a whole model loads from it.</summary>
public class RandomCheckpointTests
{
    static float[] Values(Tensor t) => new CpuOps().ToHost(t);

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void TensorsAreRepeatablePerNameInRangeAndOfTheAskedDtype(DType dtype)
    {
        var source = new RandomCheckpoint("test", dtype, scale: 0.5f);
        using var a = source.Make("blocks.0.weight", [70, 33]);
        using var again = source.Make("blocks.0.weight", [70, 33]);
        using var other = source.Make("blocks.1.weight", [70, 33]);
        Assert.Equal(dtype, a.DType);
        Assert.Equal([70, 33], a.Dims);
        var v = Values(a);
        Assert.Equal(v, Values(again));
        Assert.NotEqual(v, Values(other));
        Assert.All(v, x => Assert.InRange(x, -0.5f, 0.5f));
        Assert.True(v.Select(x => (double)x).Average() is > -0.05 and < 0.05, "values centred on zero");
        Assert.True(v.Distinct().Count() > v.Length / 4, "values vary");
    }

    [Fact]
    public void ItAnswersTheShapedReadsOfTheSourceContractInTheShapeAsked()
    {
        ITensorSource source = new RandomCheckpoint("test", DType.BF16);
        var info = source.Info("blocks.0.weight", [6, 4]);
        Assert.Equal([6, 4], info.Shape);
        Assert.Equal(DType.BF16, info.DType);
        using var t = source.Read("blocks.0.weight", [6, 4]);
        using var made = ((RandomCheckpoint)source).Make("blocks.0.weight", [6, 4]);
        Assert.Equal([6, 4], t.Dims);
        Assert.Equal(Values(made), Values(t));
    }

    [Fact]
    public void ATensorAskedForWithoutAShapeIsNamed()
    {
        var source = new RandomCheckpoint("test", DType.F32);
        var e = Assert.Throws<NotSupportedException>(() => source.Info("pos_embed.proj.weight"));
        Assert.Equal("random weights (test): tensor 'pos_embed.proj.weight' was asked for without a shape to make it in", e.Message);
    }

    [Fact]
    public void APixArtTransformerLoadsFromItAndRunsAForwardPass()
    {
        var ops = new CpuOps();
        var workload = RealSizeModels.Workload("pixart-tiny", DType.F32, textTokens: 5);
        using var model = (PixArtTransformer)workload.Load(ops);
        var c = RealSizeModels.PixArtTiny;
        // every weight in the shape the config implies: 2 blocks of self- and cross-attention, feed-forward and
        // modulation, plus embeddings and the output projection
        long d = c.InnerDim, blocks = c.NumLayers * (4 * d * d + 4 * d + 2 * d * d + 2 * d * d + 4 * d + 8 * d * d + 5 * d + 6 * d);
        Assert.True(model.WeightBytes > blocks * 4, $"{model.WeightBytes} bytes of weights");
        var owned = new List<Tensor>();
        try
        {
            using var y = model.Forward(ops, workload.Inputs(ops, owned));
            Assert.Equal([2, c.OutChannels, c.SampleSize, c.SampleSize], y.Dims);
            Assert.All(Values(y), v => Assert.True(float.IsFinite(v)));
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    [Fact]
    public void ShapeOnlyTensorsHaveTheirSizeAndNoBytes()
    {
        // what the ledger's no-exec device loads a real-size model from: Flux's widest weight, made in no time
        var source = new RandomCheckpoint("test", DType.BF16) { ShapeOnly = true };
        using var t = source.Read("single_transformer_blocks.0.proj_out.weight", [3072, 15360]);
        var storage = Assert.IsType<ShapeOnlyStorage>(t.Storage);
        Assert.Equal(3072L * 15360 * 2, storage.ByteLength);
        Assert.Equal((DType.BF16, 3072L * 15360 * 2), (t.DType, t.ByteCount));
        // a backend that must read the values refuses it
        Assert.Throws<ArgumentException>(() => new CpuOps().Upload(t));
    }
}

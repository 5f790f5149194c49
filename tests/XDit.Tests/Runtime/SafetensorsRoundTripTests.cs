using XDit.Runtime;

namespace XDit.Tests.Runtime;

public class SafetensorsRoundTripTests
{
    /// <summary>A host tensor of <paramref name="dtype"/> filled with random bytes.</summary>
    internal static Tensor RandomTensor(DType dtype, int[] shape, Random rng)
    {
        var s = new HostStorage(Shape.Product(shape) * dtype.SizeOf());
        rng.NextBytes(s.Bytes);
        return new Tensor(s, dtype, shape);
    }

    static readonly int[][] Shapes = [[], [1], [3, 5], [2, 0, 4], [2, 3, 4], [7]];

    [Fact]
    public void EveryDTypeAndShapeRoundTripsWithMetadata()
    {
        var rng = new Random(11);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var dt in Enum.GetValues<DType>())
            for (int i = 0; i < Shapes.Length; i++)
                tensors.Add(new($"w.{dt}.{i}", RandomTensor(dt, Shapes[i], rng)));
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode \"quoted\"" };
        var path = Path.Combine(TestPaths.TempDir(), "rt.safetensors");
        SafetensorsWriter.Write(path, tensors, meta);

        using var f = new SafetensorsFile(path);
        Assert.Equal(tensors.Count, f.Names.Count);
        Assert.Equal(meta, f.Metadata);
        foreach (var (name, t) in tensors)
        {
            using var back = f.Read(name);
            Assert.Equal(t.DType, back.DType);
            Assert.Equal(t.Dims, back.Dims);
            Assert.Equal(((HostStorage)t.Storage).Bytes, ((HostStorage)back.Storage).Bytes);
            Assert.True(f.GetBytes(name).SequenceEqual(((HostStorage)t.Storage).Bytes));
        }
    }

    [Fact]
    public void LayoutMatchesTheFormatHeaderPaddedWithSpacesDataInGivenOrder()
    {
        var rng = new Random(5);
        // Names in non-sorted order, mixed sizes: the data must follow the given order.
        var tensors = new List<KeyValuePair<string, Tensor>>
        {
            new("zeta", RandomTensor(DType.F16, [3], rng)),
            new("alpha", RandomTensor(DType.I64, [2, 2], rng)),
            new("mid", RandomTensor(DType.U8, [5], rng)),
        };
        var bytes = SafetensorsWriter.ToBytes(tensors);
        var (parsed, meta, n) = RawSafetensors.Parse(bytes);
        Assert.Equal(0, (8 + n) % 8);
        var text = System.Text.Encoding.UTF8.GetString(bytes, 8, n);
        var trimmed = text.TrimEnd(' ');
        Assert.EndsWith("}", trimmed);
        Assert.True(n - trimmed.Length < 8, "padding is under 8 spaces");
        Assert.Empty(meta);
        Assert.DoesNotContain("__metadata__", text);
        Assert.Equal(8 + n + 6 + 32 + 5, bytes.Length);
        int at = 8 + n;
        foreach (var (name, t) in tensors)
        {
            var own = ((HostStorage)t.Storage).Bytes;
            Assert.Equal(own, bytes.AsSpan(at, own.Length).ToArray());
            Assert.Equal(own, parsed[name].Bytes);
            Assert.Equal(t.DType.ToString(), parsed[name].DType);
            at += own.Length;
        }
    }

    [Fact]
    public void StridedViewsAreWrittenInLogicalOrder()
    {
        var data = Numerics.Random(12, 3);
        using var t = Tensor.FromArray(data, 3, 4);
        var view = t.Permute(1, 0).Slice(0, 1, 2); // [2, 3], non-contiguous
        var path = Path.Combine(TestPaths.TempDir(), "v.safetensors");
        SafetensorsWriter.Write(path, [new("v", view)]);
        using var f = new SafetensorsFile(path);
        Assert.Equal(view.ToFloatArray(), f.ReadF32("v").ToFloatArray());
    }

    [Fact]
    public void WriterRejectsDuplicateAndReservedNames()
    {
        using var t = Tensor.FromArray([1f], 1);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.ToBytes([new("a", t), new("a", t)]));
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.ToBytes([new("__metadata__", t)]));
    }

    [Fact]
    public void ReadF32ConvertsHalfAndBFloat16()
    {
        float[] values = [1.5f, -2.25f, 0.0078125f, 1024f];
        var half = new HostStorage(8);
        var bf = new HostStorage(8);
        for (int i = 0; i < 4; i++)
        {
            BitConverter.TryWriteBytes(half.Bytes.AsSpan(2 * i), (Half)values[i]);
            BitConverter.TryWriteBytes(bf.Bytes.AsSpan(2 * i), DTypeConvert.SingleToBFloat16(values[i]));
        }
        var path = Path.Combine(TestPaths.TempDir(), "h.safetensors");
        SafetensorsWriter.Write(path, [new("h", new Tensor(half, DType.F16, [4])), new("b", new Tensor(bf, DType.BF16, [2, 2]))]);
        using var f = new SafetensorsFile(path);
        Assert.Equal(values, f.ReadF32("h").ToFloatArray()); // all exactly representable in both
        Assert.Equal(values, f.ReadF32("b").ToFloatArray());
    }

    [Fact]
    public void DemoWeightsMatchAnIndependentParse()
    {
        var path = Path.Combine(TestPaths.DemoModel, "transformer", "diffusion_pytorch_model.safetensors");
        var (raw, meta, _) = RawSafetensors.Parse(File.ReadAllBytes(path));
        using var f = new SafetensorsFile(path);
        Assert.Equal(meta, f.Metadata);
        Assert.Equal(raw.Keys.Order(), f.Names.Order());
        foreach (var (name, e) in raw)
        {
            Assert.Equal(e.Shape, f.Info(name).Shape);
            Assert.Equal(e.DType, f.Info(name).DType.ToString());
            using var t = f.Read(name);
            Assert.Equal(e.Bytes, ((HostStorage)t.Storage).Bytes);
        }
    }

    [Fact]
    public void DisposedFileRefusesPointers()
    {
        using var t = Tensor.FromArray([1f, 2f], 2);
        var path = RawSafetensors.WriteTemp(SafetensorsWriter.ToBytes([new("x", t)]));
        var f = new SafetensorsFile(path);
        Assert.Equal(8, f.GetBytes("x").Length);
        f.Dispose();
        f.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => f.Read("x"));
    }
}

namespace XDit.Runtime;

/// <summary>
/// A checkpoint that makes its tensors up: seeded random values (uniform in ±<paramref name="scale"/>) of whatever
/// shape the model asks for, in one dtype. It exists for benchmarks at a model's real size, whose weights cannot be
/// downloaded here; the time of a forward pass does not depend on the values. It has no list of names or shapes:
/// it answers <see cref="Info(string, int[])"/> and <see cref="Read(string, int[])"/>, the reads that carry the
/// shape a model expects, in that shape (<see cref="Make"/>); a read without one throws. Every name is present unless <paramref name="contains"/> says otherwise (the probes a
/// loader makes, such as SD3's for qk-norm weights, must get the real model's answer).
/// </summary>
public sealed class RandomCheckpoint(string description, DType dtype, float scale = 0.02f, Func<string, bool>? contains = null) : ITensorSource
{
    public string Path { get; } = $"random weights ({description})";
    public DType DType { get; } = dtype.IsFloat()
        ? dtype : throw new ArgumentException($"random weights are F32, F16 or BF16, not {dtype}", nameof(dtype));

    /// <summary>Hand out tensors of the right shape and dtype with no host bytes (<see cref="ShapeOnlyStorage"/>):
    /// nothing is made, and a backend that uploads them leaves the device memory as allocated. For the launch
    /// ledger on the emulator's no-exec device, where values never matter and a real-size model's weights
    /// (24 GB for Flux in bf16) would not fit in this machine's memory.</summary>
    public bool ShapeOnly { get; init; }

    public IReadOnlyCollection<string> Names => [];
    public bool Contains(string name) => contains?.Invoke(name) ?? true;

    /// <summary>The tensor <paramref name="name"/> of <paramref name="shape"/>, the same values on every call (the
    /// seed is the name's).</summary>
    public Tensor Make(string name, int[] shape)
    {
        long n = Shape.Product(shape);
        if (ShapeOnly) return new Tensor(new ShapeOnlyStorage(n * DType.SizeOf()), DType, shape, owns: true);
        var storage = new HostStorage(n * DType.SizeOf());
        var bytes = storage.Bytes;
        ulong seed = 0xcbf29ce484222325;   // FNV-1a of the name
        foreach (char ch in name) seed = (seed ^ ch) * 0x100000001b3;
        // xorshift64* per 64 Ki chunk, chunks in parallel: a real model's 10^8..10^9 values take well under a second
        const int chunk = 1 << 16;
        Parallel.For(0, (n + chunk - 1) / chunk, c =>
        {
            ulong s = seed + (ulong)c * 0x9E3779B97F4A7C15 | 1;
            long end = Math.Min(n, (c + 1) * chunk);
            for (long i = c * chunk; i < end; i++)
            {
                s ^= s >> 12; s ^= s << 25; s ^= s >> 27;
                float v = ((float)((s * 0x2545F4914F6CDD1D) >> 40) / (1 << 24) * 2 - 1) * scale;
                switch (DType)
                {
                    case DType.F32: BitConverter.TryWriteBytes(bytes.AsSpan((int)(i * 4), 4), v); break;
                    case DType.F16: BitConverter.TryWriteBytes(bytes.AsSpan((int)(i * 2), 2), (Half)v); break;
                    default: BitConverter.TryWriteBytes(bytes.AsSpan((int)(i * 2), 2), DTypeConvert.SingleToBFloat16(v)); break;
                }
            }
        });
        return new Tensor(storage, DType, shape, owns: true);
    }

    /// <summary>Any tensor is there in any shape asked for.</summary>
    public TensorInfo Info(string name, int[] expectedShape) => new(name, Path, DType, expectedShape, 0, 0);
    public Tensor Read(string name, int[] expectedShape) => Make(name, expectedShape);

    public TensorInfo Info(string name) => throw Unsized(name);
    public Tensor Read(string name) => throw Unsized(name);
    public Tensor ReadF32(string name) => throw Unsized(name);

    NotSupportedException Unsized(string name) => new($"{Path}: tensor '{name}' was asked for without a shape to make it in");

    public void Dispose() { }
}

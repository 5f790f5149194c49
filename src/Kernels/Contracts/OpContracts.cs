using XDit.Runtime;

namespace XDit.Kernels;

/// <summary>
/// The shape and dtype contract of each <see cref="IOps"/> op, in one place: CpuOps and CudaOps call the op's check
/// first thing, so both backends refuse the same inputs with the same <see cref="ArgumentException"/>. Each violation
/// has one message, naming the op and the shapes involved. What a backend cannot do although the contract allows it
/// (a head dim beyond a kernel's limit, say) is that backend's <see cref="NotSupportedException"/>, not a contract
/// violation. The op families live in the partial files next to this one. The entry points are never inlined, so an
/// exception's stack always shows that the contract threw it (OpContractTests checks that).
/// </summary>
public static partial class OpContracts
{
    // ---- memory ----

    /// <summary>Empty and Zeros: no negative dimension.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void Shape(string op, ReadOnlySpan<int> shape)
    {
        foreach (var d in shape)
            if (d < 0) throw new ArgumentException($"{op}: negative dimension in shape {Format(shape)}");
    }

    /// <summary>FromHost: the shape holds exactly the values given.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static void FromHost(int values, ReadOnlySpan<int> shape)
    {
        Shape("FromHost", shape);
        long need = XDit.Runtime.Shape.Product(shape);
        if (need != values) throw new ArgumentException($"FromHost: shape {Format(shape)} needs {need} values, got {values}");
    }

    // ---- helpers of the op families ----

    static string Format(ReadOnlySpan<int> shape) => XDit.Runtime.Shape.Format(shape);

    static void NotNull(Tensor? t, string op, string name)
    {
        if (t is null) throw new ArgumentNullException(name, $"{op}: {name} is null");
    }

    /// <summary>t has exactly <paramref name="rank"/> axes; <paramref name="layout"/> names them, e.g. "[B, N, D]".</summary>
    static void Rank(Tensor t, int rank, string layout, string op, string name)
    {
        NotNull(t, op, name);
        if (t.Rank != rank) throw new ArgumentException($"{op}: {name} must be {layout} (rank {rank}), got {Format(t.ShapeSpan)}");
    }

    static void RankAtLeast(Tensor t, int rank, string layout, string op, string name)
    {
        NotNull(t, op, name);
        if (t.Rank < rank) throw new ArgumentException($"{op}: {name} must be {layout} (rank ≥ {rank}), got {Format(t.ShapeSpan)}");
    }

    static ArgumentException Mismatch(string op, string what, Tensor a, string aName, Tensor b, string bName) =>
        new($"{op}: {what}: {aName} {Format(a.ShapeSpan)} vs {bName} {Format(b.ShapeSpan)}");

    /// <summary>An optional per-channel vector (norm weight and bias, Linear and Conv2d bias): exactly [n].</summary>
    static void Vector(Tensor x, string xName, Tensor? v, int n, string op, string name)
    {
        if (v is null) return;
        if (v.Rank != 1 || v.Dim(0) != n) throw Mismatch(op, $"{name} must be [{n}]", x, xName, v, name);
    }
}

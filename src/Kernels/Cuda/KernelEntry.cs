namespace XDit.Kernels.Cuda;

/// <summary>What one kernel parameter is, as the launch passes it: a device pointer, a 32- or 64-bit integer, a
/// float, or a struct of some bytes passed by value.</summary>
public enum KernelParamKind { Pointer, I32, I64, F32, Struct }

/// <summary>One kernel parameter: its kind and its size in bytes.</summary>
public readonly record struct KernelParam(KernelParamKind Kind, int Bytes)
{
    public static readonly KernelParam Pointer = new(KernelParamKind.Pointer, 8);
    public static readonly KernelParam I32 = new(KernelParamKind.I32, 4);
    public static readonly KernelParam I64 = new(KernelParamKind.I64, 8);
    public static readonly KernelParam F32 = new(KernelParamKind.F32, 4);

    /// <summary>A struct passed by value, <paramref name="bytes"/> long (the C# mirror's size).</summary>
    public static KernelParam Struct(int bytes) => new(KernelParamKind.Struct, bytes);

    public override string ToString() => Kind switch
    {
        KernelParamKind.Pointer => "ptr",
        KernelParamKind.I32 => "i32",
        KernelParamKind.I64 => "i64",
        KernelParamKind.F32 => "f32",
        _ => $"struct({Bytes})",
    };
}

/// <summary>
/// A kernel of native/kernels as C# launches it: its module (the .cu file's name), its <c>extern "C"</c> name and
/// its parameters in order. Each is declared once, in <see cref="CudaKernels"/>; KernelLibrary.Launch takes only
/// these and checks the arguments against <see cref="Parameters"/> before the driver sees them.
/// </summary>
public sealed class KernelEntry
{
    public KernelEntry(string module, string name, params KernelParam[] parameters)
    {
        Module = module;
        Name = name;
        Parameters = parameters;
    }

    public string Module { get; }
    public string Name { get; }
    public IReadOnlyList<KernelParam> Parameters { get; }

    /// <summary>Throws ArgumentException naming the kernel, the parameters it takes and the arguments found, unless
    /// <paramref name="args"/> match <see cref="Parameters"/> in count, kind and size.</summary>
    public void CheckArguments(ReadOnlySpan<KernelArg> args)
    {
        bool ok = args.Length == Parameters.Count;
        for (int i = 0; ok && i < args.Length; i++) ok = args[i].Param == Parameters[i];
        if (ok) return;
        var found = new string[args.Length];
        for (int i = 0; i < args.Length; i++) found[i] = args[i].Param.ToString();
        throw new ArgumentException($"kernel {Module}/{Name} takes {Parameters.Count} parameters ({string.Join(", ", Parameters)}), " +
                                    $"the launch passed {args.Length} ({string.Join(", ", found)})");
    }

    public override string ToString() => $"{Module}/{Name}({string.Join(", ", Parameters)})";
}

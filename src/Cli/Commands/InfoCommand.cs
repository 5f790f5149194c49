using System.CommandLine;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using XDit.Runtime.Cuda;

namespace XDit.Cli.Commands;

/// <summary><c>xdit info</c>: the CPU backend, the CUDA devices, the versions of the CUDA libraries found and the
/// attention backends.
/// A missing library is one line saying so; the command still exits 0. <c>--compile-kernels sm_XX</c> compiles every
/// kernel for that architecture instead (<see cref="KernelCompileCheck"/>: no GPU needed).</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Show the CPU backend, CUDA devices and the CUDA library versions found");
        var compile = new Option<string?>("--compile-kernels")
        {
            Description = "Compile every CUDA kernel for this architecture (sm_90, sm_80, ...) with the NVRTC found, " +
                          "without a GPU, and say what failed (exit 1 if any)",
        };
        command.Options.Add(compile);
        command.SetAction(r => r.GetValue(compile) is { } arch ? KernelCompileCheck.Run(Console.Out, arch) : Run(Console.Out));
        return command;
    }

    public static int Run(TextWriter o)
    {
        o.WriteLine($"CPU backend: {Environment.ProcessorCount} cores, {SimdLine()}");
        foreach (var (label, _, text) in CudaInventory.Libraries())
            o.WriteLine($"{label}: {text}");
        o.WriteLine(AttentionLine());
        if (!CudaDevice.TryGetCount(out int count, out var problem))
        {
            o.WriteLine($"CUDA devices: none ({problem})");
            return 0;
        }
        for (int i = 0; i < count; i++)
        {
            try
            {
                var d = CudaDevice.Query(i);
                o.WriteLine($"cuda:{i}: {d.Name}, compute capability {d.Major}.{d.Minor} ({d.Arch}), {d.Multiprocessors} SMs, " +
                            $"{Gib(d.TotalMemory)} GiB total, {Gib(d.FreeMemory)} GiB free");
            }
            catch (Exception e)
            {
                o.WriteLine($"cuda:{i}: {e.Message}");
            }
        }
        return 0;
    }

    /// <summary>The attention backends --attention-backend takes on CUDA, and whether cuDNN's graph API (fused
    /// attention, cudnnGetVersion ≥ 90000) is here.</summary>
    static string AttentionLine()
    {
        string cudnn = XDit.Kernels.Cuda.CudnnAttention.GraphApiAvailable(out var why)
            ? "cudnn (cuDNN's graph API is here: fused attention for bf16/f16 without masks)"
            : $"cudnn (not available: {why})";
        return $"attention backends (--attention-backend): auto (cuDNN where it can run, else native), {cudnn}, native (XDit's kernels: every mask, band window and dtype)";
    }

    static string Gib(long bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);

    static string SimdLine()
    {
        string isa = Avx512F.IsSupported ? "AVX-512" : Avx2.IsSupported ? "AVX2" : Avx.IsSupported ? "AVX"
            : System.Runtime.Intrinsics.Arm.AdvSimd.IsSupported ? "NEON" : Vector128.IsHardwareAccelerated ? "128-bit SIMD" : "no SIMD";
        return $"SIMD {Vector<float>.Count} floats per Vector<T> ({Vector<byte>.Count * 8}-bit), {isa}";
    }
}

using System.Runtime.CompilerServices;
using XDit.Runtime.Cuda;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// With XDIT_TEST_CUDA_EMULATOR=1 (the second pass of `./build.sh test`), the whole test process runs the CUDA
/// backend on the CPU stand-ins of native/emu: before any test, the emulator is built and XDIT_CUDA_LIBRARY_DIR
/// points CudaLibraries at it, so CudaOps, its kernels, the GEMMs and convolutions run through the real host code
/// and the very kernel sources NVRTC compiles on a GPU. Numerics are the CPU's; speed means nothing there.
/// Never on a machine with a real driver: a GPU run must not mix the two.
/// </summary>
public static class EmulatedCuda
{
    public const string Variable = "XDIT_TEST_CUDA_EMULATOR";

    public static bool Active { get; private set; }

    /// <summary>Skips the calling test outside the emulator pass (where a GPU is present, the CUDA tests run there).</summary>
    public static void Require() => Assert.SkipUnless(Active, $"runs in the emulator pass only ({Variable}=1, no CUDA driver)");

    [ModuleInitializer]
    internal static void UseTheEmulatorWhenAsked()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1") return;
        if (System.Runtime.InteropServices.NativeLibrary.TryLoad("libcuda.so.1", out var real))
        {
            System.Runtime.InteropServices.NativeLibrary.Free(real);
            Console.Error.WriteLine($"{Variable}=1 ignored: this machine has a CUDA driver");
            return;
        }
        var emu = KernelEmulator.TryGet(out var reason);
        if (emu is null)
        {
            Console.Error.WriteLine($"{Variable}=1 ignored: {reason}");
            return;
        }
        Environment.SetEnvironmentVariable(CudaLibraries.LibraryDirVariable, emu.LibraryDir);
        Environment.SetEnvironmentVariable("XDIT_KERNEL_CACHE", Path.Combine(emu.LibraryDir, "kernel-cache"));
        // every tensor its own allocation of its own size, so the emulator's guard pages sit right after its end
        Environment.SetEnvironmentVariable(CudaArena.ExactSizesVariable, "1");
        Active = true;
    }
}

using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Engine.Bench;

/// <summary>
/// The CUDA backend on the CPU emulator (native/emu) in no-exec mode: every launch, GEMM and copy is checked and
/// counted as on a GPU, none runs, and device memory is only reserved, so a real-size model's ledger (Flux's 24 GB
/// of bf16 weights) is drawn on a machine without a GPU and with less memory than the model. The emulator is
/// the one in XDIT_CUDA_LIBRARY_DIR when that is set, else it is built from the source tree (native/emu/build.sh,
/// a C++ compiler needed) into a temp folder named by a hash of its sources, the folder the tests use too.
/// </summary>
public static class NoExecDevice
{
    public const string Description = "the CPU emulator's CUDA device in no-exec mode (nothing runs; the launches, shapes and paths are a GPU's)";

    /// <summary>A CudaOps on the no-exec emulated device; its work runs on the calling thread, whose mode this sets.</summary>
    public static CudaOps Open(DType activations)
    {
        if (Environment.GetEnvironmentVariable(CudaLibraries.LibraryDirVariable) is not { Length: > 0 } dir)
        {
            dir = Build();
            Environment.SetEnvironmentVariable(CudaLibraries.LibraryDirVariable, dir);
        }
        if (Environment.GetEnvironmentVariable("XDIT_KERNEL_CACHE") is not { Length: > 0 })
            Environment.SetEnvironmentVariable("XDIT_KERNEL_CACHE", Path.Combine(dir, "kernel-cache"));   // the emulator's "CUBINs" stay apart
        if (!CudaLibraries.TryLoad(out var problem)) throw new NotSupportedException($"--ledger: the emulated CUDA libraries in {dir}: {problem}");
        if (EmulatorNoExec.Set(1) is null)
            throw new NotSupportedException($"--ledger: the CUDA driver loaded from {dir} ({CudaLibraries.LibraryDirVariable}) is not the XDit emulator; " +
                                            "use --device cuda to draw the ledger on this GPU");
        return new CudaOps(0, activations);
    }

    /// <summary>Builds the emulator as the tests do (KernelEmulator) and returns its folder.</summary>
    static string Build()
    {
        var native = FindNative() ?? throw new NotSupportedException(
            $"--ledger without --device cuda needs the CPU emulator: set {CudaLibraries.LibraryDirVariable} to a folder built by native/emu/build.sh, " +
            "or run xdit from its source tree");
        string cxx = Environment.GetEnvironmentVariable("CXX") is { Length: > 0 } c ? c : "g++";
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(cxx + "\n"));
        foreach (var sub in new[] { "kernels", "emu" })
            foreach (var f in Directory.GetFiles(Path.Combine(native, sub)).OrderBy(f => f, StringComparer.Ordinal))
            {
                hash.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(f)));
                hash.AppendData(File.ReadAllBytes(f));
            }
        var dir = Path.Combine(Path.GetTempPath(), "xdit-emu", Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant());
        if (File.Exists(Path.Combine(dir, "libxdit_emu.so")) && File.Exists(Path.Combine(dir, "libnccl.so.2"))) return dir;
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Path.Combine(native, "emu", "build.sh"));
        psi.ArgumentList.Add(dir);
        psi.Environment["CXX"] = cxx;
        using var p = Process.Start(psi) ?? throw new NotSupportedException("--ledger: could not start bash to build the CPU emulator");
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new NotSupportedException($"--ledger: native/emu/build.sh could not build the CPU emulator with {cxx} (exit {p.ExitCode}): {stderr.Result}{stdout.Result}");
        return dir;
    }

    /// <summary>The source tree's native/ folder, looked for above the executable and the working directory.</summary>
    static string? FindNative()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "native", "emu", "build.sh"))) return Path.Combine(d.FullName, "native");
        return null;
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using XDit.Kernels.Cuda;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// Runs the CUDA kernels of native/kernels on the CPU. native/emu/build.sh compiles native/emu (a host emulation of
/// the device environment, and CPU stand-ins for the CUDA driver, NVRTC, cuBLAS(Lt), cuDNN and NCCL) with every kernel
/// source into one shared library, with the C++ compiler found here ($CXX or g++), in a temp folder named by a hash
/// of the sources. Kernels launch from here as cuLaunchKernel would, with host pointers; <see cref="LibraryDir"/>
/// also holds the library under the CUDA sonames, for XDIT_CUDA_LIBRARY_DIR (<see cref="EmulatedCuda"/>).
/// Tests skip, saying why, only where no C++ compiler exists; a compile error fails them.
/// </summary>
public sealed unsafe class KernelEmulator
{
    static readonly Lazy<KernelEmulator?> Instance = new(Build);
    static string? _unavailable;

    readonly delegate* unmanaged<byte*, uint, uint, uint, uint, uint, uint, uint, void**, int> _launch;
    readonly delegate* unmanaged<byte*> _error;
    readonly nint _library;

    /// <summary>The folder with the library under the names CudaLibraries loads: libcuda.so.1, libnvrtc.so.13,
    /// libcublas.so.13, libcublasLt.so.13, libcudnn.so.9, libnccl.so.2 (links to one file, so all share one state).</summary>
    public string LibraryDir { get; }

    KernelEmulator(nint library, string dir)
    {
        LibraryDir = dir;
        _library = library;
        _launch = (delegate* unmanaged<byte*, uint, uint, uint, uint, uint, uint, uint, void**, int>)NativeLibrary.GetExport(library, "xdit_emu_launch");
        _error = (delegate* unmanaged<byte*>)NativeLibrary.GetExport(library, "xdit_emu_error");
    }

    /// <summary>The emulator, built on first use; skips the calling test where no C++ compiler is installed.</summary>
    public static KernelEmulator Get()
    {
        var e = Instance.Value;
        Assert.SkipWhen(e is null, $"no C++ compiler to build the kernel emulator: {_unavailable}");
        return e!;
    }

    /// <summary>The emulator, or null (with the reason) where no C++ compiler is installed.</summary>
    public static KernelEmulator? TryGet(out string? reason)
    {
        var e = Instance.Value;
        reason = _unavailable;
        return e;
    }

    /// <summary>Makes the stand-in cuBLASLt's heuristic find no algorithm (fake_cublaslt.cpp): 0 never, 1 for
    /// products with an epilogue, 2 for every product. The library is the one the CUDA libraries load, so this
    /// holds for the whole process: set it only in the "cuda" collection, and put 0 back.</summary>
    public void RefuseLtAlgorithms(int mode) =>
        ((delegate* unmanaged<int, void>)NativeLibrary.GetExport(_library, "xdit_emu_cublaslt_refuse"))(mode);

    /// <summary>Makes the stand-in cuDNN refuse every execution plan of the backend graph API (fake_cudnn.cpp), so
    /// no fused attention plan can be built: true on, false off. Process-wide like <see cref="RefuseLtAlgorithms"/>:
    /// set it only in the "cuda" collection, and put it back.</summary>
    public void RefuseCudnnAttention(bool on) =>
        ((delegate* unmanaged<int, void>)NativeLibrary.GetExport(_library, "xdit_emu_cudnn_refuse_attention"))(on ? 1 : 0);

    /// <summary>Makes the stand-in cuDNN's fused attention write its output doubled: a plan that builds and runs but
    /// computes the wrong thing. Process-wide like <see cref="RefuseCudnnAttention"/>.</summary>
    public void SkewCudnnAttention(bool on) =>
        ((delegate* unmanaged<int, void>)NativeLibrary.GetExport(_library, "xdit_emu_cudnn_skew_attention"))(on ? 1 : 0);

    /// <summary>Runs <paramref name="body"/>, which makes a launch through the driver stand-in fail on purpose, with the
    /// stand-in's line about it kept rather than printed (it would read like a failure in the test log); returns that
    /// line ("kernel: why"), empty when no launch failed.</summary>
    public string ExpectLaunchFailure(Action body)
    {
        var expect = (delegate* unmanaged<int, void>)NativeLibrary.GetExport(_library, "xdit_emu_driver_expect_failures");
        expect(1);
        try
        {
            body();
            return Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)NativeLibrary.GetExport(_library, "xdit_emu_driver_last_failure"))()) ?? "";
        }
        finally { expect(0); }
    }

    /// <summary>Guarded memory from the emulator (native/emu/guarded_memory.cpp), filled with 0xFF bytes: it ends
    /// just before an inaccessible page, so a kernel that reads or writes past its end fails its launch.</summary>
    public nint GuardedAlloc(long bytes)
    {
        var p = ((delegate* unmanaged<nuint, nint>)NativeLibrary.GetExport(_library, "xdit_emu_guarded_alloc"))((nuint)bytes);
        if (p == 0) throw new OutOfMemoryException($"the emulator could not map {bytes} bytes of guarded memory");
        return p;
    }

    public void GuardedFree(nint p)
    {
        if (((delegate* unmanaged<nint, int>)NativeLibrary.GetExport(_library, "xdit_emu_guarded_free"))(p) != 0)
            throw new ArgumentException($"0x{p:x} is not guarded memory from the emulator", nameof(p));
    }

    /// <summary>Runs <paramref name="launch"/> with the kernel's parameters in <paramref name="args"/>; throws with the
    /// emulator's message when the launch cannot complete (deadlock, partial-warp collective, unknown kernel).</summary>
    public void Launch(KernelLaunch launch, void** args) => Launch(launch.Kernel, launch.GridX, launch.GridY, launch.BlockX, launch.SharedBytes, args);

    public void Launch(string kernel, uint gridX, uint gridY, uint blockX, uint sharedBytes, void** args)
    {
        var name = Encoding.UTF8.GetBytes(kernel + "\0");
        int rc;
        fixed (byte* n = name) rc = _launch(n, gridX, gridY, 1, blockX, 1, 1, sharedBytes, args);
        if (rc != 0) throw new InvalidOperationException($"emulated launch of {kernel}: {Marshal.PtrToStringUTF8((nint)_error())}");
    }

    /// <summary>The emulator's last message on this thread: why a launch failed or the stand-in driver refused it.</summary>
    public string LastError => Marshal.PtrToStringUTF8((nint)_error()) ?? "";

    static KernelEmulator? Build()
    {
        string cxx = Environment.GetEnvironmentVariable("CXX") is { Length: > 0 } c ? c : "g++";
        if (!OnPath(cxx))
        {
            _unavailable = $"'{cxx}' is not on PATH";
            return null;
        }
        var native = Path.Combine(TestPaths.Root, "native");
        var script = Path.Combine(native, "emu", "build.sh");

        // the folder is named by a hash of everything that goes into the library
        var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(cxx + "\n"));
        foreach (var dir in new[] { "kernels", "emu" })
            foreach (var f in Directory.GetFiles(Path.Combine(native, dir)).OrderBy(f => f, StringComparer.Ordinal))
            {
                hash.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(f)));
                hash.AppendData(File.ReadAllBytes(f));
            }
        var key = Convert.ToHexString(hash.GetHashAndReset())[..16].ToLowerInvariant();
        var dirOut = Path.Combine(Path.GetTempPath(), "xdit-emu", key);
        var lib = Path.Combine(dirOut, "libxdit_emu.so");
        if (!File.Exists(lib) || !File.Exists(Path.Combine(dirOut, "libnccl.so.2")))
        {
            var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(dirOut);
            psi.Environment["CXX"] = cxx;
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var stdout = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
            {
                p.Kill(true);
                throw new InvalidOperationException($"{script} did not finish building the kernel emulator in 3 minutes");
            }
            if (p.ExitCode != 0)
                throw new InvalidOperationException($"{script} could not build the kernel emulator with {cxx} (exit {p.ExitCode}):\n{stderr.Result}{stdout.Result}");
        }
        return new KernelEmulator(NativeLibrary.Load(lib), dirOut);
    }

    static bool OnPath(string exe) =>
        Path.IsPathRooted(exe) ? File.Exists(exe)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => d.Length > 0 && File.Exists(Path.Combine(d, exe)));
}

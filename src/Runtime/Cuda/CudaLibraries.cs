using System.Reflection;
using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda;

/// <summary>One native library the CUDA backend may use: the logical name the bindings import and the sonames
/// tried in order (versioned first: runtime-only images lack the unversioned links).</summary>
public sealed record NativeLibrarySpec(string LogicalName, string[] Candidates, string MissingMeans);

/// <summary>Where one library was found (or why not).</summary>
public sealed record NativeLibraryStatus(NativeLibrarySpec Spec, nint Handle, string? Path, string? Problem)
{
    public bool Found => Handle != 0;
}

/// <summary>
/// Maps the logical library names used by the <c>[LibraryImport]</c> bindings to real sonames, loading lazily on
/// first use. <see cref="TryLoad"/> is the polite entry point: it answers with one line instead of a
/// <see cref="DllNotFoundException"/> when the driver or a toolkit library is missing.
/// </summary>
public static class CudaLibraries
{
    public const string Driver = "xdit_cuda";
    public const string Nvrtc = "xdit_nvrtc";
    public const string Cublas = "xdit_cublas";
    public const string CublasLt = "xdit_cublaslt";
    public const string Cudnn = "xdit_cudnn";
    public const string Nccl = "xdit_nccl";

    static readonly string Toolkit = "CUDA toolkit library not installed or not on the library path (LD_LIBRARY_PATH)";

    public static readonly NativeLibrarySpec DriverSpec = new(Driver,
        OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"], "no NVIDIA driver on this machine");
    public static readonly NativeLibrarySpec NvrtcSpec = new(Nvrtc,
        OperatingSystem.IsWindows() ? ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll"] : ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"], Toolkit);
    public static readonly NativeLibrarySpec CublasSpec = new(Cublas,
        OperatingSystem.IsWindows() ? ["cublas64_13.dll", "cublas64_12.dll"] : ["libcublas.so.13", "libcublas.so.12", "libcublas.so"], Toolkit);
    public static readonly NativeLibrarySpec CublasLtSpec = new(CublasLt,
        OperatingSystem.IsWindows() ? ["cublasLt64_13.dll", "cublasLt64_12.dll"] : ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"], Toolkit);
    public static readonly NativeLibrarySpec CudnnSpec = new(Cudnn,
        OperatingSystem.IsWindows() ? ["cudnn64_9.dll"] : ["libcudnn.so.9", "libcudnn.so"], "cuDNN 9 not installed (convolutions run as im2col + GEMM instead, slower)");
    public static readonly NativeLibrarySpec NcclSpec = new(Nccl,
        OperatingSystem.IsWindows() ? ["nccl.dll"] : ["libnccl.so.2", "libnccl.so"], "NCCL not installed (multi-GPU runs need it)");

    /// <summary>Every library in the order <c>xdit info</c> lists them.</summary>
    public static IReadOnlyList<NativeLibrarySpec> All { get; } = [DriverSpec, NvrtcSpec, CublasSpec, CublasLtSpec, CudnnSpec, NcclSpec];

    /// <summary>What CudaOps cannot run without (cuDNN and NCCL are loaded when first needed).</summary>
    public static IReadOnlyList<NativeLibrarySpec> Required { get; } = [DriverSpec, NvrtcSpec, CublasSpec, CublasLtSpec];

    static readonly object Gate = new();
    static readonly Dictionary<string, NativeLibraryStatus> Loaded = new();
    static bool _resolverSet;

    /// <summary>Installs the import resolver on this assembly (once). Every binding class calls it from its static
    /// constructor, so no P/Invoke can run before the mapping exists.</summary>
    public static void EnsureResolver()
    {
        lock (Gate)
        {
            if (_resolverSet) return;
            _resolverSet = true;
            NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
        }
    }

    static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        var spec = All.FirstOrDefault(s => s.LogicalName == name);
        return spec is null ? 0 : Load(spec).Handle;
    }

    /// <summary>Loads (once) and reports one library.</summary>
    public static NativeLibraryStatus Load(NativeLibrarySpec spec)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(spec.LogicalName, out var s)) return s;
            s = Probe(spec);
            Loaded[spec.LogicalName] = s;
            return s;
        }
    }

    /// <summary>When set, every CUDA library is loaded from this folder alone (nothing else is tried): a toolkit in
    /// an unusual place, or the tests' CPU stand-ins for the CUDA libraries (native/emu).</summary>
    public const string LibraryDirVariable = "XDIT_CUDA_LIBRARY_DIR";

    /// <summary>Tries each candidate by soname (the loader's search path), then in the usual toolkit folders; only in
    /// <see cref="LibraryDirVariable"/> when that is set. Never throws: a missing library yields a one-line
    /// <see cref="NativeLibraryStatus.Problem"/>.</summary>
    public static NativeLibraryStatus Probe(NativeLibrarySpec spec)
    {
        string tried = spec.Candidates.Length > 1 ? $" (tried {string.Join(", ", spec.Candidates)})" : "";
        if (Environment.GetEnvironmentVariable(LibraryDirVariable) is { Length: > 0 } only)
        {
            foreach (var name in spec.Candidates)
            {
                var full = System.IO.Path.Combine(only, name);
                if (File.Exists(full) && NativeLibrary.TryLoad(full, out var h)) return new(spec, h, full, null);
            }
            return new(spec, 0, null, $"{spec.Candidates[0]} not found in {only} ({LibraryDirVariable}){tried}: {spec.MissingMeans}");
        }
        foreach (var name in spec.Candidates)
            if (NativeLibrary.TryLoad(name, out var h)) return new(spec, h, name, null);
        foreach (var dir in ToolkitDirs())
            foreach (var name in spec.Candidates)
            {
                var full = System.IO.Path.Combine(dir, name);
                if (File.Exists(full) && NativeLibrary.TryLoad(full, out var h)) return new(spec, h, full, null);
            }
        return new(spec, 0, null, $"{spec.Candidates[0]} not found{tried}: {spec.MissingMeans}");
    }

    static IEnumerable<string> ToolkitDirs()
    {
        foreach (var v in new[] { "CUDA_HOME", "CUDA_PATH" })
        {
            var root = Environment.GetEnvironmentVariable(v);
            if (!string.IsNullOrEmpty(root)) { yield return System.IO.Path.Combine(root, "lib64"); yield return System.IO.Path.Combine(root, "lib"); }
        }
        if (OperatingSystem.IsLinux())
        {
            yield return "/usr/local/cuda/lib64";
            yield return "/usr/local/cuda/targets/x86_64-linux/lib";
        }
    }

    /// <summary>True when every library CudaOps needs loads; otherwise false and one line per missing library
    /// (joined by "; ") that says what is missing and what that means.</summary>
    public static bool TryLoad(out string? problem)
    {
        EnsureResolver();
        var problems = Required.Select(Load).Where(s => !s.Found).Select(s => s.Problem!).ToList();
        problem = problems.Count == 0 ? null : string.Join("; ", problems);
        return problem is null;
    }

    /// <summary>Throws <see cref="CudaUnavailableException"/> with the <see cref="TryLoad"/> line when a required library is missing.</summary>
    public static void Require()
    {
        if (!TryLoad(out var problem)) throw new CudaUnavailableException(problem!);
    }

    /// <summary>Throws when one optional library (cuDNN, NCCL) is missing.</summary>
    public static void Require(NativeLibrarySpec spec)
    {
        EnsureResolver();
        var s = Load(spec);
        if (!s.Found) throw new CudaUnavailableException(s.Problem!);
    }
}

/// <summary>The CUDA backend cannot start here (no driver, no device, a missing library). The message is one line.</summary>
public sealed class CudaUnavailableException(string message) : Exception(message);

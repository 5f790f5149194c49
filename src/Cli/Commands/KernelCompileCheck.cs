using XDit.Kernels.Cuda;
using XDit.Runtime.Cuda;

namespace XDit.Cli.Commands;

/// <summary><c>xdit info --compile-kernels sm_XX</c>: compiles every embedded kernel module with the NVRTC found, for
/// the named architecture, into a fresh cache, and says per module what came out. NVRTC needs no GPU and no driver,
/// so a machine without one can check that a kernel change still compiles before scarce GPU time is spent on it:
/// the emulator runs each kernel's C++ twin, never its CUDA source.</summary>
public static class KernelCompileCheck
{
    /// <summary>0 when every module compiled; 1 when one failed or NVRTC is missing (one line says which).</summary>
    public static int Run(TextWriter o, string arch)
    {
        var nvrtc = CudaLibraries.Load(CudaLibraries.NvrtcSpec);
        if (!nvrtc.Found)
        {
            o.WriteLine($"cannot compile the kernels: NVRTC not found ({nvrtc.Problem}); it needs no GPU: install the CUDA " +
                        "toolkit's NVRTC (libnvrtc and libnvrtc-builtins) and put it on LD_LIBRARY_PATH");
            return 1;
        }
        // A fresh cache so every module is really compiled; the CUBINs are thrown away afterwards.
        string cache = Path.Combine(Path.GetTempPath(), $"xdit-kernel-check-{Environment.ProcessId}");
        try
        {
            NvrtcCompiler compiler;
            try { compiler = new NvrtcCompiler(arch, cache); }
            catch (Exception e) when (e is ArgumentException or CudaUnavailableException or CudaException)
            {
                o.WriteLine($"cannot compile the kernels: {e.Message}");
                return 1;
            }
            o.WriteLine($"compiling {KernelSources.Modules.Count} kernel modules for {compiler.Arch} with NVRTC {compiler.Version} ({nvrtc.Path})");
            int failed = 0;
            foreach (var module in KernelSources.Modules)
            {
                try
                {
                    var cubin = compiler.Compile(module, KernelSources.Source(module), KernelSources.Headers);
                    o.WriteLine($"  {module}: ok, {cubin.Length / 1024.0:0.#} KiB");
                }
                catch (CudaException e)
                {
                    failed++;
                    o.WriteLine($"  {module}: FAILED: {e.Message}");
                }
            }
            o.WriteLine(failed == 0 ? $"all {KernelSources.Modules.Count} modules compiled" : $"{failed} of {KernelSources.Modules.Count} modules failed");
            return failed == 0 ? 0 : 1;
        }
        finally
        {
            try { if (Directory.Exists(cache)) Directory.Delete(cache, recursive: true); }
            catch (IOException) { /* a temp folder left behind is harmless */ }
        }
    }
}

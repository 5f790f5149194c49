using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>Which CUDA libraries are here, where, and which versions (for <c>xdit info</c>). Never throws.</summary>
public static unsafe class CudaInventory
{
    /// <summary>One line per library: "NAME VERSION (path)" or the problem line.</summary>
    public static IEnumerable<(string Label, bool Found, string Text)> Libraries()
    {
        CudaLibraries.EnsureResolver();
        foreach (var spec in CudaLibraries.All)
        {
            var s = CudaLibraries.Load(spec);
            string label = Label(spec);
            if (!s.Found) { yield return (label, false, s.Problem!); continue; }
            string version;
            try { version = Version(spec); }
            catch (Exception e) { version = $"version unknown ({e.GetType().Name}: {e.Message})"; }
            yield return (label, true, $"{version} ({s.Path})");
        }
    }

    static string Label(NativeLibrarySpec spec) => spec.LogicalName switch
    {
        CudaLibraries.Driver => "CUDA driver",
        CudaLibraries.Nvrtc => "NVRTC",
        CudaLibraries.Cublas => "cuBLAS",
        CudaLibraries.CublasLt => "cuBLASLt",
        CudaLibraries.Cudnn => "cuDNN",
        CudaLibraries.Nccl => "NCCL",
        _ => spec.LogicalName,
    };

    static string Version(NativeLibrarySpec spec)
    {
        switch (spec.LogicalName)
        {
            case CudaLibraries.Driver:
            {
                int v;
                Check.Cu(Driver.cuDriverGetVersion(&v), "cuDriverGetVersion");
                return $"CUDA {CudaDevice.FormatVersion(v)}";
            }
            case CudaLibraries.Nvrtc:
            {
                int major, minor;
                Check.Nvrtc(Nvrtc.nvrtcVersion(&major, &minor), "nvrtcVersion");
                return $"{major}.{minor}";
            }
            case CudaLibraries.Cublas:
            {
                int major, minor, patch;
                Check.Cublas(Cublas.cublasGetProperty(0, &major), "cublasGetProperty");
                Check.Cublas(Cublas.cublasGetProperty(1, &minor), "cublasGetProperty");
                Check.Cublas(Cublas.cublasGetProperty(2, &patch), "cublasGetProperty");
                return $"{major}.{minor}.{patch}";
            }
            case CudaLibraries.CublasLt:
            {
                ulong v = CublasLt.cublasLtGetVersion();   // major·10000 + minor·100 + patch
                return $"{v / 10000}.{v % 10000 / 100}.{v % 100}";
            }
            case CudaLibraries.Cudnn:
            {
                ulong v = Cudnn.cudnnGetVersion();         // 91400 for 9.14.0
                return $"{v / 10000}.{v % 10000 / 100}.{v % 100}";
            }
            case CudaLibraries.Nccl:
            {
                int v;
                int r = NcclVersion.ncclGetVersion(&v);
                if (r != 0) return $"ncclGetVersion returned {r}";
                return $"{v / 10000}.{v % 10000 / 100}.{v % 100}";
            }
            default: return "?";
        }
    }
}

using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda.Interop;

/// <summary>NCCL: only the version query (the communicator binding lives in src/Comm).</summary>
public static unsafe partial class NcclVersion
{
    static NcclVersion() => CudaLibraries.EnsureResolver();

    [LibraryImport(CudaLibraries.Nccl)] public static partial int ncclGetVersion(int* version);
}

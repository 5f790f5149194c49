using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda.Interop;

/// <summary>
/// CUDA driver API (cuda.h), bound to the exact exported symbols (versioned ones through EntryPoint). Handles are
/// raw: CUdevice = int, CUdeviceptr = ulong, every other handle = nint. Every call returns a CUresult; wrap it in
/// <see cref="Check.Cu"/>. Signatures follow ../shared/reference/runtimes.md §6a (CUDA 13.0, same for 12.8+).
/// </summary>
public static unsafe partial class Driver
{
    static Driver() => CudaLibraries.EnsureResolver();

    const string Lib = CudaLibraries.Driver;

    // ---- errors, init, version ----
    [LibraryImport(Lib)] public static partial int cuGetErrorName(int error, byte** str);
    [LibraryImport(Lib)] public static partial int cuGetErrorString(int error, byte** str);
    [LibraryImport(Lib)] public static partial int cuInit(uint flags);
    [LibraryImport(Lib)] public static partial int cuDriverGetVersion(int* version);

    // ---- devices ----
    [LibraryImport(Lib)] public static partial int cuDeviceGetCount(int* count);
    [LibraryImport(Lib)] public static partial int cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Lib)] public static partial int cuDeviceGetName(byte* name, int len, int device);
    [LibraryImport(Lib)] public static partial int cuDeviceGetAttribute(int* value, int attribute, int device);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] public static partial int cuDeviceTotalMem(nuint* bytes, int device);

    // ---- primary context ----
    [LibraryImport(Lib)] public static partial int cuDevicePrimaryCtxRetain(nint* ctx, int device);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] public static partial int cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(Lib)] public static partial int cuCtxSetCurrent(nint ctx);
    [LibraryImport(Lib)] public static partial int cuCtxGetCurrent(nint* ctx);
    [LibraryImport(Lib)] public static partial int cuCtxSynchronize();

    // ---- memory ----
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] public static partial int cuMemGetInfo(nuint* free, nuint* total);
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] public static partial int cuMemAlloc(ulong* dptr, nuint bytes);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] public static partial int cuMemFree(ulong dptr);
    [LibraryImport(Lib)] public static partial int cuMemHostAlloc(void** pp, nuint bytes, uint flags);
    [LibraryImport(Lib)] public static partial int cuMemFreeHost(void* p);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial int cuMemcpyHtoDAsync(ulong dst, void* src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static partial int cuMemcpyDtoHAsync(void* dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial int cuMemcpyDtoDAsync(ulong dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib)] public static partial int cuMemsetD8Async(ulong dst, byte value, nuint count, nint stream);
    [LibraryImport(Lib)] public static partial int cuMemsetD32Async(ulong dst, uint value, nuint count, nint stream);

    // ---- streams and events ----
    [LibraryImport(Lib)] public static partial int cuStreamCreate(nint* stream, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] public static partial int cuStreamDestroy(nint stream);
    [LibraryImport(Lib)] public static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(Lib)] public static partial int cuStreamWaitEvent(nint stream, nint evt, uint flags);
    [LibraryImport(Lib)] public static partial int cuEventCreate(nint* evt, uint flags);
    [LibraryImport(Lib)] public static partial int cuEventRecord(nint evt, nint stream);
    [LibraryImport(Lib)] public static partial int cuEventSynchronize(nint evt);
    [LibraryImport(Lib, EntryPoint = "cuEventElapsedTime_v2")] public static partial int cuEventElapsedTime(float* ms, nint start, nint end);
    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")] public static partial int cuEventDestroy(nint evt);

    // ---- modules and launch ----
    [LibraryImport(Lib)] public static partial int cuModuleLoadData(nint* module, void* image);
    [LibraryImport(Lib)] public static partial int cuModuleGetFunction(nint* function, nint module, byte* name);
    [LibraryImport(Lib)] public static partial int cuModuleUnload(nint module);
    [LibraryImport(Lib)] public static partial int cuFuncSetAttribute(nint function, int attribute, int value);
    [LibraryImport(Lib)] public static partial int cuLaunchKernel(nint f, uint gridX, uint gridY, uint gridZ,
        uint blockX, uint blockY, uint blockZ, uint sharedBytes, nint stream, void** kernelParams, void** extra);

    // ---- graphs (stream capture) ----
    [LibraryImport(Lib, EntryPoint = "cuStreamBeginCapture_v2")] public static partial int cuStreamBeginCapture(nint stream, int mode);
    [LibraryImport(Lib)] public static partial int cuStreamEndCapture(nint stream, nint* graph);
    [LibraryImport(Lib)] public static partial int cuStreamIsCapturing(nint stream, int* status);
    [LibraryImport(Lib)] public static partial int cuGraphInstantiateWithFlags(nint* exec, nint graph, ulong flags);
    [LibraryImport(Lib)] public static partial int cuGraphLaunch(nint exec, nint stream);
    [LibraryImport(Lib)] public static partial int cuGraphExecDestroy(nint exec);
    [LibraryImport(Lib)] public static partial int cuGraphDestroy(nint graph);
}

/// <summary>CUdevice_attribute values used here (cuda.h).</summary>
public static class CuDeviceAttribute
{
    public const int MultiprocessorCount = 16;
    public const int L2CacheSize = 38;
    public const int ComputeCapabilityMajor = 75;
    public const int ComputeCapabilityMinor = 76;
    public const int MaxSharedMemoryPerBlockOptin = 97;
}

/// <summary>CUfunction_attribute values used here.</summary>
public static class CuFunctionAttribute
{
    public const int MaxDynamicSharedSizeBytes = 8;
    public const int PreferredSharedMemoryCarveout = 9;   // percent of the unified L1/shared memory; 100 = most shared
}

/// <summary>Flags and modes (cuda.h).</summary>
public static class CuFlags
{
    public const uint StreamNonBlocking = 1;
    public const uint EventDefault = 0;
    public const uint EventDisableTiming = 2;
    public const uint MemHostAllocPortable = 1;
    public const int CaptureModeGlobal = 0, CaptureModeThreadLocal = 1, CaptureModeRelaxed = 2;
    public const ulong GraphInstantiateAutoFreeOnLaunch = 1;
}

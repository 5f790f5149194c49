using System.Runtime.InteropServices;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Runtime.Cuda;

/// <summary>What the driver says about one device.</summary>
public sealed record CudaDeviceInfo(int Ordinal, string Name, int Major, int Minor, int Multiprocessors, long TotalMemory,
    long FreeMemory, int MaxSharedMemoryPerBlockOptin)
{
    /// <summary>The NVRTC architecture name, e.g. sm_90 on an H100.</summary>
    public string Arch => $"sm_{Major}{Minor}";
}

/// <summary>Device queries through the driver API (no context needed except for free memory).</summary>
public static unsafe class CudaDevice
{
    /// <summary>Number of devices; false with a one-line reason when the driver is missing or finds none.</summary>
    public static bool TryGetCount(out int count, out string? problem)
    {
        count = 0;
        CudaLibraries.EnsureResolver();
        var driver = CudaLibraries.Load(CudaLibraries.DriverSpec);
        if (!driver.Found) { problem = driver.Problem; return false; }
        int init = Driver.cuInit(0);
        if (init != 0) { problem = $"cuInit: {Check.CuName(init)}"; return false; }
        int n;
        int r = Driver.cuDeviceGetCount(&n);
        if (r != 0) { problem = $"cuDeviceGetCount: {Check.CuName(r)}"; return false; }
        count = n;
        problem = n == 0 ? "the NVIDIA driver found no CUDA device" : null;
        return n > 0;
    }

    /// <summary>True when a device can run CudaOps here (driver, device and required libraries present);
    /// otherwise <paramref name="reason"/> says why in one line. Tests use it to skip.</summary>
    public static bool IsAvailable(out string? reason)
    {
        if (!TryGetCount(out _, out reason)) return false;
        return CudaLibraries.TryLoad(out reason);
    }

    public static CudaDeviceInfo Query(int ordinal)
    {
        CudaLibraries.Require(CudaLibraries.DriverSpec);
        Check.Cu(Driver.cuInit(0), "cuInit");
        int devOut;
        Check.Cu(Driver.cuDeviceGet(&devOut, ordinal), "cuDeviceGet");
        int dev = devOut;
        var name = stackalloc byte[256];
        Check.Cu(Driver.cuDeviceGetName(name, 256, dev), "cuDeviceGetName");
        int Attr(int a)
        {
            int v;
            Check.Cu(Driver.cuDeviceGetAttribute(&v, a, dev), "cuDeviceGetAttribute");
            return v;
        }
        nuint total;
        Check.Cu(Driver.cuDeviceTotalMem(&total, dev), "cuDeviceTotalMem_v2");
        long free;
        using (var ctx = new CudaContext(ordinal)) free = ctx.MemoryInfo().Free;
        return new CudaDeviceInfo(ordinal, Marshal.PtrToStringUTF8((nint)name) ?? "?",
            Attr(CuDeviceAttribute.ComputeCapabilityMajor), Attr(CuDeviceAttribute.ComputeCapabilityMinor),
            Attr(CuDeviceAttribute.MultiprocessorCount), (long)total, free, Attr(CuDeviceAttribute.MaxSharedMemoryPerBlockOptin));
    }

    /// <summary>"13.0" from 13000.</summary>
    public static string FormatVersion(int v) => $"{v / 1000}.{v % 1000 / 10}";
}

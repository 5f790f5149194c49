using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda.Interop;

/// <summary>NVRTC (nvrtc.h). Every call returns an nvrtcResult; wrap it in <see cref="Check.Nvrtc"/>.</summary>
public static unsafe partial class Nvrtc
{
    static Nvrtc() => CudaLibraries.EnsureResolver();

    const string Lib = CudaLibraries.Nvrtc;

    [LibraryImport(Lib)] public static partial byte* nvrtcGetErrorString(int result);
    [LibraryImport(Lib)] public static partial int nvrtcVersion(int* major, int* minor);
    [LibraryImport(Lib)] public static partial int nvrtcGetNumSupportedArchs(int* count);
    [LibraryImport(Lib)] public static partial int nvrtcGetSupportedArchs(int* archs);
    [LibraryImport(Lib)] public static partial int nvrtcCreateProgram(nint* prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib)] public static partial int nvrtcDestroyProgram(nint* prog);
    [LibraryImport(Lib)] public static partial int nvrtcCompileProgram(nint prog, int numOptions, byte** options);
    [LibraryImport(Lib)] public static partial int nvrtcGetProgramLogSize(nint prog, nuint* size);
    [LibraryImport(Lib)] public static partial int nvrtcGetProgramLog(nint prog, byte* log);
    [LibraryImport(Lib)] public static partial int nvrtcGetCUBINSize(nint prog, nuint* size);
    [LibraryImport(Lib)] public static partial int nvrtcGetCUBIN(nint prog, byte* cubin);
}

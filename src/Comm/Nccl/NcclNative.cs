using System.Reflection;
using System.Runtime.InteropServices;
using XDit.Runtime.Cuda;

namespace XDit.Comm.Nccl;

/// <summary>ncclUniqueId: 128 opaque bytes made by one rank and passed BY VALUE to ncclCommInitRank on every rank.</summary>
[StructLayout(LayoutKind.Sequential, Size = Bytes)]
public unsafe struct NcclUniqueId
{
    public const int Bytes = 128;
    public fixed byte Internal[Bytes];

    public byte[] ToArray()
    {
        var b = new byte[Bytes];
        fixed (byte* p = Internal) new ReadOnlySpan<byte>(p, Bytes).CopyTo(b);
        return b;
    }

    public static NcclUniqueId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Bytes) throw new ArgumentException($"an NCCL unique id is {Bytes} bytes, got {bytes.Length}");
        var id = new NcclUniqueId();
        bytes.CopyTo(new Span<byte>(id.Internal, Bytes));
        return id;
    }
}

/// <summary>
/// nccl.h, the part XDit uses (runtimes.md §5; libnccl.so.2 ≥ 2.19). Every function returns ncclResult_t; wrap it
/// in <see cref="NcclCheck.Ok"/>. The library resolves through <see cref="CudaLibraries"/> on first use.
/// </summary>
static unsafe partial class NcclNative
{
    static NcclNative() => NcclLibrary.EnsureResolver();

    const string Lib = CudaLibraries.Nccl;

    // ncclResult_t
    public const int Success = 0, InProgress = 7;
    // ncclRedOp_t
    public const int Sum = 0;
    // ncclDataType_t
    public const int Float16 = 6, Float32 = 7, Bfloat16 = 9;

    [LibraryImport(Lib)] public static partial int ncclGetVersion(int* version);
    [LibraryImport(Lib)] public static partial int ncclGetUniqueId(NcclUniqueId* uniqueId);
    [LibraryImport(Lib)] public static partial int ncclCommInitRank(nint* comm, int nranks, NcclUniqueId commId, int rank);
    [LibraryImport(Lib)] public static partial int ncclCommDestroy(nint comm);
    [LibraryImport(Lib)] public static partial int ncclCommAbort(nint comm);
    [LibraryImport(Lib)] public static partial int ncclCommGetAsyncError(nint comm, int* asyncError);
    [LibraryImport(Lib)] public static partial byte* ncclGetErrorString(int result);
    [LibraryImport(Lib)] public static partial byte* ncclGetLastError(nint comm);
    [LibraryImport(Lib)] public static partial int ncclGroupStart();
    [LibraryImport(Lib)] public static partial int ncclGroupEnd();
    [LibraryImport(Lib)] public static partial int ncclAllReduce(ulong sendbuff, ulong recvbuff, nuint count, int datatype, int op, nint comm, nint stream);
    [LibraryImport(Lib)] public static partial int ncclAllGather(ulong sendbuff, ulong recvbuff, nuint sendcount, int datatype, nint comm, nint stream);
    [LibraryImport(Lib)] public static partial int ncclReduceScatter(ulong sendbuff, ulong recvbuff, nuint recvcount, int datatype, int op, nint comm, nint stream);
    [LibraryImport(Lib)] public static partial int ncclBroadcast(ulong sendbuff, ulong recvbuff, nuint count, int datatype, int root, nint comm, nint stream);
    [LibraryImport(Lib)] public static partial int ncclSend(ulong sendbuff, nuint count, int datatype, int peer, nint comm, nint stream);
    [LibraryImport(Lib)] public static partial int ncclRecv(ulong recvbuff, nuint count, int datatype, int peer, nint comm, nint stream);
}

/// <summary>The two driver queries the watchdog needs that the runtime's binding does not export.</summary>
static partial class CudaQuery
{
    static CudaQuery() => NcclLibrary.EnsureResolver();

    /// <summary>CUresult CUDA_ERROR_NOT_READY: the event's work is still running.</summary>
    public const int NotReady = 600;

    [LibraryImport(CudaLibraries.Driver)] public static partial int cuEventQuery(nint evt);
}

/// <summary>Finding libnccl: the same soname list and one-line problem as <c>xdit info</c> shows.</summary>
public static class NcclLibrary
{
    static readonly object Gate = new();
    static bool _resolverSet;

    /// <summary>Maps this assembly's logical library names (nccl, the driver) to the libraries CudaLibraries finds.</summary>
    internal static void EnsureResolver()
    {
        lock (Gate)
        {
            if (_resolverSet) return;
            _resolverSet = true;
            NativeLibrary.SetDllImportResolver(typeof(NcclLibrary).Assembly, Resolve);
        }
    }

    static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        var spec = CudaLibraries.All.FirstOrDefault(s => s.LogicalName == name);
        return spec is null ? 0 : CudaLibraries.Load(spec).Handle;
    }

    /// <summary>True when libnccl loads; otherwise false and one line saying what is missing.</summary>
    public static bool IsAvailable(out string? problem)
    {
        var s = CudaLibraries.Load(CudaLibraries.NcclSpec);
        problem = s.Found ? null : s.Problem;
        return s.Found;
    }

    /// <summary>Throws <see cref="CudaUnavailableException"/> with the <see cref="IsAvailable"/> line.</summary>
    public static void Require()
    {
        if (!IsAvailable(out var problem)) throw new CudaUnavailableException(problem!);
    }

    /// <summary>The loaded library's version code (2.28.3 → 22803).</summary>
    public static unsafe int Version()
    {
        Require();
        int v;
        NcclCheck.Ok(NcclNative.ncclGetVersion(&v), "ncclGetVersion");
        return v;
    }
}

/// <summary>An NCCL call failed: the message names the call, the result name and NCCL's last error text.</summary>
public sealed class NcclException(string call, int result, string message) : Exception(message)
{
    public string Call { get; } = call;
    public int Result { get; } = result;
}

static unsafe class NcclCheck
{
    static readonly string[] Names = ["ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError",
        "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress", "ncclTimeout"];

    public static string Name(int result) => result >= 0 && result < Names.Length ? Names[result] : $"ncclResult {result}";

    /// <summary>Throws <see cref="NcclException"/> unless <paramref name="result"/> is ncclSuccess.</summary>
    public static void Ok(int result, string call, nint comm = 0)
    {
        if (result == NcclNative.Success) return;
        string text = Describe(result, comm);
        throw new NcclException(call, result, $"{call}: {Name(result)}{(text.Length > 0 ? $" ({text})" : "")}");
    }

    /// <summary>NCCL's own words: the result's string and, when it has one, the last error of <paramref name="comm"/>.</summary>
    public static string Describe(int result, nint comm)
    {
        var parts = new List<string>();
        try
        {
            byte* s = NcclNative.ncclGetErrorString(result);
            if (s != null && Marshal.PtrToStringUTF8((nint)s) is { Length: > 0 } str) parts.Add(str);
            byte* last = NcclNative.ncclGetLastError(comm);
            if (last != null && Marshal.PtrToStringUTF8((nint)last) is { Length: > 0 } l) parts.Add(l.ReplaceLineEndings(" ").Trim());
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        return string.Join(": ", parts);
    }
}

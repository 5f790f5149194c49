using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;

namespace XDit.Kernels.Cuda;

/// <summary>
/// The op set on one CUDA device. Activations are kept in <see cref="ActivationType"/> (BF16 by default, F16 or
/// F32 on request), weights in the dtype they were uploaded in; every kernel accumulates in float32. GEMMs go
/// through cuBLASLt (bias/GELU/ReLU epilogues fused), convolutions through cuDNN, attention and everything else
/// through NVRTC kernels from native/kernels. All work is queued on one stream, so the arena may recycle a block
/// as soon as its tensor is disposed. Not thread-safe: one CudaOps per rank/thread.
/// </summary>
public sealed unsafe partial class CudaOps : IOps
{
    const long WorkspaceBytes = 32L << 20;   // cuBLASLt, cuBLAS and cuDNN share it; 32 MiB is what Hopper wants

    readonly CudaContext _ctx;
    readonly CudaStream _stream;
    readonly CudaArena _arena;
    readonly KernelLibrary _kernels;
    readonly LtMatmul _lt;
    readonly BlasGemm _blas;
    readonly DeviceBuffer _workspace;
    readonly Transfers _transfers;
    CudnnConvolution? _cudnn;
    bool _disposed;

    /// <summary>True when a device and the required libraries are here; otherwise a one-line reason.</summary>
    public static bool IsAvailable(out string? reason) => CudaDevice.IsAvailable(out reason);

    public CudaOps(int device = 0, DType activationType = DType.BF16, string? kernelCacheDir = null)
    {
        if (activationType is not (DType.BF16 or DType.F16 or DType.F32))
            throw new ArgumentException($"activation dtype must be BF16, F16 or F32, got {activationType}", nameof(activationType));
        CudaLibraries.Require();
        // Retain the primary context before Query: Query retains and releases it too, and a release that drops the
        // count to zero destroys the context (a second creation, hundreds of ms, on every CudaOps start).
        _ctx = new CudaContext(device);
        Info = CudaDevice.Query(device);
        _ctx.MakeCurrent();
        _stream = new CudaStream();
        _arena = new CudaArena(_ctx);
        _workspace = new DeviceBuffer(WorkspaceBytes);
        _lt = new LtMatmul(_workspace.Pointer, WorkspaceBytes);
        _blas = new BlasGemm(_workspace.Pointer, WorkspaceBytes);
        _kernels = new KernelLibrary(new NvrtcCompiler(Info.Arch, kernelCacheDir));
        _transfers = new Transfers(_stream);
        ActivationType = activationType;
        Name = $"cuda:{device}";
    }

    public string Name { get; }
    public DType ActivationType { get; }
    public IAllocator Allocator => _arena;
    public CudaArena Arena => _arena;
    public CudaDeviceInfo Info { get; }
    public CudaStream Stream => _stream;
    public CudaContext Context => _ctx;
    public KernelLibrary Kernels => _kernels;
    /// <summary>Every launch, GEMM, convolution, device copy and memset queued so far (the launch ledger reads it).</summary>
    public LaunchCounter Launches => _kernels.Launches;

    /// <summary>Use cuBLASLt's GELU epilogue for <see cref="Activation.GeluTanh"/>. NVIDIA documents the epilogue as
    /// the tanh approximation; CudaOpsTests checks it against CpuOps' GeluTanh on the device. Turn off to run the
    /// GEMM with a bias epilogue and a separate exact GeluTanh kernel.</summary>
    public bool FuseGeluEpilogue { get; set; } = true;

    /// <summary>None when all went through cuBLASLt and cuDNN; each note costs speed (a shape cuDNN's fused
    /// attention refused is one note, once).</summary>
    public IReadOnlyList<string> FallbackNotes()
    {
        var notes = new List<string>();
        if (GemmFallbacks > 0) notes.Add($"{GemmFallbacks} GEMM(s) had no cuBLASLt algorithm with their epilogue, or at all, and ran another way");
        if (GatedEpilogueFallbacks > 0)
            notes.Add($"{GatedEpilogueFallbacks} gated-residual GEMM(s) had no cuBLASLt algorithm with the gate as alpha vector and ran as GEMM + gated residual");
        if (NormRopeEpilogueFallbacks > 0)
            notes.Add($"{NormRopeEpilogueFallbacks} q/k projection(s) had a layout the fused norm-and-rotation GEMM does not take and ran as GEMM + rms_norm_rope");
        lock (_cudnnAttentionNotes) notes.AddRange(_cudnnAttentionNotes);
        if (GemmConvolutions > 0)
            notes.Add($"{GemmConvolutions} convolution(s) ran as im2col + GEMM" +
                      (CudaLibraries.Load(CudaLibraries.CudnnSpec).Found ? "" : " (cuDNN is not installed)"));
        return notes;
    }

    /// <summary>Waits for all queued work.</summary>
    public void Synchronize()
    {
        Enter();
        NotWhileCapturing("Synchronize");
        _stream.Synchronize();
    }

    void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _ctx.MakeCurrent();
    }

    CudnnConvolution Cudnn => _cudnn ??= new CudnnConvolution(_stream.Handle);

    // ---- pointers and views ----

    /// <summary>Device address of the tensor's first element.</summary>
    static ulong Ptr(Tensor t, string what = "tensor")
    {
        if (t.Storage is not CudaStorage cs)
            throw new ArgumentException($"{what} {t} lives in {t.Storage.GetType().Name}, not on the GPU: Upload it first");
        if (t.IsDisposed) throw new ObjectDisposedException($"{what} {t}");
        return cs.Pointer + (ulong)(t.Offset * t.DType.SizeOf());
    }

    static ulong PtrOrZero(Tensor? t, string what) => t is null ? 0 : Ptr(t, what);

    /// <summary>A contiguous tensor with the same values: the input itself, or a temporary copy that the
    /// returned handle disposes.</summary>
    Temp Dense(Tensor t) => t.IsContiguous ? new Temp(t, null) : Temp.Own(Contiguous(t));

    /// <summary>A contiguous tensor in dtype <paramref name="dt"/> (the input itself when it already is).</summary>
    Temp Dense(Tensor t, DType dt)
    {
        if (t.DType == dt) return Dense(t);
        return Temp.Own(Cast(t, dt));
    }

    Temp DenseOpt(Tensor? t) => t is null ? default : Dense(t);

    readonly struct Temp : IDisposable
    {
        public Temp(Tensor? t, Tensor? owned) { T = t!; _owned = owned; }
        public static Temp Own(Tensor t) => new(t, t);
        public Tensor T { get; }
        public Tensor? TOrNull => T;
        readonly Tensor? _owned;
        public void Dispose() => _owned?.Dispose();
    }

    Tensor NewLike(Tensor x) => Empty(x.DType, x.Dims);

    static uint Blocks(long n, int threads = 256) => (uint)Math.Clamp((n + threads - 1) / threads, 1, 65535L * 16);

    /// <summary>A grid-stride kernel over <paramref name="n"/> elements, 256 threads a block.</summary>
    void Launch(KernelEntry kernel, long n, ReadOnlySpan<KernelArg> args)
    {
        if (n == 0) return;
        _kernels.Launch(new KernelLaunch(kernel, Blocks(n), 1, 256, 0), _stream.Handle, args);
    }

    /// <summary>A row kernel: one block of <paramref name="threads"/> per row.</summary>
    void LaunchRows(KernelEntry kernel, long rows, uint threads, ReadOnlySpan<KernelArg> args)
    {
        if (rows == 0) return;
        if (rows > int.MaxValue) throw new NotSupportedException($"{kernel.Name}: {rows} rows");
        _kernels.Launch(new KernelLaunch(kernel, (uint)rows, 1, threads, 0), _stream.Handle, args);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _ctx.MakeCurrent();
        _stream.Synchronize();
        _disposed = true;
        _cudnn?.Dispose();
        _cudnnAttention?.Dispose();
        _lt.Dispose();
        _blas.Dispose();
        _kernels.Dispose();
        _transfers.Dispose();
        _arena.Dispose();
        _workspace.Dispose();
        _stream.Dispose();
        _ctx.Dispose();
    }
}

using System.Runtime.InteropServices;
using XDit.Kernels;
using XDit.Kernels.Cuda;
using XDit.Runtime;
using XDit.Runtime.Cuda;
using XDit.Runtime.Cuda.Interop;
using static XDit.Runtime.Cuda.Interop.CudnnGraph;

namespace XDit.Tests.Cuda.Emulation;

/// <summary>
/// What only the stand-in cuDNN can show (native/emu/fake_cudnn.cpp): a graph that is malformed or not the fused
/// attention pattern is refused with cuDNN's status and a last-error line, the refusal reaches the caller's
/// message, and a cuDNN that builds no plan sends the automatic choice to our kernel (a note, once per shape)
/// without an exception, while forcing cuDNN is one clear error.
/// </summary>
[NeedsCudaDevice]
[Collection("cuda")]
public unsafe class EmulatedCudnnAttentionTests
{
    static nint MakeTensor(long uid, int dtype, long[] dims, long[] strides, bool isVirtual = false)
    {
        nint t;
        Assert.Equal(0, CudnnBackend.cudnnBackendCreateDescriptor(TensorDescriptor, &t));
        fixed (long* d = dims) Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(t, TensorDimensions, TypeInt64, dims.Length, d));
        fixed (long* s = strides) Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(t, TensorStrides, TypeInt64, strides.Length, s));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(t, TensorDataType, TypeDataType, 1, &dtype));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(t, TensorUniqueId, TypeInt64, 1, &uid));
        if (isVirtual) { bool v = true; Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(t, TensorIsVirtual, TypeBoolean, 1, &v)); }
        Assert.Equal(0, CudnnBackend.cudnnBackendFinalize(t));
        return t;
    }

    /// <summary>A matmul operation of a, b into c, not yet finalized (with its matmul descriptor).</summary>
    static nint MatmulOp(nint a, nint b, nint c, List<nint> made)
    {
        nint mm, op;
        int comp = DataFloat;
        Assert.Equal(0, CudnnBackend.cudnnBackendCreateDescriptor(MatmulDescriptor, &mm));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(mm, MatmulCompType, TypeDataType, 1, &comp));
        Assert.Equal(0, CudnnBackend.cudnnBackendFinalize(mm));
        Assert.Equal(0, CudnnBackend.cudnnBackendCreateDescriptor(OperationMatmulDescriptor, &op));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(op, OperationMatmulADesc, TypeBackendDescriptor, 1, &a));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(op, OperationMatmulBDesc, TypeBackendDescriptor, 1, &b));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(op, OperationMatmulCDesc, TypeBackendDescriptor, 1, &c));
        Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(op, OperationMatmulDesc, TypeBackendDescriptor, 1, &mm));
        made.AddRange([mm, op]);
        return op;
    }

    static string LastError()
    {
        var buf = stackalloc byte[512];
        buf[0] = 0;
        Cudnn.cudnnGetLastErrorString(buf, 512);
        return Marshal.PtrToStringUTF8((nint)buf) ?? "";
    }

    [Fact]
    public void TheStandInRefusesMalformedGraphsWithCudnnsStatusAndALastError()
    {
        EmulatedCuda.Require();
        CudaLibraries.Require(CudaLibraries.CudnnSpec);
        nint handle;
        Assert.Equal(0, Cudnn.cudnnCreate(&handle));
        var made = new List<nint>();
        try
        {
            // Q [1, 1, 16, 8] · Kᵀ [1, 1, 16, 8]: the inner dims do not chain (8 against 16)
            nint q = MakeTensor(1, DataBFloat16, [1, 1, 16, 8], [128, 128, 8, 1]);
            nint k = MakeTensor(2, DataBFloat16, [1, 1, 16, 8], [128, 128, 8, 1]);
            nint s = MakeTensor(101, DataFloat, [1, 1, 16, 16], [256, 256, 16, 1], isVirtual: true);
            made.AddRange([q, k, s]);
            nint bad = MatmulOp(q, k, s, made);
            Assert.Equal(2008, CudnnBackend.cudnnBackendFinalize(bad));   // CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH
            Assert.Contains("does not give C", LastError());

            // a well-formed matmul alone is not the fused attention pattern: the graph is refused when finalized
            nint kt = MakeTensor(3, DataBFloat16, [1, 1, 8, 16], [128, 128, 1, 8]);
            made.Add(kt);
            nint good = MatmulOp(q, kt, s, made);
            Assert.Equal(0, CudnnBackend.cudnnBackendFinalize(good));
            nint graph;
            Assert.Equal(0, CudnnBackend.cudnnBackendCreateDescriptor(OperationGraphDescriptor, &graph));
            made.Add(graph);
            Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(graph, OperationGraphHandle, TypeHandle, 1, &handle));
            Assert.Equal(0, CudnnBackend.cudnnBackendSetAttribute(graph, OperationGraphOps, TypeBackendDescriptor, 1, &good));
            Assert.Equal(3001, CudnnBackend.cudnnBackendFinalize(graph));   // CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN
            Assert.Contains("not the fused attention pattern", LastError());

            // an attribute of the wrong type is refused when set
            int notInt64 = 5;
            Assert.Equal(2010, CudnnBackend.cudnnBackendSetAttribute(graph, TensorUniqueId, TypeDataType, 1, &notInt64));
        }
        finally
        {
            for (int i = made.Count - 1; i >= 0; i--) CudnnBackend.cudnnBackendDestroyDescriptor(made[i]);
            Cudnn.cudnnDestroy(handle);
        }
    }

    [Fact]
    public void AGraphCudnnRefusesReachesTheCallerAsStatusAndLastError()
    {
        // the builder's own graph with a head dim the fused engine does not take (36, not a multiple of 8): the
        // operation graph is refused, and the line names the shape, cuDNN's status and its last error
        EmulatedCuda.Require();
        var gpu = CudaTestDevice.Get(DType.BF16);
        using var attention = new CudnnAttention(gpu.Stream.Handle);
        var key = new CudnnAttentionKey(DType.BF16, 1, 2, 10, 10, 36, 720, 72, 36, 720, 72, 36, 720, 72, 36, 720, 72, 36, 1f / 6, Stats: true);
        var why = attention.Prepare(key, out _, out bool isNew);
        Assert.True(isNew);
        Assert.NotNull(why);
        Assert.StartsWith("cuDNN attention not available for bf16 [B 1, H 2, Nq 10, Nk 10, d 36] with LSE: cudnnBackendFinalize(operation graph): CUDNN_STATUS_NOT_SUPPORTED_SHAPE", why);
        Assert.Contains("head dims must be multiples of 8", why);
        Assert.Equal(why, attention.Prepare(key, out _, out isNew));   // remembered, not built again
        Assert.False(isNew);
        Assert.Equal(new[] { why }, attention.Refusals);
    }

    [Fact]
    public void WhenCudnnBuildsNoPlanTheAutomaticChoiceRunsOurKernelAndSaysSoOnce()
    {
        EmulatedCuda.Require();
        var emu = KernelEmulator.Get();
        var gpu = CudaTestDevice.Get(DType.BF16);
        // a shape no other test builds a plan for (head dim 40), so the refusal is this test's own
        const int B = 1, N = 23, H = 2, D = 40;
        var data = CudaTestDevice.Quantize(Numerics.Random(3 * B * N * H * D, 701), DType.BF16);
        using var q = gpu.FromHost(data.AsSpan(0, B * N * H * D), B, N, H, D);
        using var k = gpu.FromHost(data.AsSpan(B * N * H * D, B * N * H * D), B, N, H, D);
        using var v = gpu.FromHost(data.AsSpan(2 * B * N * H * D, B * N * H * D), B, N, H, D);
        var was = gpu.AttentionBackend;
        emu.RefuseCudnnAttention(true);
        try
        {
            gpu.AttentionBackend = AttentionBackend.Auto;
            // the device is shared: other notes (a convolution by GEMM) may be there already, so look for this shape's
            string[] Mine() => gpu.FallbackNotes().Where(n => n.StartsWith("cuDNN attention not available for bf16 [B 1, H 2, Nq 23, Nk 23, d 40]", StringComparison.Ordinal)).ToArray();
            Assert.Empty(Mine());
            float[] auto;
            using (var lse = gpu.Empty(DType.F32, B, H, N))
            using (var o = gpu.Attention(q, k, v, null, lse))   // must not throw: cuDNN's refusal is not the caller's problem
            {
                Assert.Equal("native", gpu.LastAttentionBackend);
                auto = gpu.ToHost(o);
            }
            var note = Assert.Single(Mine());
            Assert.StartsWith("cuDNN attention not available for bf16 [B 1, H 2, Nq 23, Nk 23, d 40] with LSE: ", note);
            Assert.Contains("CUDNN_STATUS_NOT_SUPPORTED", note);
            Assert.Contains("refused on request", note);
            using (var lse = gpu.Empty(DType.F32, B, H, N))
            using (gpu.Attention(q, k, v, null, lse)) { }
            Assert.Single(Mine());   // the same shape again: no second note

            gpu.AttentionBackend = AttentionBackend.Native;
            using (var lse = gpu.Empty(DType.F32, B, H, N))
            using (var o = gpu.Attention(q, k, v, null, lse))
                Assert.Equal(auto, gpu.ToHost(o));   // the fallback is our kernel, bit for bit

            gpu.AttentionBackend = AttentionBackend.Cudnn;
            var e = Assert.Throws<NotSupportedException>(() => gpu.Attention(q, k, v, null, null));
            Assert.StartsWith("--attention-backend cudnn: cuDNN attention not available for bf16 [B 1, H 2, Nq 23, Nk 23, d 40]: ", e.Message);
        }
        finally
        {
            emu.RefuseCudnnAttention(false);
            gpu.AttentionBackend = was;
        }
    }

    /// <summary>In Auto the first run of each plan is checked against our kernel on the same inputs: a plan that runs
    /// but computes the wrong thing (the stand-in doubling its output on request) gives way to our kernel on that very
    /// call, with one note, and is not run again; a right plan runs from then on.</summary>
    [Fact]
    public void AutoChecksEachPlansFirstRunAgainstOurKernelAndDropsOneThatDisagrees()
    {
        EmulatedCuda.Require();
        var emu = KernelEmulator.Get();
        var gpu = CudaTestDevice.Get(DType.BF16);
        var was = gpu.AttentionBackend;
        (Tensor Q, Tensor K, Tensor V) Inputs(int n, int d, int seed)
        {
            var data = CudaTestDevice.Quantize(Numerics.Random(3 * n * 2 * d, seed), DType.BF16);
            int size = n * 2 * d;
            return (gpu.FromHost(data.AsSpan(0, size), 1, n, 2, d), gpu.FromHost(data.AsSpan(size, size), 1, n, 2, d),
                gpu.FromHost(data.AsSpan(2 * size, size), 1, n, 2, d));
        }
        float[] Run(AttentionBackend backend, Tensor q, Tensor k, Tensor v, string expect)
        {
            gpu.AttentionBackend = backend;
            using var o = gpu.Attention(q, k, v);
            Assert.Equal(expect, gpu.LastAttentionBackend);
            return gpu.ToHost(o);
        }
        // shapes no other test builds a plan for (head dims 48 and 56), so the plans are this test's own
        var (q, k, v) = Inputs(19, 48, 711);
        var (q2, k2, v2) = Inputs(17, 56, 712);
        string[] Notes(string shape) => gpu.FallbackNotes().Where(n => n.StartsWith("cuDNN attention for " + shape, StringComparison.Ordinal)).ToArray();
        try
        {
            var ours = Run(AttentionBackend.Native, q, k, v, "native");
            emu.SkewCudnnAttention(true);
            Assert.Equal(ours, Run(AttentionBackend.Auto, q, k, v, "native"));   // our kernel's result, bit for bit
            var note = Assert.Single(Notes("bf16 [B 1, H 2, Nq 19, Nk 19, d 48]"));
            Assert.Contains("differs from our kernel's on its first run", note);
            emu.SkewCudnnAttention(false);
            Run(AttentionBackend.Auto, q, k, v, "native");   // dropped for good, even once cuDNN would be right
            Assert.Single(Notes("bf16 [B 1, H 2, Nq 19, Nk 19, d 48]"));

            var ours2 = Run(AttentionBackend.Native, q2, k2, v2, "native");
            var first = Run(AttentionBackend.Auto, q2, k2, v2, "cudnn");
            Assert.True(Numerics.RelativeError(first, ours2) < 2e-2);
            emu.SkewCudnnAttention(true);
            // checked once: the second run is not compared, so the skew now shows (which is why the check is on the first)
            var second = Run(AttentionBackend.Auto, q2, k2, v2, "cudnn");
            Assert.True(Numerics.RelativeError(second, ours2) > 0.5);
            Assert.Empty(Notes("bf16 [B 1, H 2, Nq 17, Nk 17, d 56]"));
        }
        finally
        {
            emu.SkewCudnnAttention(false);
            gpu.AttentionBackend = was;
            foreach (var t in new[] { q, k, v, q2, k2, v2 }) t.Dispose();
        }
    }
}

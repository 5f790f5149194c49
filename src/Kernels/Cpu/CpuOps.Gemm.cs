using XDit.Runtime;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    public unsafe Tensor Linear(Tensor x, Tensor w, Tensor? bias = null, Activation act = Activation.None)
    {
        OpContracts.Linear(x, w, bias);
        RequireHost(x, nameof(x));
        int K = x.Dim(-1), N = w.Dim(0);
        var shape = x.Dims;
        shape[^1] = N;
        int M = Rows(x);
        var result = NewF32(shape);
        using var xd = Read(x);
        using var wd = Read(w);
        using var bd = bias is null ? default : Read(bias);
        fixed (float* pa = xd.Span, pb = wd.Span, pc = result.Span<float>(), pbias = bd.Span)
            GemmKernel.Multiply(M, N, K, pa, K, pb, K, transB: true, pc, N, 1f, bias is null ? null : pbias, act, _arena);
        return result;
    }

    public void LinearInto(Tensor y, Tensor x, Tensor w, Tensor? bias = null)
    {
        OpContracts.LinearInto(y, x, w, bias);
        RequireHost(y, nameof(y));
        using var r = Linear(x, w, bias);
        StridedCopy.Copy(y, r);
    }

    /// <summary>The unfused composition that CudaOps' kernel must equal: the projection, then
    /// <see cref="RmsNormRope"/> on each group of heads with its row of the norm weight (<see cref="HeadNormGroups"/>).</summary>
    public void LinearRmsNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.LinearRmsNormRopeInto(y, x, w, bias, weight, cos, sin);
        RequireHost(y, nameof(y));
        using var p = Linear(x, w, bias);
        StridedCopy.Copy(y, p.Reshape(y.Dims));
        HeadNormGroups.RmsNormRopeInPlace(this, y, weight, cos, sin, eps, interleaved);
    }

    /// <summary>The unfused composition that CudaOps' kernel must equal: the projection, then <see cref="LayerNormRope"/>
    /// (whose weight and bias rows serve the groups of heads).</summary>
    public void LinearLayerNormRopeInto(Tensor y, Tensor x, Tensor w, Tensor? bias, Tensor? weight, Tensor? normBias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.LinearLayerNormRopeInto(y, x, w, bias, weight, normBias, cos, sin);
        RequireHost(y, nameof(y));
        using var p = Linear(x, w, bias);
        StridedCopy.Copy(y, p.Reshape(y.Dims));
        LayerNormRope(y, y, weight, normBias, cos, sin, eps, interleaved);
    }

    /// <summary>The unfused composition that CudaOps' epilogue must equal: Linear, GatedResidual (Add without a
    /// gate), copy into x.</summary>
    public void LinearGatedResidualInto(Tensor x, Tensor y, Tensor w, Tensor? bias, Tensor? gate, Tensor? output = null)
    {
        OpContracts.LinearGatedResidualInto(x, y, w, bias, gate, output);
        RequireHost(x, nameof(x));
        if (output is not null) RequireHost(output, nameof(output));
        using var p = Linear(y, w, bias);
        using var r = gate is null ? Add(x, p) : GatedResidual(x, gate, p);
        StridedCopy.Copy(output ?? x, r);
    }

    /// <summary>Nothing to prepare: the CPU's gated GEMM reads the gate as it is.</summary>
    public IDisposable PrepareGatedEpilogues((Tensor Gate, Tensor? Bias)[] epilogues)
    {
        OpContracts.PrepareGatedEpilogues(epilogues);
        return NoGatedEpilogueScope.Instance;
    }

    sealed class NoGatedEpilogueScope : IDisposable
    {
        public static readonly NoGatedEpilogueScope Instance = new();
        public void Dispose() { }
    }

    public unsafe Tensor MatMul(Tensor a, Tensor b, bool transposeB = false, float alpha = 1f)
    {
        OpContracts.MatMul(a, b, transposeB);
        RequireHost(a, nameof(a));
        RequireHost(b, nameof(b));
        int M = a.Dim(-2), K = a.Dim(-1);
        int N = transposeB ? b.Dim(-2) : b.Dim(-1);
        bool shared = b.Rank == 2;
        int batches = checked((int)(a.NumElements / Math.Max(1L, (long)M * K)));
        if (M == 0 || K == 0) batches = (int)Shape.Product(a.ShapeSpan[..^2]);
        var shape = a.Dims;
        shape[^1] = N;
        var result = NewF32(shape);
        if (K == 0) { result.Span<float>().Clear(); return result; }
        using var ad = Read(a);
        using var bd = Read(b);
        fixed (float* pa = ad.Span, pb = bd.Span, pc = result.Span<float>())
        {
            if (shared)
                // A shared right operand: all batches form one tall GEMM.
                GemmKernel.Multiply(batches * M, N, K, pa, K, pb, transposeB ? K : N, transposeB, pc, N, alpha, null, Activation.None, _arena);
            else
                for (int i = 0; i < batches; i++)
                    GemmKernel.Multiply(M, N, K, pa + (long)i * M * K, K, pb + (long)i * K * N, transposeB ? K : N, transposeB,
                        pc + (long)i * M * N, N, alpha, null, Activation.None, _arena);
        }
        return result;
    }
}

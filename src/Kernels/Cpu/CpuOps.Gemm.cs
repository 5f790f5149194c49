using XDit.Runtime;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    public unsafe Tensor Linear(Tensor x, Tensor w, Tensor? bias = null, Activation act = Activation.None)
    {
        RequireHost(x, nameof(x));
        RequireRank(w, 2, "Linear", nameof(w));
        if (x.Rank == 0) throw new ArgumentException("Linear: x must have at least one axis", nameof(x));
        int K = x.Dim(-1), N = w.Dim(0);
        if (w.Dim(1) != K) throw Mismatch("Linear", "x's last axis must equal w's second", x, "x", w, "w");
        if (bias is not null) CheckVector(w, bias, N, "Linear", nameof(bias));
        var shape = x.Dims;
        shape[^1] = N;
        int M = Rows(x);
        var result = NewF32(shape);
        using var xd = Read(x);
        using var wd = Read(w);
        using var bd = bias is null ? default : Read(bias);
        fixed (float* pa = xd.Span, pb = wd.Span, pc = result.Span<float>(), pbias = bd.Span)
            GemmKernel.Multiply(M, N, K, pa, K, pb, K, transB: true, pc, N, 1f, bias is null ? null : pbias, act);
        return result;
    }

    public unsafe Tensor MatMul(Tensor a, Tensor b, bool transposeB = false, float alpha = 1f)
    {
        RequireHost(a, nameof(a));
        RequireHost(b, nameof(b));
        if (a.Rank < 2 || b.Rank < 2) throw Mismatch("MatMul", "both operands need at least two axes", a, "a", b, "b");
        int M = a.Dim(-2), K = a.Dim(-1);
        int bK = transposeB ? b.Dim(-1) : b.Dim(-2), N = transposeB ? b.Dim(-2) : b.Dim(-1);
        if (bK != K) throw Mismatch("MatMul", transposeB ? "a's last axis must equal b's last (transposeB)" : "a's last axis must equal b's second to last", a, "a", b, "b");
        bool shared = b.Rank == 2;
        if (!shared)
        {
            if (b.Rank != a.Rank) throw Mismatch("MatMul", "b must be 2-D or have a's leading axes", a, "a", b, "b");
            for (int i = 0; i < a.Rank - 2; i++)
                if (a.ShapeSpan[i] != b.ShapeSpan[i]) throw Mismatch("MatMul", "leading axes differ", a, "a", b, "b");
        }
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
                GemmKernel.Multiply(batches * M, N, K, pa, K, pb, transposeB ? K : N, transposeB, pc, N, alpha, null, Activation.None);
            else
                for (int i = 0; i < batches; i++)
                    GemmKernel.Multiply(M, N, K, pa + (long)i * M * K, K, pb + (long)i * K * N, transposeB ? K : N, transposeB,
                        pc + (long)i * M * N, N, alpha, null, Activation.None);
        }
        return result;
    }
}

using System.Numerics.Tensors;
using XDit.Runtime;
using Tensor = XDit.Runtime.Tensor;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <summary>Direct grouped convolution: each output plane starts at its bias and gains, for every tap of every
    /// input channel of its group, that tap's weight times the shifted input rows (a depth-wise 3×3 is nine
    /// multiply-adds of whole rows; im2col would copy the input nine times for a one-channel "GEMM").</summary>
    public unsafe Tensor GroupedConv2d(Tensor x, Tensor w, Tensor? bias, int groups, int padding)
    {
        OpContracts.GroupedConv2d(x, w, bias, groups, padding);
        int B = x.Dim(0), C = x.Dim(1), H = x.Dim(2), W = x.Dim(3);
        int O = w.Dim(0), Cg = w.Dim(1), kh = w.Dim(2), kw = w.Dim(3);
        int Ho = H + 2 * padding - kh + 1, Wo = W + 2 * padding - kw + 1, Og = O / groups;
        var result = NewF32(B, O, Ho, Wo);
        using var xd = Read(x);
        using var wd = Read(w);
        using var bd = bias is null ? default : Read(bias);
        fixed (float* px = xd.Span, pw = wd.Span, pb = bd.Span, po = result.Span<float>())
        {
            nint x0 = (nint)px, w0 = (nint)pw, b0 = (nint)pb, o0 = (nint)po;
            bool hasBias = bias is not null;
            void Plane(int bo)
            {
                int b = bo / O, o = bo % O, g = o / Og;
                float* dst = (float*)o0 + (long)bo * Ho * Wo;
                new Span<float>(dst, Ho * Wo).Fill(hasBias ? ((float*)b0)[o] : 0f);
                for (int ci = 0; ci < Cg; ci++)
                {
                    float* src = (float*)x0 + ((long)b * C + g * Cg + ci) * H * W;
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++)
                        {
                            float wv = ((float*)w0)[(((long)o * Cg + ci) * kh + ky) * kw + kx];
                            // output columns whose input column ox − padding + kx is inside the image
                            int lo = Math.Max(0, padding - kx), hi = Math.Min(Wo, W + padding - kx);
                            if (hi <= lo) continue;
                            for (int oy = 0; oy < Ho; oy++)
                            {
                                int iy = oy - padding + ky;
                                if (iy < 0 || iy >= H) continue;
                                var row = new Span<float>(dst + (long)oy * Wo + lo, hi - lo);
                                var input = new ReadOnlySpan<float>(src + (long)iy * W + lo - padding + kx, hi - lo);
                                TensorPrimitives.MultiplyAdd(input, wv, row, row);
                            }
                        }
                }
            }
            int planes = B * O;
            if ((long)planes * Cg * kh * kw * Ho * Wo < 1 << 16) for (int i = 0; i < planes; i++) Plane(i);
            else Parallel.For(0, planes, Plane);
        }
        return result;
    }
}

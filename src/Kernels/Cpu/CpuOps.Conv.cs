using XDit.Runtime;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    /// <summary>im2col per image, then one GEMM: out[O, P] = W[O, C·kh·kw] · col[C·kh·kw, P].</summary>
    public Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0, Tensor? residual = null)
    {
        OpContracts.Conv2d(x, w, bias, stride, padding, residual);
        if (residual is null) return Convolve(x, w, bias, stride, padding);
        using var y = Convolve(x, w, bias, stride, padding);
        return Add(y, residual);
    }

    unsafe Tensor Convolve(Tensor x, Tensor w, Tensor? bias, int stride, int padding)
    {
        int B = x.Dim(0), C = x.Dim(1), H = x.Dim(2), W = x.Dim(3);
        int O = w.Dim(0), kh = w.Dim(2), kw = w.Dim(3);
        int Ho = (H + 2 * padding - kh) / stride + 1, Wo = (W + 2 * padding - kw) / stride + 1;
        int P = Ho * Wo, CK = C * kh * kw;
        var result = NewF32(B, O, Ho, Wo);
        using var xd = Read(x);
        using var wd = Read(w);
        using var bd = bias is null ? default : Read(bias);
        bool direct = kh == 1 && kw == 1 && stride == 1 && padding == 0;
        // im2col buffer from the arena: it can be tens of MB (VAE decoder), and the same size recurs every call.
        var colStorage = direct ? null : (HostStorage)_arena.Allocate((long)CK * P * sizeof(float));
        try
        {
            fixed (float* px = xd.Span, pw = wd.Span, pb = bd.Span, po = result.Span<float>())
            fixed (byte* pcol = colStorage?.Bytes)
            {
                for (int b = 0; b < B; b++)
                {
                    float* img = px + (long)b * C * H * W;
                    float* src = img;
                    if (!direct)
                    {
                        Im2Col(img, C, H, W, kh, kw, stride, padding, Ho, Wo, (float*)pcol);
                        src = (float*)pcol;
                    }
                    float* o = po + (long)b * O * P;
                    GemmKernel.Multiply(O, P, CK, pw, CK, src, P, transB: false, o, P, 1f, null, Activation.None, _arena);
                    if (bias is not null)
                        for (int oc = 0; oc < O; oc++)
                        {
                            var plane = new Span<float>(o + (long)oc * P, P);
                            System.Numerics.Tensors.TensorPrimitives.Add(plane, pb[oc], plane);
                        }
                }
            }
        }
        finally
        {
            if (colStorage is not null) _arena.Release(colStorage);
        }
        return result;
    }

    static unsafe void Im2Col(float* img, int C, int H, int W, int kh, int kw, int stride, int pad, int Ho, int Wo, float* col)
    {
        int P = Ho * Wo;
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < kh; ky++)
                for (int kx = 0; kx < kw; kx++)
                {
                    float* dst = col + (long)((c * kh + ky) * kw + kx) * P;
                    for (int oy = 0; oy < Ho; oy++)
                    {
                        int iy = oy * stride - pad + ky;
                        float* drow = dst + oy * Wo;
                        if (iy < 0 || iy >= H) { new Span<float>(drow, Wo).Clear(); continue; }
                        float* srow = img + ((long)c * H + iy) * W;
                        for (int ox = 0; ox < Wo; ox++)
                        {
                            int ix = ox * stride - pad + kx;
                            drow[ox] = ix >= 0 && ix < W ? srow[ix] : 0f;
                        }
                    }
                }
    }
}

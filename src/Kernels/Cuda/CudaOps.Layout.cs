using XDit.Runtime;
using XDit.Runtime.Cuda;
using static XDit.Runtime.Cuda.Interop.BlasEnums;

namespace XDit.Kernels.Cuda;

// Convolution, resampling, patchify and embeddings. Layout ops are strided views plus one copy kernel.
public sealed unsafe partial class CudaOps
{
    /// <summary>The bias and the residual go in one pass after the convolution (add_channel_bias).</summary>
    public Tensor Conv2d(Tensor x, Tensor w, Tensor? bias, int stride = 1, int padding = 0, Tensor? residual = null)
    {
        OpContracts.Conv2d(x, w, bias, stride, padding, residual);
        Enter();
        int n = x.Dim(0), c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3), o = w.Dim(0), kh = w.Dim(2), kw = w.Dim(3);
        int oh = (h + 2 * padding - kh) / stride + 1, ow = (wd + 2 * padding - kw) / stride + 1;
        var dt = x.DType;
        using var xc = Dense(x);
        using var wc = Dense(w, dt);
        var y = Empty(dt, n, o, oh, ow);
        if (y.NumElements == 0) return y;
        long need = ConvolutionViaCudnn ? Cudnn.WorkspaceFor(dt, n, c, h, wd, o, kh, kw, stride, padding, WorkspaceBytes) : -1;
        if (need < 0) ConvolveByGemm(xc.T, wc.T, stride, padding, y);
        else
        {
            using var extra = need > WorkspaceBytes ? Temp.Own(Empty(DType.U8, checked((int)need))) : default;
            ulong ws = need > WorkspaceBytes ? Ptr(extra.T) : _workspace.Pointer;
            Cudnn.Forward(dt, n, c, h, wd, o, kh, kw, stride, padding, Ptr(xc.T), Ptr(wc.T), Ptr(y), ws, Math.Max(need, WorkspaceBytes));
            Launches.Count(LaunchCounter.CudnnConvolution);
        }
        if (bias is not null || residual is not null)
        {
            using var bc = DenseOpt(bias);
            using var rc = DenseOpt(residual);
            ulong py = Ptr(y), pb = PtrOrZero(bc.TOrNull, "bias"), pr = PtrOrZero(rc.TOrNull, "residual");
            int ydt = (int)dt, bdt = (int)(bias?.DType ?? dt), rdt = (int)(residual?.DType ?? dt);
            int rPlane = residual is not null && residual.Dim(2) * residual.Dim(3) != 1 || oh * ow == 1 ? 1 : 0;
            long B = n, C = o, S = (long)oh * ow;
            Launch(CudaKernels.AddChannelBias, B * C * S, [py, ydt, pb, bdt, B, C, S, pr, rdt, rPlane]);
        }
        return y;
    }

    /// <summary>Convolutions through cuDNN: true where libcudnn loads. False (or a shape cuDNN has no algorithm
    /// for) runs them as im2col + GEMM instead: the same numbers within the dtype's rounding, more memory traffic.</summary>
    public bool ConvolutionViaCudnn { get; set; } = CudaLibraries.Load(CudaLibraries.CudnnSpec).Found;

    /// <summary>Most bytes of im2col columns the GEMM path materialises at once (it walks the output pixels in chunks).</summary>
    public long ConvolutionGemmChunkBytes { get; set; } = 256L << 20;

    /// <summary>Counts the convolutions computed by im2col + GEMM since this CudaOps was made.</summary>
    public int GemmConvolutions { get; private set; }

    /// <summary>y [N, O, oh, ow] = conv(x [N, C, H, W], w [O, C, kh, kw]), all contiguous: per image and chunk of
    /// output pixels, im2col gives the columns [pixels, C·kh·kw], and one GEMM writes w·columnsᵀ straight into y's
    /// [O, pixels] slice (column-major, it is columns·wᵀ [pixels × O] with leading dimension oh·ow).</summary>
    void ConvolveByGemm(Tensor x, Tensor w, int stride, int padding, Tensor y)
    {
        GemmConvolutions++;
        int n = x.Dim(0), c = x.Dim(1), h = x.Dim(2), wd = x.Dim(3), o = w.Dim(0), kh = w.Dim(2), kw = w.Dim(3), ow = y.Dim(3);
        long taps = (long)c * kh * kw, pixels = (long)y.Dim(2) * ow;
        if (taps > int.MaxValue) throw new NotSupportedException($"Conv2d by GEMM: {taps} taps per output pixel");
        var dt = x.DType;
        int size = dt.SizeOf();
        long chunk = Math.Clamp(ConvolutionGemmChunkBytes / (taps * size), 1, Math.Min(pixels, int.MaxValue));
        using var cols = Empty(dt, (int)chunk, (int)taps);
        ulong pc = Ptr(cols), px0 = Ptr(x), pw = Ptr(w), py0 = Ptr(y);
        int idt = (int)dt, ikh = kh, ikw = kw, istride = stride, ipad = padding;
        long C = c, H = h, W = wd, OW = ow;
        for (int img = 0; img < n; img++)
        {
            ulong px = px0 + (ulong)((long)img * c * h * wd * size);
            for (long s0 = 0; s0 < pixels; s0 += chunk)
            {
                long count = Math.Min(chunk, pixels - s0);
                Launch(CudaKernels.Im2Col, count * taps, [pc, px, idt, C, H, W, ikh, ikw, istride, ipad, OW, s0, count]);
                Gemm(dt, transA: true, m: count, n: o, k: taps, a: pc, lda: taps, strideA: 0, b: pw, ldb: taps, strideB: 0,
                    d: py0 + (ulong)(((long)img * o * pixels + s0) * size), ldd: pixels, strideD: 0, batch: 1,
                    alpha: 1f, epilogue: EpilogueDefault, bias: 0);
            }
        }
    }

    public Tensor Upsample2x(Tensor x)
    {
        OpContracts.Upsample2x(x);
        Enter();
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        var y = Empty(x.DType, b, c, 2 * h, 2 * w);
        // y viewed as [B, C, H, 2, W, 2]; x repeated along the two 2s by zero strides
        var yv = new Tensor(y.Storage, y.DType, [b, c, h, 2, w, 2]);
        var s = x.Strides;
        var xv = new Tensor(x.Storage, x.DType, [b, c, h, 2, w, 2], [s[0], s[1], s[2], 0, s[3], 0], x.Offset);
        Copy(yv, xv);
        return y;
    }

    public Tensor UpsampleNearest(Tensor x, int height, int width)
    {
        OpContracts.UpsampleNearest(x, height, width);
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        // the exact doubling is Upsample2x's broadcast copy (the same pixels)
        if (height == 2 * h && width == 2 * w) return Upsample2x(x);
        Enter();
        var y = Empty(x.DType, b, c, height, width);
        long count = y.NumElements;
        if (count == 0) return y;
        var s = x.Strides;
        // the ratios in float32, as PyTorch computes them on the host (CpuOps.NearestSources is the twin)
        float sh = (float)h / height, sw = (float)w / width;
        Launch(CudaKernels.UpsampleNearest, count, [Ptr(y), Ptr(x), (int)x.DType, (long)s[0], (long)s[1], (long)s[2], (long)s[3],
            (long)c, (long)h, (long)w, (long)height, (long)width, sh, sw, count]);
        return y;
    }

    public Tensor Patchify(Tensor x, int p, bool channelsFirst = true)
    {
        OpContracts.Patchify(x, p);
        Enter();
        int b = x.Dim(0), c = x.Dim(1), h = x.Dim(2), w = x.Dim(3);
        int gh = h / p, gw = w / p;
        var s = x.Strides;
        // x as [B, C, gh, a, gw, b'] then tokens (gh, gw) and features (c, a, b') or (a, b', c)
        var xv = new Tensor(x.Storage, x.DType, [b, c, gh, p, gw, p], [s[0], s[1], s[2] * p, s[2], s[3] * p, s[3]], x.Offset);
        var src = channelsFirst ? xv.Permute(0, 2, 4, 1, 3, 5) : xv.Permute(0, 2, 4, 3, 5, 1);
        var y = Empty(x.DType, b, gh * gw, c * p * p);
        var yv = new Tensor(y.Storage, y.DType, src.Dims);
        Copy(yv, src);
        return y;
    }

    public Tensor Unpatchify(Tensor x, int p, int channels, int gridH, int gridW, bool channelsFirst = false)
    {
        OpContracts.Unpatchify(x, p, channels, gridH, gridW);
        Enter();
        int b = x.Dim(0);
        using var xc = Dense(x);
        var xv = channelsFirst
            ? new Tensor(xc.T.Storage, x.DType, [b, gridH, gridW, channels, p, p], null, xc.T.Offset).Permute(0, 3, 1, 4, 2, 5)
            : new Tensor(xc.T.Storage, x.DType, [b, gridH, gridW, p, p, channels], null, xc.T.Offset).Permute(0, 5, 1, 3, 2, 4);
        var y = Empty(x.DType, b, channels, gridH * p, gridW * p);
        var yv = new Tensor(y.Storage, y.DType, [b, channels, gridH, p, gridW, p]);
        Copy(yv, xv);
        return y;
    }

    public Tensor TimestepEmbedding(ReadOnlySpan<float> t, int dim, bool flipSinToCos = true, float downscaleFreqShift = 0f, float scale = 1f, float maxPeriod = 10000f)
    {
        // Tiny: computed on the host (as CpuOps does) and uploaded as F32.
        var e = TimestepEmbeddingTable.Compute(t, dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod);
        var y = Empty(DType.F32, t.Length, dim);
        UploadBytes(y, System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.AsSpan()));
        return y;
    }

    public Tensor Embedding(Tensor table, ReadOnlySpan<long> ids)
    {
        OpContracts.Embedding(table, ids);
        Enter();
        long dim = table.Dim(1);
        using var tc = Dense(table);
        var y = Empty(ActivationType, ids.Length, (int)dim);
        if (y.NumElements == 0) return y;
        using var idT = Empty(DType.I64, ids.Length);
        UploadBytes(idT, System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids));
        ulong py = Ptr(y), pt = Ptr(tc.T), pi = Ptr(idT);
        int odt = (int)ActivationType, tdt = (int)table.DType;
        long rows = ids.Length;
        Launch(CudaKernels.EmbeddingGather, rows * dim, [py, odt, pt, tdt, pi, rows, dim]);
        return y;
    }
}

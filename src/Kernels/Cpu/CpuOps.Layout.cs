using XDit.Runtime;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    public Tensor Contiguous(Tensor x)
    {
        RequireHost(x, nameof(x));
        var t = Empty(x.DType, x.Dims);
        StridedCopy.Copy(t, x);
        return t;
    }

    public void Copy(Tensor dst, Tensor src)
    {
        OpContracts.Copy(dst, src);
        RequireHost(dst, nameof(dst));
        RequireHost(src, nameof(src));
        StridedCopy.Copy(dst, src);
    }

    public Tensor Cast(Tensor x, DType dtype)
    {
        RequireHost(x, nameof(x));
        var t = Empty(dtype, x.Dims);
        StridedCopy.Copy(t, x);
        return t;
    }

    public Tensor Concat(int axis, params Tensor[] xs)
    {
        OpContracts.Concat(axis, xs);
        var first = xs[0];
        int a = first.NormAxis(axis);
        var shape = first.Dims;
        int total = 0;
        for (int i = 0; i < xs.Length; i++)
        {
            RequireHost(xs[i], $"xs[{i}]");
            total += xs[i].ShapeSpan[a];
        }
        shape[a] = total;
        var result = Empty(first.DType, shape);
        int offset = 0;
        foreach (var x in xs)
        {
            int n = x.ShapeSpan[a];
            using var view = result.Slice(a, offset, n);
            StridedCopy.Copy(view, x);
            offset += n;
        }
        return result;
    }

    public Tensor Patchify(Tensor x, int p, bool channelsFirst = true)
    {
        OpContracts.Patchify(x, p);
        int B = x.Dim(0), C = x.Dim(1), H = x.Dim(2), W = x.Dim(3);
        int gh = H / p, gw = W / p, F = C * p * p;
        using var xd = Read(x);
        var src = xd.Span;
        var result = NewF32(B, gh * gw, F);
        var dst = result.Span<float>();
        for (int b = 0; b < B; b++)
            for (int gy = 0; gy < gh; gy++)
                for (int gx = 0; gx < gw; gx++)
                {
                    int tokenBase = ((b * gh + gy) * gw + gx) * F;
                    for (int c = 0; c < C; c++)
                        for (int ay = 0; ay < p; ay++)
                        {
                            int srcRow = ((b * C + c) * H + gy * p + ay) * W + gx * p;
                            for (int ax = 0; ax < p; ax++)
                            {
                                int f = channelsFirst ? (c * p + ay) * p + ax : (ay * p + ax) * C + c;
                                dst[tokenBase + f] = src[srcRow + ax];
                            }
                        }
                }
        return result;
    }

    public Tensor Unpatchify(Tensor x, int p, int channels, int gridH, int gridW, bool channelsFirst = false)
    {
        OpContracts.Unpatchify(x, p, channels, gridH, gridW);
        int B = x.Dim(0), F = channels * p * p;
        int H = gridH * p, W = gridW * p, C = channels;
        using var xd = Read(x);
        var src = xd.Span;
        var result = NewF32(B, C, H, W);
        var dst = result.Span<float>();
        for (int b = 0; b < B; b++)
            for (int gy = 0; gy < gridH; gy++)
                for (int gx = 0; gx < gridW; gx++)
                {
                    int tokenBase = ((b * gridH + gy) * gridW + gx) * F;
                    for (int c = 0; c < C; c++)
                        for (int ay = 0; ay < p; ay++)
                        {
                            int dstRow = ((b * C + c) * H + gy * p + ay) * W + gx * p;
                            for (int ax = 0; ax < p; ax++)
                            {
                                int f = channelsFirst ? (c * p + ay) * p + ax : (ay * p + ax) * C + c;
                                dst[dstRow + ax] = src[tokenBase + f];
                            }
                        }
                }
        return result;
    }

    public Tensor Upsample2x(Tensor x)
    {
        OpContracts.Upsample2x(x);
        int B = x.Dim(0), C = x.Dim(1), H = x.Dim(2), W = x.Dim(3);
        using var xd = Read(x);
        var src = xd.Span;
        var result = NewF32(B, C, 2 * H, 2 * W);
        var dst = result.Span<float>();
        int W2 = 2 * W;
        for (int plane = 0; plane < B * C; plane++)
            for (int i = 0; i < H; i++)
            {
                var srow = src.Slice((plane * H + i) * W, W);
                var d0 = dst.Slice((plane * 2 * H + 2 * i) * W2, W2);
                for (int j = 0; j < W; j++) { float v = srow[j]; d0[2 * j] = v; d0[2 * j + 1] = v; }
                d0.CopyTo(dst.Slice((plane * 2 * H + 2 * i + 1) * W2, W2));
            }
        return result;
    }

    public Tensor UpsampleNearest(Tensor x, int height, int width)
    {
        OpContracts.UpsampleNearest(x, height, width);
        int B = x.Dim(0), C = x.Dim(1), H = x.Dim(2), W = x.Dim(3);
        var rows = NearestSources(H, height);
        var cols = NearestSources(W, width);
        using var xd = Read(x);
        var src = xd.Span;
        var result = NewF32(B, C, height, width);
        var dst = result.Span<float>();
        for (int plane = 0; plane < B * C; plane++)
            for (int i = 0; i < height; i++)
            {
                var srow = src.Slice((plane * H + rows[i]) * W, W);
                var drow = dst.Slice((plane * height + i) * width, width);
                for (int j = 0; j < width; j++) drow[j] = srow[cols[j]];
            }
        return result;
    }

    /// <summary>PyTorch's nearest source index of each of <paramref name="output"/> positions:
    /// min(⌊i·(input/output)⌋, input − 1), the ratio and the product in float32 as its kernels compute them.</summary>
    internal static int[] NearestSources(int input, int output)
    {
        float scale = (float)input / output;
        var map = new int[output];
        for (int i = 0; i < output; i++) map[i] = Math.Min((int)MathF.Floor((float)i * scale), input - 1);
        return map;
    }

    public Tensor Embedding(Tensor table, ReadOnlySpan<long> ids)
    {
        OpContracts.Embedding(table, ids);
        int D = table.Dim(1);
        var result = NewF32(ids.Length, D);
        for (int i = 0; i < ids.Length; i++)
        {
            using var src = table.Slice(0, (int)ids[i], 1);
            using var dst = result.Slice(0, i, 1);
            StridedCopy.Copy(dst, src);
        }
        return result;
    }

    public Tensor TimestepEmbedding(ReadOnlySpan<float> t, int dim, bool flipSinToCos = true, float downscaleFreqShift = 0f, float scale = 1f, float maxPeriod = 10000f)
    {
        var table = TimestepEmbeddingTable.Compute(t, dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod);
        var result = NewF32(t.Length, dim);
        table.CopyTo(result.Span<float>());
        return result;
    }
}

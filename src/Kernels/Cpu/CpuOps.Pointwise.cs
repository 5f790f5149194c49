using System.Numerics.Tensors;
using XDit.Runtime;
using Tensor = XDit.Runtime.Tensor;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    public Tensor Activate(Tensor x, Activation act)
    {
        var result = Contiguous32(x);
        ActivationMath.Apply(result.Span<float>(), act);
        return result;
    }

    public Tensor Scale(Tensor x, float scale, float shift = 0f)
    {
        var result = Contiguous32(x);
        var s = result.Span<float>();
        TensorPrimitives.Multiply(s, scale, s);
        if (shift != 0f) TensorPrimitives.Add(s, shift, s);
        return result;
    }

    public Tensor Add(Tensor a, Tensor b)
    {
        OpContracts.Broadcast("Add", a, b);
        return Broadcast(a, b, mul: false);
    }

    public Tensor Mul(Tensor a, Tensor b)
    {
        OpContracts.Broadcast("Mul", a, b);
        return Broadcast(a, b, mul: true);
    }

    /// <summary>Fresh contiguous F32 copy of x.</summary>
    Tensor Contiguous32(Tensor x)
    {
        RequireHost(x, nameof(x));
        var t = NewF32(x.Dims);
        StridedCopy.Copy(t, x);
        return t;
    }

    /// <summary>a ∘ b with b broadcast to a's shape: b is viewed with stride 0 on its size-1 and missing axes,
    /// then combined one innermost row at a time. The shapes passed <see cref="OpContracts.Broadcast"/>.</summary>
    Tensor Broadcast(Tensor a, Tensor b, bool mul)
    {
        RequireHost(a, nameof(a));
        RequireHost(b, nameof(b));
        int rank = a.Rank, lead = rank - b.Rank;
        var strides = new long[rank];
        for (int i = 0; i < b.Rank; i++)
        {
            int bd = b.ShapeSpan[i], ad = a.ShapeSpan[lead + i];
            strides[lead + i] = bd == ad && bd != 1 ? b.Strides[i] : 0;
        }
        var result = Contiguous32(a);
        if (result.NumElements == 0) return result;
        using var bd32 = b.DType == DType.F32 ? null : Contiguous32(b);
        var bSrc = bd32 ?? b;
        if (bd32 is not null)
        {
            // Contiguous copy: recompute strides on its dense layout.
            var dense = Tensor.ContiguousStrides(bd32.ShapeSpan);
            for (int i = 0; i < b.Rank; i++) strides[lead + i] = b.ShapeSpan[i] == 1 ? 0 : dense[i];
        }
        var bAll = AsFloats(((HostStorage)bSrc.Storage).Bytes);
        var outSpan = result.Span<float>();
        int inner = rank == 0 ? 1 : a.ShapeSpan[rank - 1];
        long innerStride = rank == 0 ? 0 : strides[rank - 1];
        long rows = result.NumElements / inner;
        var idx = new int[Math.Max(0, rank - 1)];
        for (long r = 0; r < rows; r++)
        {
            long off = bSrc.Offset;
            for (int i = 0; i < idx.Length; i++) off += idx[i] * strides[i];
            var row = outSpan.Slice((int)(r * inner), inner);
            if (innerStride == 0)
            {
                float v = bAll[(int)off];
                if (mul) TensorPrimitives.Multiply(row, v, row); else TensorPrimitives.Add(row, v, row);
            }
            else if (innerStride == 1)
            {
                var brow = bAll.Slice((int)off, inner);
                if (mul) TensorPrimitives.Multiply(row, brow, row); else TensorPrimitives.Add(row, brow, row);
            }
            else
            {
                for (int j = 0; j < inner; j++)
                {
                    float v = bAll[(int)(off + j * innerStride)];
                    row[j] = mul ? row[j] * v : row[j] + v;
                }
            }
            for (int i = idx.Length - 1; i >= 0; i--) { if (++idx[i] < a.ShapeSpan[i]) break; idx[i] = 0; }
        }
        return result;
    }

    public Tensor Modulate(Tensor x, Tensor shift, Tensor scale)
    {
        OpContracts.Modulate(x, shift, scale);
        int B = x.Dim(0), N = x.Dim(1), D = x.Dim(2);
        int shStride = OpContracts.BatchStride(x, shift), scStride = OpContracts.BatchStride(x, scale);
        var result = Contiguous32(x);
        using var sh = Read(shift);
        using var sc = Read(scale);
        using var onePlus = NewF32(D);
        var factor = onePlus.Span<float>();
        var o = result.Span<float>();
        for (int b = 0; b < B; b++)
        {
            var shRow = sh.Span.Slice(b * shStride, D);
            TensorPrimitives.Add(sc.Span.Slice(b * scStride, D), 1f, factor);
            for (int n = 0; n < N; n++)
            {
                var row = o.Slice((b * N + n) * D, D);
                TensorPrimitives.FusedMultiplyAdd(row, factor, shRow, row);
            }
        }
        return result;
    }

    /// <summary>The unfused composition that CudaOps' kernel must equal: RmsNorm, then GatedResidual (Add without a
    /// gate).</summary>
    public Tensor RmsNormGatedResidual(Tensor x, Tensor? gate, Tensor y, Tensor? weight, float eps)
    {
        OpContracts.RmsNormGatedResidual(x, gate, y, weight);
        using var n = RmsNorm(y, weight, eps);
        return gate is null ? Add(x, n) : GatedResidual(x, gate, n);
    }

    public Tensor GatedResidual(Tensor x, Tensor gate, Tensor y, Tensor? y2 = null)
    {
        OpContracts.GatedResidual(x, gate, y, y2);
        if (y2 is not null)
        {
            using var sum = Add(y, y2);
            return GatedResidual(x, gate, sum);
        }
        int B = x.Dim(0), N = x.Dim(1), D = x.Dim(2);
        int gStride = OpContracts.BatchStride(x, gate);
        var result = Contiguous32(x);
        using var g = Read(gate);
        using var yd = Read(y);
        var o = result.Span<float>();
        for (int b = 0; b < B; b++)
        {
            var gRow = g.Span.Slice(b * gStride, D);
            for (int n = 0; n < N; n++)
            {
                int at = (b * N + n) * D;
                TensorPrimitives.FusedMultiplyAdd(yd.Span.Slice(at, D), gRow, o.Slice(at, D), o.Slice(at, D));
            }
        }
        return result;
    }

    public Tensor Geglu(Tensor x)
    {
        OpContracts.Geglu(x);
        return GatedProduct(x, Activation.Gelu, gateFirst: false);
    }

    public Tensor Swiglu(Tensor x)
    {
        OpContracts.Swiglu(x);
        return GatedProduct(x, Activation.Silu, gateFirst: true);
    }

    /// <summary>value·act(gate) per row of x [..., 2F], the gate the first or the second half.</summary>
    Tensor GatedProduct(Tensor x, Activation act, bool gateFirst)
    {
        int twoF = x.Dim(-1), f = twoF / 2;
        var dims = x.Dims.ToArray();
        dims[^1] = f;
        var result = NewF32(dims);
        using var xd = Read(x);
        var o = result.Span<float>();
        long rows = f == 0 ? 0 : o.Length / f;
        for (long r = 0; r < rows; r++)
        {
            var row = o.Slice((int)(r * f), f);
            var both = xd.Span.Slice((int)(r * twoF), twoF);
            (gateFirst ? both[..f] : both[f..]).CopyTo(row);
            ActivationMath.Apply(row, act);
            TensorPrimitives.Multiply(row, gateFirst ? both[f..] : both[..f], row);
        }
        return result;
    }

    public Tensor Rope(Tensor x, Tensor cos, Tensor sin, bool interleaved)
    {
        OpContracts.Rope(x, cos, sin);
        int B = x.Dim(0), N = x.Dim(1), H = x.Dim(2), d = x.Dim(3);
        var result = Contiguous32(x);
        using var cd = Read(cos);
        using var sd = Read(sin);
        var o = result.Span<float>();
        int half = d / 2;
        for (int b = 0; b < B; b++)
            for (int n = 0; n < N; n++)
            {
                var c = cd.Span.Slice(n * d, d);
                var s = sd.Span.Slice(n * d, d);
                for (int h = 0; h < H; h++)
                {
                    var row = o.Slice(((b * N + n) * H + h) * d, d);
                    if (interleaved)
                        for (int i = 0; i < d; i += 2)
                        {
                            float x0 = row[i], x1 = row[i + 1];
                            row[i] = x0 * c[i] - x1 * s[i];
                            row[i + 1] = x1 * c[i + 1] + x0 * s[i + 1];
                        }
                    else
                        for (int i = 0; i < half; i++)
                        {
                            float x0 = row[i], x1 = row[i + half];
                            row[i] = x0 * c[i] - x1 * s[i];
                            row[i + half] = x1 * c[i + half] + x0 * s[i + half];
                        }
                }
            }
        return result;
    }

    public void RmsNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.RmsNormRope(y, x, weight, cos, sin);
        RequireHost(y, nameof(y));
        using var n = RmsNorm(x, weight, eps);
        using var r = cos is null || sin is null ? null : Rope(n, cos, sin, interleaved);
        StridedCopy.Copy(y, r ?? n);
    }

    public void RmsNormAcrossHeadsRope(Tensor y, Tensor x, Tensor? weight, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.RmsNormAcrossHeadsRope(y, x, weight, cos, sin);
        RequireHost(y, nameof(y));
        int b = x.Dim(0), n = x.Dim(1), h = x.Dim(2), d = x.Dim(3);
        // dense heads: each token's row of H·d is one view row
        var rows = new Tensor(x.Storage, x.DType, [b, n, h * d], [x.Strides[0], x.Strides[1], 1], x.Offset);
        using var normed = RmsNorm(rows, weight, eps);
        var heads = normed.Reshape(b, n, h, d);
        using var r = cos is null || sin is null ? null : Rope(heads, cos, sin, interleaved);
        StridedCopy.Copy(y, r ?? heads);
    }

    public void LayerNormRope(Tensor y, Tensor x, Tensor? weight, Tensor? bias, Tensor? cos, Tensor? sin, float eps, bool interleaved)
    {
        OpContracts.LayerNormRope(y, x, weight, bias, cos, sin);
        RequireHost(y, nameof(y));
        if ((weight ?? bias) is { Rank: 2 } rows)
        {
            // a row of weight and bias for each group of heads: each group on its own
            int g = rows.Dim(0), per = x.Dim(2) / g;
            for (int i = 0; i < g; i++)
                LayerNormRope(y.Slice(2, i * per, per), x.Slice(2, i * per, per), weight?.Select(0, i), bias?.Select(0, i), cos, sin, eps, interleaved);
            return;
        }
        using var n = LayerNorm(x, weight, bias, eps);
        using var r = cos is null || sin is null ? null : Rope(n, cos, sin, interleaved);
        StridedCopy.Copy(y, r ?? n);
    }
}

using System.Numerics.Tensors;
using XDit.Runtime;
using Tensor = XDit.Runtime.Tensor;

namespace XDit.Kernels.Cpu;

public sealed partial class CpuOps
{
    public Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        OpContracts.LayerNorm(x, weight, bias);
        int D = x.Dim(-1);
        var result = Contiguous32(x);
        using var w = weight is null ? default : Read(weight);
        using var b = bias is null ? default : Read(bias);
        var o = result.Span<float>();
        int rows = Rows(x);
        for (int r = 0; r < rows; r++)
        {
            var row = o.Slice(r * D, D);
            float mean = TensorPrimitives.Sum<float>(row) / D;
            TensorPrimitives.Subtract(row, mean, row);
            float variance = TensorPrimitives.SumOfSquares<float>(row) / D;
            TensorPrimitives.Multiply(row, 1f / MathF.Sqrt(variance + eps), row);
            if (weight is not null) TensorPrimitives.Multiply(row, w.Span, row);
            if (bias is not null) TensorPrimitives.Add(row, b.Span, row);
        }
        return result;
    }

    public Tensor RmsNorm(Tensor x, Tensor? weight, float eps)
    {
        OpContracts.RmsNorm(x, weight);
        int D = x.Dim(-1);
        var result = Contiguous32(x);
        using var w = weight is null ? default : Read(weight);
        var o = result.Span<float>();
        int rows = Rows(x);
        for (int r = 0; r < rows; r++)
        {
            var row = o.Slice(r * D, D);
            float meanSq = TensorPrimitives.SumOfSquares<float>(row) / D;
            TensorPrimitives.Multiply(row, 1f / MathF.Sqrt(meanSq + eps), row);
            if (weight is not null) TensorPrimitives.Multiply(row, w.Span, row);
        }
        return result;
    }

    public Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps, Activation act = Activation.None)
    {
        OpContracts.GroupNorm(x, groups, weight, bias);
        int B = x.Dim(0), C = x.Dim(1);
        int spatial = checked((int)(x.NumElements / Math.Max(1, (long)B * C)));
        int perGroup = C / groups, groupLen = perGroup * spatial;
        var result = Contiguous32(x);
        using var w = weight is null ? default : Read(weight);
        using var bb = bias is null ? default : Read(bias);
        var o = result.Span<float>();
        for (int b = 0; b < B; b++)
            for (int g = 0; g < groups; g++)
            {
                var grp = o.Slice((b * C + g * perGroup) * spatial, groupLen);
                float mean = (float)(SumDouble(grp) / groupLen);
                TensorPrimitives.Subtract(grp, mean, grp);
                float variance = (float)(SumSquaresDouble(grp) / groupLen);
                float inv = 1f / MathF.Sqrt(variance + eps);
                for (int c = 0; c < perGroup; c++)
                {
                    int ch = g * perGroup + c;
                    var plane = grp.Slice(c * spatial, spatial);
                    float scale = inv * (weight is null ? 1f : w.Span[ch]);
                    float shift = bias is null ? 0f : bb.Span[ch];
                    TensorPrimitives.Multiply(plane, scale, plane);
                    if (shift != 0f) TensorPrimitives.Add(plane, shift, plane);
                }
            }
        ActivationMath.Apply(o, act);
        return result;
    }

    public Tensor ChannelRmsNorm(Tensor x, Tensor? weight, float eps, Activation act = Activation.None)
    {
        OpContracts.ChannelRmsNorm(x, weight);
        int B = x.Dim(0), C = x.Dim(1);
        int spatial = checked((int)(x.NumElements / Math.Max(1, (long)B * C)));
        var result = Contiguous32(x);
        using var w = weight is null ? default : Read(weight);
        var o = result.Span<float>();
        var scale = new float[spatial];
        for (int b = 0; b < B; b++)
        {
            var image = o.Slice(b * C * spatial, C * spatial);
            // the sum of squares over the channels, a plane at a time, then 1/rms per position
            Array.Clear(scale);
            for (int c = 0; c < C; c++)
            {
                var plane = image.Slice(c * spatial, spatial);
                TensorPrimitives.MultiplyAdd(plane, plane, scale, scale);
            }
            for (int s = 0; s < spatial; s++) scale[s] = 1f / MathF.Sqrt(scale[s] / C + eps);
            for (int c = 0; c < C; c++)
            {
                var plane = image.Slice(c * spatial, spatial);
                TensorPrimitives.Multiply(plane, scale, plane);
                if (weight is not null) TensorPrimitives.Multiply(plane, w.Span[c], plane);
            }
        }
        ActivationMath.Apply(o, act);
        return result;
    }

    public Tensor Softmax(Tensor x)
    {
        OpContracts.Softmax(x);
        var result = Contiguous32(x);
        int D = x.Dim(-1);
        var o = result.Span<float>();
        int rows = Rows(x);
        for (int r = 0; r < rows; r++) SoftmaxRow(o.Slice(r * D, D));
        return result;
    }

    public Tensor LayerNormModulate(Tensor x, Tensor shift, Tensor scale, float eps, Tensor? x2 = null)
    {
        OpContracts.LayerNormModulate(x, shift, scale, x2);
        using var cat = x2 is null ? null : Concat(2, x, x2);
        using var n = LayerNorm(cat ?? x, null, null, eps);
        return Modulate(n, shift, scale);
    }

    public Tensor RmsNormModulate(Tensor x, Tensor? weight, Tensor? shift, Tensor scale, float eps)
    {
        OpContracts.RmsNormModulate(x, weight, shift, scale);
        int B = x.Dim(0), N = x.Dim(1), D = x.Dim(2);
        int shStride = shift is null ? 0 : OpContracts.BatchStride(x, shift), scStride = OpContracts.BatchStride(x, scale);
        var result = Contiguous32(x);
        using var w = weight is null ? default : Read(weight);
        using var sh = shift is null ? default : Read(shift);
        using var sc = Read(scale);
        using var onePlus = NewF32(D);
        var factor = onePlus.Span<float>();
        var o = result.Span<float>();
        for (int b = 0; b < B; b++)
        {
            // weight·(1 + scale): one factor per column of the batch's rows
            TensorPrimitives.Add(sc.Span.Slice(b * scStride, D), 1f, factor);
            if (weight is not null) TensorPrimitives.Multiply(factor, w.Span, factor);
            for (int n = 0; n < N; n++)
            {
                var row = o.Slice((b * N + n) * D, D);
                float meanSq = TensorPrimitives.SumOfSquares<float>(row) / D;
                TensorPrimitives.Multiply(row, 1f / MathF.Sqrt(meanSq + eps), row);
                if (shift is null) TensorPrimitives.Multiply(row, factor, row);
                else TensorPrimitives.FusedMultiplyAdd(row, factor, sh.Span.Slice(b * shStride, D), row);
            }
        }
        return result;
    }

    public (Tensor Residual, Tensor Normed) ResidualLayerNormModulate(Tensor x, Tensor? gate, Tensor y, Tensor shift, Tensor scale, float eps)
    {
        OpContracts.ResidualLayerNormModulate(x, gate, y, shift, scale);
        var r = gate is null ? Add(x, y) : GatedResidual(x, gate, y);
        try { return (r, LayerNormModulate(r, shift, scale, eps)); }
        catch { r.Dispose(); throw; }
    }

    /// <summary>In-place softmax of one row; a row with no finite entry becomes zeros.
    /// Returns the natural log-sum-exp of the row (−∞ for such a row).</summary>
    internal static float SoftmaxRow(Span<float> row)
    {
        if (row.Length == 0) return float.NegativeInfinity;
        float max = TensorPrimitives.Max<float>(row);
        if (float.IsNegativeInfinity(max)) { row.Clear(); return float.NegativeInfinity; }
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        float sum = TensorPrimitives.Sum<float>(row);
        TensorPrimitives.Multiply(row, 1f / sum, row);
        return max + MathF.Log(sum);
    }

    // Group statistics run over many thousands of values; accumulate in double so they do not drift.
    static double SumDouble(ReadOnlySpan<float> s) { double acc = 0; foreach (var v in s) acc += v; return acc; }
    static double SumSquaresDouble(ReadOnlySpan<float> s) { double acc = 0; foreach (var v in s) acc += (double)v * v; return acc; }
}

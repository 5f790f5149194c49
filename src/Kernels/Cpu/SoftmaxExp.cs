using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace XDit.Kernels.Cpu;

/// <summary>
/// The exponential pass of a softmax row, fused: x ← exp(x − max) and Σ in one sweep over the row.
/// <para>
/// Attention spends most of its non-GEMM time here (one exp per query-key pair); separate Subtract / Exp / Sum
/// passes cost about as much as both GEMMs together. The arguments are never positive, so a Cephes-style
/// exp (range reduction by ln 2, degree-6 polynomial, exponent built from bits; ~1 ulp) needs no overflow handling,
/// and arguments below the float range (masked −∞ keys) give exactly 0.
/// </para>
/// </summary>
internal static unsafe class SoftmaxExp
{
    const float Log2E = 1.44269504088896341f;
    const float Ln2Hi = 0.693359375f, Ln2Lo = -2.12194440e-4f;
    /// <summary>exp of anything below this is under the smallest normal float; such entries become 0.</summary>
    const float MinArgument = -87.33654f;
    /// <summary>1.5·2²³: adding it rounds to an integer and leaves that integer in the low mantissa bits.</summary>
    const float RoundingMagic = 12582912f;

    /// <summary>The row's largest entry (−∞ for an empty or fully masked row); NaN is not looked for.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Max(float* row, int n)
    {
        var m0 = Vector256.Create(float.NegativeInfinity);
        var m1 = m0;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            m0 = Vector256.MaxNative(m0, Vector256.Load(row + i));
            m1 = Vector256.MaxNative(m1, Vector256.Load(row + i + 8));
        }
        if (i + 8 <= n) { m0 = Vector256.MaxNative(m0, Vector256.Load(row + i)); i += 8; }
        m0 = Vector256.MaxNative(m0, m1);
        float max = float.NegativeInfinity;
        for (int j = 0; j < 8; j++) max = MathF.Max(max, m0.GetElement(j));
        for (; i < n; i++) max = MathF.Max(max, row[i]);
        return max;
    }

    /// <summary>Replaces row[i] by exp(row[i] − max) and returns the sum of the new values; max must be the
    /// row's maximum (finite), so every argument is ≤ 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpSubtractMaxAndSum(float* row, int n, float max)
    {
        var vmax = Vector256.Create(max);
        var acc0 = Vector256<float>.Zero;
        var acc1 = Vector256<float>.Zero;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            var e0 = Exp(Vector256.Load(row + i) - vmax);
            var e1 = Exp(Vector256.Load(row + i + 8) - vmax);
            Vector256.Store(e0, row + i);
            Vector256.Store(e1, row + i + 8);
            acc0 += e0;
            acc1 += e1;
        }
        for (; i + 8 <= n; i += 8)
        {
            var e = Exp(Vector256.Load(row + i) - vmax);
            Vector256.Store(e, row + i);
            acc0 += e;
        }
        float sum = Vector256.Sum(acc0 + acc1);
        for (; i < n; i++)
        {
            float e = MathF.Exp(row[i] - max);
            row[i] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>exp(x) for x ≤ 0: x = k·ln2 + r with |r| ≤ ln2/2, exp(r) by polynomial, 2ᵏ from the exponent bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Exp(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(MinArgument));
        x = Vector256.Max(x, Vector256.Create(MinArgument));
        var magic = Vector256.Create(RoundingMagic);
        var shifted = Vector256.FusedMultiplyAdd(x, Vector256.Create(Log2E), magic);
        var k = shifted - magic;
        var r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Hi), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-Ln2Lo), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        // The integer k sits in the low bits of `shifted`; k + 127 ≥ 1 here, so 2ᵏ is a normal float.
        var kBits = shifted.AsInt32() - magic.AsInt32();
        var pow2 = ((kBits + Vector256.Create(127)) << 23).AsSingle();
        return Vector256.AndNot(p * pow2, underflow.AsSingle());
    }
}

namespace XDit.Engine.Samplers;

/// <summary>
/// Seedable, portable standard-normal numbers: Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as
/// 1, 2, 3", SC'11; the generator of cuRAND and Random123) followed by Box–Muller. Counter-based, so any element can
/// be computed independently: a CUDA kernel reproduces the same numbers with one thread per block of four.
///
/// Exact definition of element j (j = offset + i for the i-th returned value; all integers unsigned):
/// <list type="number">
/// <item>Block b = j / 4, lane = j mod 4. Counter (c0, c1, c2, c3) = (lo32(b), hi32(b), 0, 0);
///   key (k0, k1) = (lo32(seed), hi32(seed)).</item>
/// <item>Ten Philox rounds. One round: (hi0, lo0) = 64-bit product 0xD2511F53 · c0 split in halves,
///   (hi1, lo1) = 0xCD9E8D57 · c2 likewise; new counter = (hi1 ⊕ c1 ⊕ k0, lo1, hi0 ⊕ c3 ⊕ k1, lo0).
///   Between rounds the key is bumped: k0 += 0x9E3779B9, k1 += 0xBB67AE85 (mod 2³²). The result is (x0, x1, x2, x3).</item>
/// <item>Lanes 0, 1 come from the pair (x0, x1), lanes 2, 3 from (x2, x3). For a pair (a, b), in IEEE float64:
///   u1 = (a + 1)·2⁻³² ∈ (0, 1], u2 = b·2⁻³² ∈ [0, 1), r = √(−2 ln u1), θ = 2π·u2;
///   the first lane is r·cos θ, the second r·sin θ, each rounded to float32 (round to nearest even).</item>
/// </list>
/// The integer part is exact everywhere. The float64 ln/cos/sin of different math libraries may differ in the
/// last bit of float64, which changes the float32 result only when it falls within a few float64 ulps of a
/// float32 rounding boundary (about 2⁻²⁸ of the values); to be bit-exact across devices, generate on the host.
/// </summary>
public static class NoiseGenerator
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85;
    const double TwoPow32Inv = 1.0 / 4294967296.0;

    /// <summary><paramref name="count"/> N(0, 1) float32 values: elements offset … offset + count − 1 of the stream
    /// of <paramref name="seed"/> (so Normal(n, s, o) equals the tail of Normal(n + o, s)).</summary>
    public static float[] Normal(int count, ulong seed, ulong offset = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var r = new float[count];
        Fill(r, seed, offset);
        return r;
    }

    /// <summary>Fills <paramref name="destination"/> with elements offset, offset + 1, … of the stream.</summary>
    public static void Fill(Span<float> destination, ulong seed, ulong offset = 0)
    {
        Span<float> block = stackalloc float[4];
        ulong first = offset / 4, end = (offset + (ulong)destination.Length + 3) / 4;
        int i = 0;
        for (ulong b = first; b < end; b++)
        {
            NormalBlock(b, seed, block);
            for (int lane = 0; lane < 4; lane++)
            {
                ulong j = b * 4 + (ulong)lane;
                if (j < offset) continue;
                if (i >= destination.Length) return;
                destination[i++] = block[lane];
            }
        }
    }

    /// <summary>The four normals of block <paramref name="block"/>.</summary>
    public static void NormalBlock(ulong block, ulong seed, Span<float> four)
    {
        var (x0, x1, x2, x3) = Philox4x32_10((uint)block, (uint)(block >> 32), 0, 0, (uint)seed, (uint)(seed >> 32));
        BoxMuller(x0, x1, out four[0], out four[1]);
        BoxMuller(x2, x3, out four[2], out four[3]);
    }

    static void BoxMuller(uint a, uint b, out float z0, out float z1)
    {
        double u1 = ((double)a + 1.0) * TwoPow32Inv;
        double u2 = b * TwoPow32Inv;
        double r = Math.Sqrt(-2.0 * Math.Log(u1));
        double theta = 2.0 * Math.PI * u2;
        z0 = (float)(r * Math.Cos(theta));
        z1 = (float)(r * Math.Sin(theta));
    }

    /// <summary>Philox-4x32 with 10 rounds on counter (c0..c3) and key (k0, k1).</summary>
    public static (uint, uint, uint, uint) Philox4x32_10(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0, p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0, hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0);
        }
        return (c0, c1, c2, c3);
    }
}

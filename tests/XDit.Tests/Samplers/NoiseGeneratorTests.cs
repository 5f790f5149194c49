using XDit.Engine.Samplers;

namespace XDit.Tests.Samplers;

public class NoiseGeneratorTests
{
    [Fact]
    public void PhiloxMatchesRandom123KnownAnswers()
    {
        // Known-answer vectors of philox4x32-10 from Random123 (kat_vectors).
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), NoiseGenerator.Philox4x32_10(0, 0, 0, 0, 0, 0));
        Assert.Equal((0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu),
            NoiseGenerator.Philox4x32_10(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff));
        Assert.Equal((0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u),
            NoiseGenerator.Philox4x32_10(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0));
    }

    [Fact]
    public void SameSeedSameNumbersDifferentSeedDifferent()
    {
        var a = NoiseGenerator.Normal(1001, 42);
        var b = NoiseGenerator.Normal(1001, 42);
        var c = NoiseGenerator.Normal(1001, 43);
        Assert.Equal(a, b);
        Assert.True(a.Zip(c).Count(p => p.First != p.Second) > 990);
        var hi = NoiseGenerator.Normal(16, 42UL | (1UL << 40)); // the high half of the seed matters too
        Assert.NotEqual(a.Take(16), hi);
    }

    [Fact]
    public void OffsetContinuesTheStream()
    {
        var whole = NoiseGenerator.Normal(103, 7);
        for (int off = 0; off < 9; off++)
            Assert.Equal(whole.Skip(off).Take(50), NoiseGenerator.Normal(50, 7, (ulong)off));
    }

    [Fact]
    public void MomentsAreStandardNormal()
    {
        var x = NoiseGenerator.Normal(100_000, 2024);
        double mean = x.Average(v => (double)v);
        double var_ = x.Average(v => (v - mean) * (v - mean));
        double kurt = x.Average(v => Math.Pow(v - mean, 4)) / (var_ * var_);
        Assert.InRange(mean, -0.015, 0.015);     // 1/√n ≈ 0.0032
        Assert.InRange(var_, 0.98, 1.02);        // √(2/n) ≈ 0.0045
        Assert.InRange(kurt, 2.9, 3.1);
        double within1 = x.Count(v => Math.Abs(v) < 1) / (double)x.Length;
        Assert.InRange(within1, 0.676, 0.689);   // 0.6827
    }
}

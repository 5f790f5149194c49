using XDit.Engine.FastAttn;

namespace XDit.Tests.FastAttn;

public class FastAttnPlanTests
{
    const FastAttnMethod Full = FastAttnMethod.FullAttn, Window = FastAttnMethod.ResidualWindowAttn, Share = FastAttnMethod.OutputShare,
        WindowCfg = FastAttnMethod.ResidualWindowAttnCfgShare, FullCfg = FastAttnMethod.FullAttnCfgShare;

    static FastAttnPlan Row(params FastAttnMethod[] methods)
    {
        var plan = new FastAttnPlan(1, methods.Length);
        for (int s = 0; s < methods.Length; s++) plan[0, s] = methods[s];
        return plan;
    }

    [Fact]
    public void AFullStepKeepsItsResidualOnlyWhenAWindowStepFollowsBeforeTheNextFullOne()
    {
        var plan = Row(Full, Share, Window, FullCfg, Share, Full, WindowCfg);
        Assert.Equal(new[] { true, false, false, false, false, true, false }, Enumerable.Range(0, 7).Select(s => plan.NeedsResidual(0, s)));
        // an output is kept where the next step shares it
        Assert.Equal(new[] { true, false, false, true, false, false, false }, Enumerable.Range(0, 7).Select(s => plan.NeedsOutput(0, s)));
        Assert.Equal(Full, plan[0, 99]); // past the plan: full
    }

    [Fact]
    public void APlanRoundTripsThroughXDitsJson()
    {
        var plan = new FastAttnPlan(2, 3);
        plan[0, 1] = Share;
        plan[1, 1] = WindowCfg;
        plan[1, 2] = FullCfg;
        var path = Path.Combine(TestPaths.TempDir(), "plan.json");
        plan.Save(path);
        var text = File.ReadAllText(path);
        Assert.Contains("\"block1\"", text);
        Assert.Contains("\"step1\": \"RESIDUAL_WINDOW_ATTN_CFG_SHARE\"", text);
        var back = FastAttnPlan.Load(path);
        Assert.Equal((2, 3), (back.Blocks, back.Steps));
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < 3; s++) Assert.Equal(plan[b, s], back[b, s]);
        Assert.Equal("FULL_ATTN 50%, OUTPUT_SHARE 17%, RESIDUAL_WINDOW_ATTN_CFG_SHARE 17%, FULL_ATTN_CFG_SHARE 17%", back.Summary());
    }

    [Theory]
    [InlineData("{\"block0\": {\"step0\": \"FULL_ATTN\", \"step1\": \"HALF_ATTN\"}}", "block0 step1: \"HALF_ATTN\" is not one of")]
    [InlineData("{\"block1\": {\"step0\": \"FULL_ATTN\"}}", "expected \"block0\", found \"block1\"")]
    [InlineData("{\"block0\": {\"step0\": \"FULL_ATTN\"}, \"block1\": {\"step0\": \"FULL_ATTN\", \"step1\": \"FULL_ATTN\"}}", "block1 has 2 steps, block0 has 1")]
    [InlineData("[1, 2]", "a DiTFastAttn plan is a JSON object")]
    [InlineData("{\"block0\": ", "invalid JSON")]
    public void ABadPlanFileIsNamedWithTheCellAtFault(string json, string expected)
    {
        var path = Path.Combine(TestPaths.TempDir(), "bad.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<InvalidDataException>(() => FastAttnPlan.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void APlanMustFitTheModelTheStepsAndTheGuidance()
    {
        var plan = Row(Full, FullCfg);
        Assert.Contains("has 1 blocks, the model has 8", Assert.Throws<ArgumentException>(() => plan.CheckFits(8, 2, true, "p.json")).Message);
        Assert.Contains("is for 2 steps, this run has 20", Assert.Throws<ArgumentException>(() => plan.CheckFits(1, 20, true, "p.json")).Message);
        Assert.Contains("block0 step1 is FULL_ATTN_CFG_SHARE, which needs classifier-free guidance", Assert.Throws<ArgumentException>(() => plan.CheckFits(1, 2, false, "p.json")).Message);
        Assert.Contains("step0 is OUTPUT_SHARE", Assert.Throws<ArgumentException>(() => Row(Share, Full).CheckFits(1, 2, true, "p.json")).Message);
        plan.CheckFits(1, 2, true, "p.json");
    }

    [Fact]
    public void TheCompressionLossIsXDits()
    {
        Assert.Equal(0, CompressionLoss.Of([1f, -2f, 3f], [1f, -2f, 3f]));
        // (a − b) / (max(a, b) + 1e−6): (2 − 1)/2 = 0.5 and (1 − 2)/2 = −0.5 → 0.5 each; a sign change clips at 10
        Assert.Equal(0.5, CompressionLoss.Of([2f, 1f], [1f, 2f]), 5);
        Assert.Equal(10, CompressionLoss.Of([-1f], [1e-3f]), 5);   // (−1.001)/(0.001 + 1e−6) ≈ −1000
        Assert.Throws<ArgumentException>(() => CompressionLoss.Of([1f], [1f, 2f]));
    }

    [Fact]
    public void TheWindowShareCountsTheBandsPairs()
    {
        Assert.Equal(1.0, FastAttention.WindowShare(10, 9));
        Assert.Equal(0.1, FastAttention.WindowShare(10, 0), 12);
        Assert.Equal((2 + 3 + 3 + 2) / 16.0, FastAttention.WindowShare(4, 1), 12);
    }
}

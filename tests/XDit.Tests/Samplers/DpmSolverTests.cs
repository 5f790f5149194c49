using XDit.Engine.Samplers;

namespace XDit.Tests.Samplers;

/// <summary>DPM-Solver++ against the spec's schedules and an independent float64 implementation of the update.</summary>
public class DpmSolverTests
{
    static DPMSolverMultistepScheduler Make(int order = 2, string final = "zero", bool lowerOrderFinal = true, string solver = "midpoint", string prediction = "epsilon")
        => new(new DPMSolverMultistepOptions { SolverOrder = order, FinalSigmasType = final, LowerOrderFinal = lowerOrderFinal, SolverType = solver, PredictionType = prediction });

    [Fact]
    public void LinspaceTimestepsAreTheSpecsExamples()
    {
        var s = Make();
        s.SetTimesteps(20);
        Assert.Equal(new float[] { 999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50 }, s.Timesteps);
        s.SetTimesteps(14);
        Assert.Equal(new float[] { 999, 928, 856, 785, 714, 642, 571, 500, 428, 357, 285, 214, 143, 71 }, s.Timesteps);
        Assert.Equal(15, s.Sigmas.Length);
        Assert.Equal(0f, s.Sigmas[^1]);
    }

    [Fact]
    public void SigmaMinFinalIsTheFirstTrainingSigma()
    {
        var s = Make(final: "sigma_min");
        s.SetTimesteps(10);
        // ᾱ_0 = 1 − β_0 = 0.9999, σ = sqrt(0.0001/0.9999)
        Assert.Equal(Math.Sqrt(0.0001 / 0.9999), s.Sigmas[^1], 1e-6);
    }

    [Fact]
    public void OneStepLandsOnTheDataPrediction()
    {
        var s = Make();
        s.SetTimesteps(1);
        Assert.Equal(new float[] { 999 }, s.Timesteps);
        var x = Numerics.Random(64, 1, 3f);
        var eps = Numerics.Random(64, 2);
        double sigma = s.Sigmas[0], alpha = 1 / Math.Sqrt(sigma * sigma + 1);
        var expected = x.Select((v, i) => (float)((v - sigma * alpha * eps[i]) / alpha)).ToArray();
        s.Step(eps, 0, x);
        Assert.True(Numerics.RelativeError(x, expected) < 1e-6);
    }

    [Theory]
    [InlineData(2, "zero", true, 10)]
    [InlineData(2, "sigma_min", true, 10)]   // < 15 steps: last step first order
    [InlineData(2, "sigma_min", false, 10)]  // last step stays second order
    [InlineData(2, "sigma_min", true, 16)]   // ≥ 15 steps: the rule is off
    [InlineData(3, "zero", true, 10)]        // order 3, second-to-last step drops to 2
    [InlineData(3, "sigma_min", true, 20)]
    [InlineData(1, "zero", true, 7)]
    public void MatchesAFloat64ReferenceWithTheLowerOrderRules(int order, string final, bool lowerOrderFinal, int n)
    {
        foreach (var solver in new[] { "midpoint", "heun" })
        {
            var s = Make(order, final, lowerOrderFinal, solver);
            s.SetTimesteps(n);
            var x = Numerics.Random(48, 3, 10f);
            var eps = Enumerable.Range(0, n).Select(k => Numerics.Random(48, 100 + k)).ToArray();
            var reference = Reference(s.Sigmas, eps, x, order, final == "zero", lowerOrderFinal, solver == "heun");
            for (int k = 0; k < n; k++) s.Step(eps[k], k, x);
            double err = Numerics.RelativeError(x, reference);
            Assert.True(err < 2e-5, $"order {order} {final} lof {lowerOrderFinal} n {n} {solver}: {err:E2}");
        }
    }

    [Fact]
    public void TheLowerOrderRuleChangesTheLastStep()
    {
        float[] Run(bool lof)
        {
            var s = Make(2, "sigma_min", lof);
            s.SetTimesteps(10);
            var x = Numerics.Random(32, 5, 5f);
            for (int k = 0; k < 10; k++) s.Step(Numerics.Random(32, 50 + k), k, x);
            return x;
        }
        Assert.True(Numerics.RelativeError(Run(true), Run(false)) > 1e-4);
    }

    [Fact]
    public void VPredictionAndSampleConvertToTheSameDataPrediction()
    {
        // With x0 chosen, ε and v that imply it give the same one-step result as "sample" given x0 directly.
        var x = Numerics.Random(16, 7, 2f);
        var x0 = Numerics.Random(16, 8);
        var probe = Make();
        probe.SetTimesteps(1);
        double sigma = probe.Sigmas[0], a = 1 / Math.Sqrt(sigma * sigma + 1), s = sigma * a;
        var eps = x.Select((v, i) => (float)((v - a * x0[i]) / s)).ToArray();
        var vpred = x.Select((v, i) => (float)((a * v - x0[i]) / s)).ToArray();
        foreach (var (pred, output) in new[] { ("epsilon", eps), ("v_prediction", vpred), ("sample", x0) })
        {
            var sch = Make(prediction: pred);
            sch.SetTimesteps(1);
            var y = (float[])x.Clone();
            sch.Step(output, 0, y);
            Assert.True(Numerics.RelativeError(y, x0) < 1e-4, pred);
        }
    }

    [Fact]
    public void FlowSigmasFollowAStraightPathExactly()
    {
        // On x_σ = (1 − σ)·x0 + σ·noise with the exact velocity noise − x0, every DPM++ order stays on the path.
        foreach (int order in new[] { 1, 2 })
        {
            var s = new DPMSolverMultistepScheduler(new DPMSolverMultistepOptions { UseFlowSigmas = true, FlowShift = 3.0, PredictionType = "flow_prediction", SolverOrder = order });
            s.SetTimesteps(8);
            Assert.Equal((float)(3 * 0.999 / (1 + 2 * 0.999)), s.Sigmas[0], 1e-6f);
            Assert.Equal((float)Math.Truncate(s.Sigmas[0] * 1000.0), s.Timesteps[0]);
            var x0 = Numerics.Random(24, 1);
            var noise = Numerics.Random(24, 2);
            var v = noise.Select((n, i) => n - x0[i]).ToArray();
            var x = x0.Select((a, i) => (1 - s.Sigmas[0]) * a + s.Sigmas[0] * noise[i]).ToArray();
            for (int k = 0; k < 8; k++) s.Step(v, k, x);
            Assert.True(Numerics.RelativeError(x, x0) < 1e-5, $"order {order}");
        }
    }

    [Fact]
    public void StepsOutOfOrderAreRefused()
    {
        var s = Make();
        s.SetTimesteps(5);
        var x = new float[4];
        s.Step(new float[4], 0, x);
        var e = Assert.Throws<InvalidOperationException>(() => s.Step(new float[4], 2, x));
        Assert.Contains("expected 1", e.Message);
        s.Reset();
        s.Step(new float[4], 2, x); // after Reset any start is fine
    }

    [Fact]
    public void LeadingAndTrailingSpacings()
    {
        var lead = new DPMSolverMultistepScheduler(new DPMSolverMultistepOptions { TimestepSpacing = "leading", StepsOffset = 1 });
        lead.SetTimesteps(4); // ratio 1000 // 5 = 200
        Assert.Equal(new float[] { 801, 601, 401, 201 }, lead.Timesteps);
        var trail = new DPMSolverMultistepScheduler(new DPMSolverMultistepOptions { TimestepSpacing = "trailing" });
        trail.SetTimesteps(4);
        Assert.Equal(new float[] { 999, 749, 499, 249 }, trail.Timesteps);
    }

    [Fact]
    public void KarrasSigmasDescendBetweenTheTrainingExtremes()
    {
        var s = new DPMSolverMultistepScheduler(new DPMSolverMultistepOptions { UseKarrasSigmas = true });
        s.SetTimesteps(12);
        var sig = s.Sigmas;
        for (int i = 1; i < sig.Length; i++) Assert.True(sig[i] < sig[i - 1]);
        Assert.Equal(999f, s.Timesteps[0]);
        Assert.True(s.Timesteps[^1] <= 1f);
    }

    /// <summary>DPM-Solver++ (Lu et al. 2022) in float64, written from the formulas, not from the class under test.</summary>
    static float[] Reference(float[] sigmas, float[][] eps, float[] x0f, int order, bool finalZero, bool lof, bool heun)
    {
        int n = eps.Length;
        var x = x0f.Select(v => (double)v).ToArray();
        var hist = new List<double[]>();
        static double Alpha(double s) => 1 / Math.Sqrt(s * s + 1);
        static double Lam(double s) => s == 0 ? double.PositiveInfinity : -Math.Log(s); // ln α − ln(σα) = −ln σ
        for (int k = 0; k < n; k++)
        {
            double sk = sigmas[k], ak = Alpha(sk);
            var d = new double[x.Length];
            for (int i = 0; i < x.Length; i++) d[i] = (x[i] - sk * ak * eps[k][i]) / ak;
            hist.Add(d);
            int use = Math.Min(order, k + 1);
            if (k == n - 1 && ((lof && n < 15) || finalZero)) use = 1;
            if (k == n - 2 && lof && n < 15) use = Math.Min(use, 2);
            double st = sigmas[k + 1], at = Alpha(st), h = Lam(st) - Lam(sk);
            double ratio = st * at / (sk * ak), phi = Math.Exp(-h) - 1; // s(σ_t)/s(σ_s), e^{−h} − 1
            var m0 = hist[^1];
            for (int i = 0; i < x.Length; i++)
            {
                double v = ratio * x[i] - at * phi * m0[i];
                if (use >= 2)
                {
                    double r0 = (Lam(sk) - Lam(sigmas[k - 1])) / h;
                    double d1 = (m0[i] - hist[^2][i]) / r0;
                    if (use == 2) v += heun ? at * (phi / h + 1) * d1 : -0.5 * at * phi * d1;
                    else
                    {
                        double r1 = (Lam(sigmas[k - 1]) - Lam(sigmas[k - 2])) / h;
                        double d10 = d1, d11 = (hist[^2][i] - hist[^3][i]) / r1;
                        double dd1 = d10 + r0 / (r0 + r1) * (d10 - d11), dd2 = (d10 - d11) / (r0 + r1);
                        v += at * (phi / h + 1) * dd1 - at * ((phi + h) / (h * h) - 0.5) * dd2;
                    }
                }
                x[i] = v;
            }
        }
        return x.Select(v => (float)v).ToArray();
    }
}

using XDit.Engine.Samplers;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Samplers;

/// <summary>The scheduler golden fixtures (diffusers, float32 CPU): schedule and every intermediate sample (and, for
/// Euler discrete, the scaled model input).</summary>
public class SchedulerFixtureTests(ITestOutputHelper output)
{
    public static TheoryData<string> Cases => new() { "sched_dpmpp_pixart", "sched_ddim", "sched_flow_sd3", "sched_flow_flux", "sched_ddpm_hunyuan", "sched_euler_sdxl", "sched_dpm_flow_sana", "sched_cogvideox", "sched_cogvideox_dpm", "sched_unipc_wan", "sched_unipc_wan720", "sched_unipc_flow3", "sched_unipc_vp", "sched_unipc_vpred" };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SamplesMatchDiffusers(string name)
    {
        using var fixture = new FixtureCase(TestPaths.Fixture(name));
        Assert.IsType<SchedulerFixtureRunner>(FixtureVerifier.FindRunner(fixture));
        using var actual = SchedulerFixtureRunner.Run(fixture);
        using var expected = fixture.Expected("x");
        Assert.Equal(expected.Dims, actual.Dims);
        var a = actual.ToFloatArray();
        var e = expected.ToFloatArray();
        double rel = Numerics.RelativeError(a, e);
        // The last state alone (errors compound over the steps), and the worst single step.
        int per = a.Length / expected.Dim(0);
        double last = Numerics.RelativeError(a.AsSpan(a.Length - per), e.AsSpan(e.Length - per));
        double worst = 0;
        for (int k = 1; k < expected.Dim(0); k++)
            worst = Math.Max(worst, Numerics.RelativeError(a.AsSpan(k * per, per), e.AsSpan(k * per, per)));
        output.WriteLine($"{name}: relative error all steps {rel:E3}, final sample {last:E3}, worst step {worst:E3}, max abs {Numerics.MaxAbsError(a, e):E3}");
        Assert.True(rel <= 1e-4, $"{name}: relative error {rel:E3} > 1e-4");
        Assert.True(worst <= 1e-4, $"{name}: worst step relative error {worst:E3} > 1e-4");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void VerifierPassesThroughTheRunner(string name)
    {
        var results = FixtureVerifier.Verify(TestPaths.Fixture(name), new CpuOps());
        using var fixture = new FixtureCase(TestPaths.Fixture(name));
        Assert.Equal(fixture.OutputNames.Order(StringComparer.Ordinal), results.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Contains(results, r => r.Name == "x");
        foreach (var r in results) Assert.True(r.Passed, $"{name}: {r}");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ScheduleMatchesTheStoredOne(string name)
    {
        using var fixture = new FixtureCase(TestPaths.Fixture(name));
        var scheduler = SchedulerFixtureRunner.CreateScheduler(fixture);
        using var ts = fixture.Input("timesteps");
        var expectedT = ts.ToFloatArray();
        Assert.Equal(expectedT.Length, scheduler.Timesteps.Length);
        double maxT = MaxRel(scheduler.Timesteps, expectedT);
        string report = $"{name}: timesteps max relative diff {maxT:E2}";
        Assert.True(maxT <= 1e-6, $"{report}; got {string.Join(", ", scheduler.Timesteps)} expected {string.Join(", ", expectedT)}");
        if (fixture.HasInput("sigmas"))
        {
            using var sg = fixture.Input("sigmas");
            var expectedS = sg.ToFloatArray();
            Assert.Equal(expectedS.Length, scheduler.Sigmas.Length);
            double maxS = MaxRel(scheduler.Sigmas, expectedS);
            report += $", sigmas max relative diff {maxS:E2}";
            Assert.True(maxS <= 1e-6, $"{report}; got {string.Join(", ", scheduler.Sigmas)} expected {string.Join(", ", expectedS)}");
        }
        if (fixture.Meta.Has("init_noise_sigma"))
        {
            double want = fixture.Meta.GetDouble("init_noise_sigma");
            Assert.True(Math.Abs(scheduler.InitNoiseSigma - want) <= 1e-6 * want, $"{name}: init_noise_sigma {scheduler.InitNoiseSigma}, expected {want}");
        }
        output.WriteLine(report);
    }

    static double MaxRel(float[] a, float[] e)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++)
            m = Math.Max(m, Math.Abs((double)a[i] - e[i]) / Math.Max(Math.Abs((double)e[i]), 1e-30));
        return m;
    }
}

using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>
/// Runs a scheduler fixture (meta.json with "scheduler", "config", "num_steps", "set_timesteps"): builds the scheduler,
/// sets its timesteps (with the fixture's custom sigmas and mu if any), and replays the stored model outputs
/// <c>in.eps</c> [S, …]. The output <c>x</c> [S + 1, …] is the sample before the first step and after each step.
/// The fixture stores the starting sample only as <c>out.x[0]</c>, so that row is taken from there (and so matches
/// trivially); every later row is computed. Host-only: the IOps argument is not used.
/// </summary>
public sealed class SchedulerFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.Has("scheduler");

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops) => new Dictionary<string, Tensor> { ["x"] = Run(fixture) };

    /// <summary>The scheduler this fixture describes, with its timesteps set.</summary>
    public static IScheduler CreateScheduler(FixtureCase fixture)
    {
        var meta = fixture.Meta;
        string className = meta.GetString("scheduler");
        var config = JsonConfig.Parse(meta.Get("config").GetRawText(), $"{meta.Path} (config)");
        var scheduler = SchedulerFactory.FromConfig(config, className);
        int steps = meta.GetInt("num_steps");
        double? mu = null;
        float[]? sigmas = null;
        if (meta.Has("set_timesteps"))
        {
            var args = JsonConfig.Parse(meta.Get("set_timesteps").GetRawText(), $"{meta.Path} (set_timesteps)");
            mu = args.GetDoubleOrNull("mu");
            if (args.Has("sigmas")) sigmas = args.GetDoubleArray("sigmas").Select(v => (float)v).ToArray();
        }
        scheduler.SetTimesteps(steps, mu, sigmas);
        return scheduler;
    }

    public static Tensor Run(FixtureCase fixture)
    {
        var scheduler = CreateScheduler(fixture);
        using var eps = fixture.Input("eps");
        using var expected = fixture.Expected("x");
        int steps = scheduler.NumInferenceSteps;
        if (eps.Dim(0) != steps)
            throw new FormatException($"{fixture.Io.Path}: in.eps has {eps.Dim(0)} steps, the schedule has {steps}");
        if (expected.Dim(0) != steps + 1)
            throw new FormatException($"{fixture.Io.Path}: out.x has {expected.Dim(0)} rows, expected num_steps + 1 = {steps + 1}");

        var e = eps.ToFloatArray();
        var x0 = expected.ToFloatArray();
        int per = (int)(e.Length / steps);
        var outX = new float[(steps + 1) * per];
        var sample = x0.AsSpan(0, per).ToArray();
        sample.CopyTo(outX, 0);
        for (int k = 0; k < steps; k++)
        {
            scheduler.Step(e.AsSpan(k * per, per), k, sample);
            sample.CopyTo(outX, (k + 1) * per);
        }
        return Tensor.FromArray(outX, expected.Dims);
    }
}

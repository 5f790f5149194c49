using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>
/// Runs a scheduler fixture (meta.json with "scheduler", "config", "num_steps", "set_timesteps"): builds the scheduler,
/// sets its timesteps (with the fixture's custom sigmas and mu if any), and replays the stored model outputs
/// <c>in.eps</c> [S, …]. The output <c>x</c> [S + 1, …] is the sample before the first step and after each step.
/// The fixture stores the starting sample only as <c>out.x[0]</c>, so that row is taken from there (and so matches
/// trivially); every later row is computed. A stochastic scheduler (DDPM) replays the stored per-step noise
/// <c>in.noise</c> [S, …]; where the fixture stores <c>out.model_input</c> [S, …] (Euler discrete), the scaled model
/// input before each step is computed too. Host-only: the IOps argument is not used.
/// </summary>
public sealed class SchedulerFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.Has("scheduler");

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        var result = new Dictionary<string, Tensor>();
        result["x"] = Run(fixture, out var modelInput);
        if (modelInput is not null) result["model_input"] = modelInput;
        return result;
    }

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
        var x = Run(fixture, out var modelInput);
        modelInput?.Dispose();
        return x;
    }

    /// <summary>The samples <c>x</c>; <paramref name="modelInput"/> is the scaled model input before each step when
    /// the fixture stores <c>out.model_input</c>, else null.</summary>
    public static Tensor Run(FixtureCase fixture, out Tensor? modelInput)
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
        float[]? noise = null;
        if (fixture.HasInput("noise"))
        {
            if (scheduler is not IStochasticScheduler)
                throw new FormatException($"{fixture.Io.Path}: in.noise is given, but {scheduler.ClassName} adds no noise");
            using var nz = fixture.Input("noise");
            noise = nz.ToFloatArray();
            if (noise.Length != e.Length)
                throw new FormatException($"{fixture.Io.Path}: in.noise has {noise.Length} values, in.eps {e.Length}");
        }
        else if (scheduler is IStochasticScheduler)
            throw new FormatException($"{fixture.Io.Path}: {scheduler.ClassName} adds noise each step, but the fixture has no in.noise to replay");
        bool scaled = fixture.OutputNames.Contains("model_input");
        if (scaled && scheduler is not EulerDiscreteScheduler)
            throw new FormatException($"{fixture.Io.Path}: out.model_input is stored, but {scheduler.ClassName} does not scale the model input");
        var outX = new float[(steps + 1) * per];
        var outIn = scaled ? new float[steps * per] : null;
        var sample = x0.AsSpan(0, per).ToArray();
        sample.CopyTo(outX, 0);
        for (int k = 0; k < steps; k++)
        {
            if (outIn is not null) ((EulerDiscreteScheduler)scheduler).ScaleModelInput(sample, k, outIn.AsSpan(k * per, per));
            if (noise is not null) ((IStochasticScheduler)scheduler).Step(e.AsSpan(k * per, per), k, sample, noise.AsSpan(k * per, per));
            else scheduler.Step(e.AsSpan(k * per, per), k, sample);
            sample.CopyTo(outX, (k + 1) * per);
        }
        modelInput = outIn is null ? null : Tensor.FromArray(outIn, [steps, .. expected.Dims[1..]]);
        return Tensor.FromArray(outX, expected.Dims);
    }
}

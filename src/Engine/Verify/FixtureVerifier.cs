using System.Reflection;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>How one output compares with its reference.</summary>
public sealed record OutputComparison(string Name, double RelativeError, double MaxAbsError, double Tolerance, string? Problem = null)
{
    public bool Passed => Problem is null && RelativeError <= Tolerance;
}

/// <summary>Runs a fixture folder with the runner that handles it and compares every output.</summary>
public static class FixtureVerifier
{
    static readonly Lazy<IFixtureRunner[]> Runners = new(() => typeof(FixtureVerifier).Assembly.GetTypes()
        .Where(t => typeof(IFixtureRunner).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
        .Select(t => (IFixtureRunner)Activator.CreateInstance(t)!).ToArray());

    /// <summary>Default tolerance on ‖out − ref‖/‖ref‖ per activation dtype.</summary>
    public static double DefaultTolerance(DType dtype) => dtype switch { DType.BF16 => 2e-2, DType.F16 => 5e-3, _ => 1e-4 };

    public static IFixtureRunner FindRunner(FixtureCase fixture)
    {
        var runner = Runners.Value.FirstOrDefault(r => r.Handles(fixture.Meta));
        if (runner is null)
        {
            string what = fixture.Meta.GetString("model", null) ?? fixture.Meta.GetString("scheduler", null) ?? "(neither \"model\" nor \"scheduler\")";
            throw new NotSupportedException($"{fixture.Dir}: no runner for {what}");
        }
        return runner;
    }

    public static IReadOnlyList<OutputComparison> Verify(string dir, IOps ops, double? tolerance = null)
    {
        using var fixture = new FixtureCase(dir);
        var runner = FindRunner(fixture);
        var outputs = runner.Run(fixture, ops);
        var tol = tolerance ?? DefaultTolerance(ops.ActivationType);
        var results = new List<OutputComparison>();
        try
        {
            foreach (var ioName in runner.Compared(fixture))
            {
                string name = ioName.StartsWith("out.", StringComparison.Ordinal) ? ioName[4..] : ioName;
                using var expected = fixture.Io.ReadF32(ioName);
                // token ids and masks are stored as integers and must match exactly
                double want = fixture.Io.Info(ioName).DType.IsFloat() ? tol : 0;
                if (!outputs.TryGetValue(name, out var actual))
                {
                    results.Add(new OutputComparison(name, double.NaN, double.NaN, want, "the runner produced no such output"));
                    continue;
                }
                // samplers run on host arrays whatever the device, so their outputs are host tensors already
                var a = actual.Storage is HostStorage && actual.DType == DType.F32 ? actual.ToFloatArray() : ops.ToHost(actual);
                var e = expected.ToFloatArray();
                if (a.Length != e.Length || !Shape.Equal(actual.ShapeSpan, expected.ShapeSpan))
                {
                    results.Add(new OutputComparison(name, double.NaN, double.NaN, want, $"shape {Shape.Format(actual.ShapeSpan)}, expected {Shape.Format(expected.ShapeSpan)}"));
                    continue;
                }
                results.Add(new OutputComparison(name, RelativeError(a, e), MaxAbsError(a, e), want));
            }
        }
        finally
        {
            foreach (var t in outputs.Values) t.Dispose();
        }
        return results;
    }

    public static double RelativeError(ReadOnlySpan<float> a, ReadOnlySpan<float> reference)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { double d = a[i] - reference[i]; num += d * d; den += (double)reference[i] * reference[i]; }
        if (double.IsNaN(num)) return double.NaN;
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    public static double MaxAbsError(ReadOnlySpan<float> a, ReadOnlySpan<float> reference)
    {
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - reference[i]));
        return m;
    }
}

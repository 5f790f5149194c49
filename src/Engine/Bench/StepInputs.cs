namespace XDit.Engine.Bench;

/// <summary>The seeded random inputs of the step workloads.</summary>
static class StepInputs
{
    /// <summary><paramref name="n"/> values uniform in [-1, 1) from <paramref name="seed"/>.</summary>
    public static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(r.NextDouble() * 2 - 1);
        return x;
    }
}

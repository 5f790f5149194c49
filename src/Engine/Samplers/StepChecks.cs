namespace XDit.Engine.Samplers;

/// <summary>The argument checks every scheduler's Step makes, in one place so that the schedulers refuse a bad
/// call with the same words.</summary>
internal static class StepChecks
{
    /// <summary>The schedule is set (<paramref name="steps"/> &gt; 0) and <paramref name="stepIndex"/> lies in it.</summary>
    public static void Index(string scheduler, int steps, int stepIndex)
    {
        if (steps == 0) throw new InvalidOperationException($"{scheduler}: call SetTimesteps before Step");
        if (stepIndex < 0 || stepIndex >= steps) throw new ArgumentOutOfRangeException(nameof(stepIndex), stepIndex, $"the schedule has {steps} steps");
    }

    /// <summary>The model output has the sample's length.</summary>
    public static void Lengths(int modelOutput, int sample)
    {
        if (modelOutput != sample) throw new ArgumentException($"model output has {modelOutput} values, the sample {sample}");
    }

    /// <summary>The model output and the given step noise have the sample's length.</summary>
    public static void Lengths(int modelOutput, int sample, int noise)
    {
        Lengths(modelOutput, sample);
        if (noise != sample) throw new ArgumentException($"noise has {noise} values, the sample {sample}");
    }
}

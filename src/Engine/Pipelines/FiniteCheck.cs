namespace XDit.Engine.Pipelines;

/// <summary>
/// One pass over host values that stops a run holding NaN or infinity. The pipelines check the inputs they are
/// given, the latents after every denoising step (the standard loop, and PipeFusion's last stage per patch), the final
/// latents and the decoded pixels: a non-finite weight, bias, scaling factor or guidance scale shows up there, so every
/// op need not check (one read of the latents per step, far below a step).
/// </summary>
public static class FiniteCheck
{
    /// <summary>Throws <see cref="NonFiniteException"/> naming <paramref name="what"/>, the first bad value and
    /// its index, and how many there are; <paramref name="hint"/> is appended (where it probably came from).</summary>
    public static void Require(ReadOnlySpan<float> values, string what, string? hint = null)
    {
        int first = FirstNonFinite(values);
        if (first < 0) return;
        int count = 0;
        for (int i = first; i < values.Length; i++) if (!float.IsFinite(values[i])) count++;
        var kind = float.IsNaN(values[first]) ? "NaN" : values[first] > 0 ? "+infinity" : "-infinity";
        throw new NonFiniteException($"{what} hold {kind} at index {first} ({count} of {values.Length} values are not finite){(hint is null ? "" : "; " + hint)}");
    }

    /// <summary>The index of the first NaN or infinity, or -1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        // x - x is 0 for every finite x and NaN for NaN and ±infinity: one subtraction and compare per value.
        for (int i = 0; i < values.Length; i++)
            if (values[i] - values[i] != 0f) return i;
        return -1;
    }
}

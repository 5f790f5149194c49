namespace XDit.Engine.Execution;

/// <summary>
/// Data parallelism lives outside the executor: each data-parallel group generates its own prompts with its own
/// executor (xdit.md §5). This names which prompts a group takes.
/// </summary>
public static class DataParallel
{
    /// <summary>The contiguous rows [Start, Start + Count) of <paramref name="rows"/> prompts that data-parallel
    /// group <paramref name="dpRank"/> of <paramref name="dpDegree"/> generates. Every group gets the same count, so
    /// the prompts must divide evenly (a group with fewer rows would finish early and idle).</summary>
    public static (int Start, int Count) Slice(int rows, int dpDegree, int dpRank)
    {
        if (dpDegree < 1) throw new ArgumentOutOfRangeException(nameof(dpDegree), $"data-parallel degree must be positive, got {dpDegree}");
        if (dpRank < 0 || dpRank >= dpDegree) throw new ArgumentOutOfRangeException(nameof(dpRank), $"data-parallel rank {dpRank} is outside 0..{dpDegree - 1}");
        if (rows < 1) throw new ArgumentOutOfRangeException(nameof(rows), $"need at least one prompt, got {rows}");
        if (rows % dpDegree != 0)
            throw new ArgumentException($"{rows} prompts do not split evenly over data-parallel degree {dpDegree}; give a multiple of {dpDegree} prompts or choose a degree that divides {rows}");
        int count = rows / dpDegree;
        return (dpRank * count, count);
    }
}

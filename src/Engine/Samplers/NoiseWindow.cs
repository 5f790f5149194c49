namespace XDit.Engine.Samplers;

/// <summary>
/// The place of a stochastic scheduler's sample in the whole sample its step noise is laid out over: the sample is
/// elements <see cref="Start"/> … of a whole of <see cref="WholeLength"/> values, so step k draws the stream's
/// elements k·WholeLength + Start … (<see cref="IStochasticScheduler"/>). The default (0, 0) is the sample itself.
/// </summary>
public readonly record struct NoiseWindow(long Start, long WholeLength)
{
    /// <summary>The sample is the whole.</summary>
    public static NoiseWindow Whole => default;

    /// <summary>Rows [<paramref name="firstRow"/>, firstRow + rows) of a batch of <paramref name="totalRows"/>
    /// rows of <paramref name="rowValues"/> values each; a total of 0 means the rows are the whole batch.</summary>
    public static NoiseWindow Rows(int firstRow, int rows, int totalRows, int rowValues)
    {
        if (totalRows == 0 || (firstRow == 0 && rows == totalRows)) return Whole;
        if (firstRow < 0 || rows < 1 || rowValues < 1 || firstRow + rows > totalRows)
            throw new ArgumentException($"rows {firstRow} … {firstRow + rows - 1} do not lie in a batch of {totalRows} rows");
        return new((long)firstRow * rowValues, (long)totalRows * rowValues);
    }

    /// <summary>The first stream element of step <paramref name="stepIndex"/> for a sample of
    /// <paramref name="length"/> values; refuses a sample that does not fit the whole.</summary>
    public ulong Offset(int stepIndex, int length)
    {
        if (WholeLength == 0) return (ulong)stepIndex * (ulong)length;
        if (Start < 0 || Start + length > WholeLength)
            throw new ArgumentException($"a sample of {length} values at {Start} does not fit the noise window's whole of {WholeLength} values");
        return (ulong)stepIndex * (ulong)WholeLength + (ulong)Start;
    }
}

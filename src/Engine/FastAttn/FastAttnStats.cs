namespace XDit.Engine.FastAttn;

/// <summary>
/// What DiTFastAttn's self-attention layers did over a generation: how many layer-steps used each method, and the
/// attention work (query-key pairs, the part of attention that grows with the square of the tokens) against the
/// same layers all in full. The projections are not counted: OUTPUT_SHARE skips them too, CFG share halves them.
/// </summary>
public sealed class FastAttnStats
{
    readonly Dictionary<FastAttnMethod, int> _counts = new();
    double _work;

    /// <param name="rows">Fraction of the batch computed (½ under CFG share, 0 for a shared output).</param>
    /// <param name="windowShare">Fraction of the pairs a window attention of this layer covers, where one ran
    /// (the window step itself, or a full step's residual); 0 where none did.</param>
    public void Record(FastAttnMethod method, double rows, double windowShare)
    {
        _counts[method] = _counts.GetValueOrDefault(method) + 1;
        if (method == FastAttnMethod.OutputShare) return;
        _work += rows * ((method.Has(FastAttnMethod.FullAttn) ? 1 : 0) + windowShare);
    }

    public int LayerSteps => _counts.Values.Sum();
    public int Count(FastAttnMethod m) => _counts.GetValueOrDefault(m);
    /// <summary>Attention work done over the work of full attention everywhere (1 with no compression).</summary>
    public double AttentionWorkRatio => LayerSteps == 0 ? 1 : _work / LayerSteps;

    public void Clear()
    {
        _counts.Clear();
        _work = 0;
    }

    public override string ToString()
    {
        var parts = FastAttnMethodNames.Methods.Where(m => Count(m) > 0).Select(m => $"{m.Name()} {Count(m)}");
        return $"{LayerSteps} layer-steps ({string.Join(", ", parts)}), attention work {100 * AttentionWorkRatio:F0}% of full";
    }
}

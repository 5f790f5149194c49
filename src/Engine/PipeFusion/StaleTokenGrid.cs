using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.PipeFusion;

/// <summary>
/// PipeFusion's stale buffer for a layer that mixes neighbouring grid rows (SANA's Mix-FFN, a depth-wise 3×3 over
/// the token grid): per layer, the layer's input for every image token [B, S, C]. A call writes the rows it brings
/// (the whole image in warm-up, a patch's rows otherwise) and hands back the whole grid, so the rows next to a patch
/// come from the patch above, computed earlier in this step (fresh), and the patch below, from the step before
/// (stale): the rule <see cref="StaleKvAttention"/> applies to K/V, and nothing more travels between ranks. Rows
/// never written (patches before the first full step) are zeros, like the image's own padding.
/// </summary>
sealed class StaleTokenGrid(int totalTokens) : IDisposable
{
    readonly Dictionary<string, Tensor> _grids = new();   // layer → [B, S, C]

    /// <summary>Bytes of every layer's grid.</summary>
    public long Bytes => _grids.Values.Sum(t => t.ByteCount);

    /// <summary>Writes <paramref name="rows"/> [B, n, C], global tokens [start, start + n), into the layer's grid and
    /// returns the grid [B, S, C] as a view (valid until the next write; disposing it frees nothing).</summary>
    public Tensor Write(IOps ops, string layer, Tensor rows, int start)
    {
        if (!_grids.TryGetValue(layer, out var grid))
        {
            grid = ops.Zeros(rows.DType, rows.Dim(0), totalTokens, rows.Dim(2));
            _grids[layer] = grid;
        }
        else if (grid.DType != rows.DType || grid.Dim(0) != rows.Dim(0) || grid.Dim(2) != rows.Dim(2))
            throw new ArgumentException($"StaleKvAttention at {layer}: token rows {rows.DType} {Shape.Format(rows.ShapeSpan)} do not fit the stale grid {grid.DType} {Shape.Format(grid.ShapeSpan)} (batch, width and dtype must stay the same)");
        ops.Copy(grid.Slice(1, start, rows.Dim(1)), rows);
        return grid.Slice(1, 0, totalTokens);
    }

    public void Dispose()
    {
        foreach (var t in _grids.Values) t.Dispose();
        _grids.Clear();
    }
}

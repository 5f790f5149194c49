namespace XDit.Engine.PipeFusion;

/// <summary>
/// Cuts host latents into the row bands of the patches and puts them back. The latent is seen as planes of
/// Rows × RowElements, one per (batch, channel): [B, C, h, w] has C planes of h × w per batch row; Flux's packed
/// [B, N, 64] has one plane of gh token rows × (gw·64). A band keeps the same layout with fewer rows, which is also
/// the layout of the model output and of the noise for that band, so Combine and the scheduler step run on it as
/// on a whole latent.
/// </summary>
sealed class LatentBands
{
    public LatentBands(int batch, int planes, int rows, int rowElements, int rowsPerGridRow)
    {
        Batch = batch; Planes = planes; Rows = rows; RowElements = rowElements; RowsPerGridRow = rowsPerGridRow;
    }

    public int Batch { get; }
    /// <summary>Planes per batch row (channels, or 1 for packed latents).</summary>
    public int Planes { get; }
    public int Rows { get; }
    public int RowElements { get; }
    /// <summary>Latent rows per token-grid row (the patch size, or 1 for packed latents).</summary>
    public int RowsPerGridRow { get; }
    public int Size => Batch * Planes * Rows * RowElements;

    /// <summary>Elements per plane of a band (the "spatial" size Combine takes).</summary>
    public int Spatial(PatchBand band) => band.GridRows * RowsPerGridRow * RowElements;
    public int BandSize(PatchBand band) => Batch * Planes * Spatial(band);

    public float[] Extract(float[] full, PatchBand band)
    {
        var part = new float[BandSize(band)];
        Move(full, part, band, toBand: true);
        return part;
    }

    public void Insert(float[] part, float[] full, PatchBand band) => Move(full, part, band, toBand: false);

    void Move(float[] full, float[] part, PatchBand band, bool toBand)
    {
        int r0 = band.GridRowStart * RowsPerGridRow, n = Spatial(band), plane = Rows * RowElements;
        for (int p = 0; p < Batch * Planes; p++)
        {
            var f = full.AsSpan(p * plane + r0 * RowElements, n);
            var b = part.AsSpan(p * n, n);
            if (toBand) f.CopyTo(b); else b.CopyTo(f);
        }
    }
}

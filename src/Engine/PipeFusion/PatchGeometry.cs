namespace XDit.Engine.PipeFusion;

/// <summary>One PipeFusion patch: a horizontal band of whole token-grid rows and the global image tokens it holds.</summary>
public readonly record struct PatchBand(int Index, int GridRowStart, int GridRows, int TokenStart, int TokenCount)
{
    public int GridRowEnd => GridRowStart + GridRows;
}

/// <summary>
/// xDiT's patch split (DiTRuntimeState._calc_patches_metadata, methods.md §1): bands of latent rows of height
/// ceil(h/M) rounded up to a multiple of patch_size·sp; the patch count is then recomputed (it can shrink, which
/// is reported in <see cref="Warning"/>, never padded), and the last band takes the remainder, which must also be a
/// multiple of patch_size·sp. Inside a band each sequence-parallel rank holds an equal strip of whole rows.
/// </summary>
public sealed class PatchGeometry
{
    PatchGeometry(PatchBand[] bands, int gridH, int gridW, int sp, string? warning)
    {
        Bands = bands; GridH = gridH; GridW = gridW; SpDegree = sp; Warning = warning;
    }

    public IReadOnlyList<PatchBand> Bands { get; }
    public int Count => Bands.Count;
    public int GridH { get; }
    public int GridW { get; }
    public int TotalTokens => GridH * GridW;
    public int SpDegree { get; }
    /// <summary>Set when rounding changed the number of patches asked for (xDiT logs the same warning).</summary>
    public string? Warning { get; }

    /// <param name="gridH">Token-grid rows (latent rows / patch size).</param>
    /// <param name="gridW">Tokens per grid row.</param>
    /// <param name="patchSize">Latent rows per grid row (the transformer's patch size; 2 for Flux's packing).</param>
    /// <param name="patches">num_pipeline_patch asked for.</param>
    /// <param name="sp">Sequence-parallel degree inside a stage.</param>
    public static PatchGeometry Create(int gridH, int gridW, int patchSize, int patches, int sp)
    {
        if (gridH < 1 || gridW < 1 || patchSize < 1) throw new ArgumentException($"bad token grid {gridH}x{gridW} (patch size {patchSize})");
        if (patches < 1) throw new ArgumentException($"num_pipeline_patch must be at least 1, got {patches}");
        if (sp < 1) throw new ArgumentException($"sequence-parallel degree must be at least 1, got {sp}");
        if (patches > gridH)
            throw new ArgumentException($"num_pipeline_patch {patches} is more than the {gridH} token rows of the latent ({gridH * patchSize} latent rows / patch size {patchSize}); patches are bands of whole rows, so use at most {gridH}");
        int hLat = gridH * patchSize, unit = patchSize * sp;
        if (hLat % unit != 0)
            throw new ArgumentException($"the latent's {hLat} rows are not a multiple of patch size {patchSize} × sequence-parallel degree {sp} = {unit}: every PipeFusion band must split into {sp} strips of whole token rows (xDiT refuses the same; nothing is padded)");
        int bandRows = (hLat + patches - 1) / patches;
        bandRows = (bandRows + unit - 1) / unit * unit;
        int count = (hLat + bandRows - 1) / bandRows;
        string? warning = count == patches ? null
            : $"num_pipeline_patch {patches} became {count}: bands of ceil({hLat}/{patches}) latent rows rounded up to a multiple of patch size {patchSize} × sp {sp} = {bandRows} rows";
        var bands = new PatchBand[count];
        for (int p = 0; p < count; p++)
        {
            int r0 = p * bandRows, r1 = Math.Min(hLat, r0 + bandRows);
            int g0 = r0 / patchSize, g = (r1 - r0) / patchSize;
            bands[p] = new PatchBand(p, g0, g, g0 * gridW, g * gridW);
        }
        return new PatchGeometry(bands, gridH, gridW, sp, warning);
    }

    /// <summary>The tokens [start, start + count) that sequence-parallel rank <paramref name="spRank"/> holds of a band.</summary>
    public (int Start, int Count) SubBand(PatchBand band, int spRank)
    {
        int c = band.TokenCount / SpDegree;
        return (band.TokenStart + spRank * c, c);
    }

    /// <summary>Blocks [start, start + count) of stage <paramref name="stage"/> when <paramref name="blocks"/> blocks
    /// (every block list laid end to end) split over <paramref name="stages"/> stages: ceil(L/N) per stage, the last
    /// may get fewer (xDiT _split_transformer_blocks). Refuses a split that leaves a stage without blocks.</summary>
    public static (int Start, int Count) StageBlocks(int blocks, int stages, int stage)
    {
        if (stages < 1) throw new ArgumentException($"pipefusion degree must be at least 1, got {stages}");
        if (stages > blocks)
            throw new ArgumentException($"pipefusion degree {stages} is more than the transformer's {blocks} blocks: every stage needs at least one block");
        int per = (blocks + stages - 1) / stages;
        if ((stages - 1) * per >= blocks)
            throw new ArgumentException($"{blocks} blocks split as ceil({blocks}/{stages}) = {per} per stage leave the last of {stages} stages without blocks; choose a pipefusion degree that leaves each stage at least one block");
        int start = stage * per;
        return (start, Math.Min(blocks, start + per) - start);
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// The 3-D rotary tables the CogVideoX pipeline hands the transformer (diffusers'
/// CogVideoXPipeline._prepare_rotary_positional_embeddings over get_3d_rotary_pos_embed), for the models with
/// use_rotary_positional_embeddings. Each video token (frame t, row i, column j of the patch grid, in that order) gets
/// head_dim features: the first d/4 rotate with its frame position, the next 3d/8 with its row position and the last
/// 3d/8 with its column position, each axis at frequencies 10000^(−2k/dim_axis), every angle repeated for the pair
/// (2k, 2k+1) (the interleaved pairing of <see cref="Kernels.IOps.Rope"/>). The positions:
/// <list type="bullet">
/// <item>1.0 (patch_size_t null), "crop region": the grid is fitted into the trained grid (sample_height/p ×
/// sample_width/p, 30×45) keeping its aspect ratio and centred; rows are linspace(top, bottom·(gh−1)/gh, gh), columns
/// likewise, frames linspace(0, F·(F−1)/F, F), i.e. 0…F−1.</item>
/// <item>1.5 (patch_size_t set), "slice": plain indices 0…gh−1, 0…gw−1 (the grid must fit in the trained grid) and
/// 0…⌈F/p_t⌉−1 over the frame groups.</item>
/// </list>
/// Computed in float32 as torch computes them (frequencies, positions, products), so the tables equal the pipeline's
/// to float32 rounding.
/// </summary>
public static class CogVideoXRotaryTable
{
    /// <summary>diffusers' VAE scale factor of CogVideoX (2^(len(block_out_channels) − 1) = 8).</summary>
    public const int DefaultVaeScaleFactor = 8;

    /// <summary>The pipeline's tables for a video of <paramref name="latentFrames"/> latent frames (latents.size(1):
    /// the frames the transformer is given, for 1.5 after the pipeline padded them to a multiple of p_t) at
    /// <paramref name="height"/>×<paramref name="width"/> pixels. cos and sin, each [tokens, head_dim] row-major, in
    /// the transformer's token order (frame, row, column).</summary>
    public static (float[] Cos, float[] Sin) Build(CogVideoXConfig config, int latentFrames, int height, int width, int vaeScaleFactor = DefaultVaeScaleFactor)
    {
        if (!config.UseRotaryPositionalEmbeddings)
            throw new ArgumentException("CogVideoX RoPE tables: this model has use_rotary_positional_embeddings false (it adds a sin-cos position table instead); the pipeline passes no image_rotary_emb");
        if (latentFrames <= 0 || height <= 0 || width <= 0 || vaeScaleFactor <= 0)
            throw new ArgumentException($"CogVideoX RoPE tables: frames, height, width and the VAE factor must be positive, got {latentFrames}, {height}×{width}, {vaeScaleFactor}");
        int p = config.PatchSize;
        int gh = height / (vaeScaleFactor * p), gw = width / (vaeScaleFactor * p);
        if (gh <= 0 || gw <= 0)
            throw new ArgumentException($"CogVideoX RoPE tables: {height}×{width} px is smaller than one patch ({vaeScaleFactor * p} px)");
        int baseH = config.SampleHeight / p, baseW = config.SampleWidth / p;
        int dim = config.AttentionHeadDim;
        if (config.PatchSizeT is not int pt)
        {
            var ((top, left), (bottom, right)) = ResizeCropRegion(gh, gw, baseW, baseH);
            var rows = Linspace(top, (float)(bottom * (gh - 1.0) / gh), gh);
            var cols = Linspace(left, (float)(right * (gw - 1.0) / gw), gw);
            var frames = Linspace(0, (float)(latentFrames * (latentFrames - 1.0) / latentFrames), latentFrames);
            return Combine(dim, frames, rows, cols);
        }
        else
        {
            int ft = (latentFrames + pt - 1) / pt;
            if (gh > baseH || gw > baseW)
                throw new ArgumentException($"CogVideoX 1.5 RoPE tables: the {gh}×{gw} patch grid of {height}×{width} px exceeds the trained grid {baseH}×{baseW} (sample_height/width over patch_size) that the \"slice\" tables are cut from");
            return Combine(dim, Arange(ft), Arange(gh), Arange(gw));
        }
    }

    /// <summary><see cref="Build"/>'s tables on the backend of <paramref name="ops"/> (float32 [tokens, head_dim] each),
    /// for <see cref="DitInputs.ImageRotaryCos"/>/<see cref="DitInputs.ImageRotarySin"/>; the caller owns both. Build them
    /// once per video, not per step.</summary>
    public static (Tensor Cos, Tensor Sin) Upload(IOps ops, CogVideoXConfig config, int latentFrames, int height, int width, int vaeScaleFactor = DefaultVaeScaleFactor)
    {
        var (cos, sin) = Build(config, latentFrames, height, width, vaeScaleFactor);
        int rows = cos.Length / config.AttentionHeadDim;
        var c = ops.FromHost(cos, rows, config.AttentionHeadDim);
        try { return (c, ops.FromHost(sin, rows, config.AttentionHeadDim)); }
        catch { c.Dispose(); throw; }
    }

    /// <summary>diffusers' get_resize_crop_region_for_grid((gh, gw), baseW, baseH): the grid scaled to fit the
    /// baseH×baseW grid (keeping its aspect ratio, the other side rounded half-to-even as Python's round), centred;
    /// returns (top, left), (bottom, right).</summary>
    public static ((int Top, int Left), (int Bottom, int Right)) ResizeCropRegion(int gridH, int gridW, int baseW, int baseH)
    {
        int rh, rw;
        if ((double)gridH / gridW > (double)baseH / baseW) { rh = baseH; rw = (int)Math.Round((double)baseH / gridH * gridW, MidpointRounding.ToEven); }
        else { rw = baseW; rh = (int)Math.Round((double)baseW / gridW * gridH, MidpointRounding.ToEven); }
        int top = (int)Math.Round((baseH - rh) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((baseW - rw) / 2.0, MidpointRounding.ToEven);
        return ((top, left), (top + rh, left + rw));
    }

    /// <summary>cat[t, h, w] features per token (t, i, j), each axis's angles repeated per pair.</summary>
    static (float[] Cos, float[] Sin) Combine(int dim, float[] t, float[] h, float[] w)
    {
        int dt = dim / 4, dh = dim / 8 * 3, dw = dim / 8 * 3;
        var (tc, ts) = Axis(dt, t);
        var (hc, hs) = Axis(dh, h);
        var (wc, ws) = Axis(dw, w);
        int n = t.Length * h.Length * w.Length;
        var cos = new float[n * dim];
        var sin = new float[n * dim];
        int o = 0;
        for (int a = 0; a < t.Length; a++)
            for (int i = 0; i < h.Length; i++)
                for (int j = 0; j < w.Length; j++)
                {
                    Array.Copy(tc, a * dt, cos, o, dt); Array.Copy(ts, a * dt, sin, o, dt);
                    Array.Copy(hc, i * dh, cos, o + dt, dh); Array.Copy(hs, i * dh, sin, o + dt, dh);
                    Array.Copy(wc, j * dw, cos, o + dt + dh, dw); Array.Copy(ws, j * dw, sin, o + dt + dh, dw);
                    o += dim;
                }
        return (cos, sin);
    }

    /// <summary>diffusers get_1d_rotary_pos_embed(dim, pos, use_real=True) in float32: [pos.Length, dim] cos and sin,
    /// the angle pos·10000^(−2k/dim) repeated for features 2k and 2k + 1.</summary>
    static (float[] Cos, float[] Sin) Axis(int dim, float[] pos)
    {
        int half = dim / 2;
        var freqs = new float[half];
        for (int k = 0; k < half; k++) freqs[k] = 1f / MathF.Pow(10000f, (2f * k) / dim);
        var cos = new float[pos.Length * dim];
        var sin = new float[pos.Length * dim];
        for (int r = 0; r < pos.Length; r++)
            for (int k = 0; k < half; k++)
            {
                float a = pos[r] * freqs[k];
                int f = r * dim + 2 * k;
                cos[f] = cos[f + 1] = (float)Math.Cos(a);
                sin[f] = sin[f + 1] = (float)Math.Sin(a);
            }
        return (cos, sin);
    }

    /// <summary>torch.linspace in float32: the first half counted up from start, the rest down from end.</summary>
    static float[] Linspace(float start, float end, int n)
    {
        var v = new float[n];
        if (n == 1) { v[0] = start; return v; }
        float step = (end - start) / (n - 1);
        int halfway = n / 2;
        for (int i = 0; i < n; i++) v[i] = i < halfway ? start + step * i : end - step * (n - 1 - i);
        return v;
    }

    static float[] Arange(int n)
    {
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i;
        return v;
    }
}

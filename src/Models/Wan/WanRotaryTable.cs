using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Wan;

/// <summary>
/// diffusers WanRotaryPosEmbed: head_dim split into a frame part (t_dim = head_dim − 2·h_dim), a height part and a
/// width part (h_dim = w_dim = 2·⌊head_dim/6⌋), each a 1-D RoPE of theta 10000 over positions 0…rope_max_seq_len − 1
/// (angles in float64, then float32), every angle repeated for its pair (2i, 2i+1). A token (frame f, row y, column x
/// of the patch grid) takes the frame rows of position f, the height rows of y and the width rows of x, in that order:
/// tables [F'·gh·gw, head_dim], one row per token in the order of the patch grid, for the interleaved rotation.
/// </summary>
public static class WanRotaryTable
{
    public const double Theta = 10000.0;

    /// <summary>cos and sin [frames·rows·cols, head_dim] of a grid of <paramref name="frames"/> × <paramref name="rows"/>
    /// × <paramref name="cols"/> patches.</summary>
    public static (float[] Cos, float[] Sin) Build(WanConfig c, int frames, int rows, int cols)
    {
        int max = Math.Max(frames, Math.Max(rows, cols));
        if (max > c.RopeMaxSeqLen)
            throw new ArgumentException($"Wan patch grid {frames}×{rows}×{cols} (frames × rows × columns) exceeds rope_max_seq_len {c.RopeMaxSeqLen}: diffusers' RoPE tables have that many positions per axis");
        int hd = c.AttentionHeadDim, td = c.RopeTDim, sd = c.RopeHDim;
        var (tc, ts) = Axis(td, frames);
        var (hc, hs) = Axis(sd, rows);
        var (wc, ws) = Axis(sd, cols);
        long n = (long)frames * rows * cols;
        var cos = new float[n * hd];
        var sin = new float[n * hd];
        long o = 0;
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++, o += hd)
                {
                    Array.Copy(tc, f * td, cos, o, td);
                    Array.Copy(ts, f * td, sin, o, td);
                    Array.Copy(hc, y * sd, cos, o + td, sd);
                    Array.Copy(hs, y * sd, sin, o + td, sd);
                    Array.Copy(wc, x * sd, cos, o + td + sd, sd);
                    Array.Copy(ws, x * sd, sin, o + td + sd, sd);
                }
        return (cos, sin);
    }

    /// <summary><see cref="Build"/> uploaded as two F32 tensors [N, head_dim] the caller owns.</summary>
    public static (Tensor Cos, Tensor Sin) Upload(IOps ops, WanConfig c, int frames, int rows, int cols)
    {
        var (cos, sin) = Build(c, frames, rows, cols);
        int n = frames * rows * cols;
        var tc = ops.FromHost(cos, n, c.AttentionHeadDim);
        try { return (tc, ops.FromHost(sin, n, c.AttentionHeadDim)); }
        catch { tc.Dispose(); throw; }
    }

    /// <summary>One axis' table [positions, dim]: angle p / θ^(2i/dim) for pair i, each value twice.</summary>
    static (float[] Cos, float[] Sin) Axis(int dim, int positions)
    {
        var cos = new float[positions * dim];
        var sin = new float[positions * dim];
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < dim / 2; i++)
            {
                double freq = 1.0 / Math.Pow(Theta, 2.0 * i / dim);
                double a = p * freq;
                float c = (float)Math.Cos(a), s = (float)Math.Sin(a);
                int k = p * dim + 2 * i;
                cos[k] = cos[k + 1] = c;
                sin[k] = sin[k + 1] = s;
            }
        return (cos, sin);
    }
}

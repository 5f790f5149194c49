using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.HunyuanVideo;

/// <summary>
/// The mid block's attention (diffusers Attention with one head of width C, group norm, residual connection) under
/// the causal frame mask diffusers' HunyuanVideoMidBlock3D builds (prepare_causal_attention_mask): the tokens are
/// the pixels of all frames, frame-major, and a query of frame f sees every key of frames 0 … f and none after.
///
/// The mask is not built: since the tokens are frame-major, the keys a query of frame f sees are exactly the first
/// (f + 1)·H·W tokens, so each frame's queries attend to that prefix of the keys in one unmasked call (the softmax
/// over the visible keys alone is the masked softmax). That is T calls over key prefixes instead of one over an
/// N×N mask (N = T·H·W, 475k tokens for a 129-frame 720p video), half the work of the full attention, and, with
/// no bias, CUDA's GEMM path for heads wider than its kernels' (512 here), which takes no mask, stays open. The
/// weights are group_norm, to_q, to_k, to_v and to_out.0 (Linear [C, C] each, as every HunyuanVideo checkpoint
/// stores them), each asked for with its shape, so random weights at the real size load too (the 2-D decoder's
/// <see cref="VaeAttentionBlock"/> also takes the old 1×1-convolution names and probes the file for them).
/// </summary>
public sealed class HunyuanVideoMidAttention
{
    public HunyuanVideoMidAttention(WeightScope w, int channels, int groups)
    {
        Name = w.Prefix;
        Channels = channels;
        Norm = VaeGroupNorm.Load(w.Pp("group_norm"), channels, groups, HunyuanVideoVaeConfig.NormEps);
        Q = w.Linear("to_q", channels, channels);
        K = w.Linear("to_k", channels, channels);
        V = w.Linear("to_v", channels, channels);
        Out = w.Linear("to_out.0", channels, channels);
    }

    public string Name { get; }
    public int Channels { get; }
    public VaeGroupNorm Norm { get; }
    public Linear Q { get; }
    public Linear K { get; }
    public Linear V { get; }
    public Linear Out { get; }

    /// <summary>x [B, C, T, H, W] → x + to_out(attention of the normed tokens under the frame mask), [B, C, T, H, W].</summary>
    public Tensor Forward(IOps ops, Tensor x)
    {
        int b = x.Dim(0), c = Channels, t = x.Dim(2), h = x.Dim(3), w = x.Dim(4), n = h * w, tokens = t * n;
        var norm = Norm;
        Tensor seq;
        using (var normed = ops.GroupNorm(x, norm.Groups, norm.Weight, norm.Bias, norm.Eps))
            seq = ops.Contiguous(normed.Reshape(b, c, tokens).Permute(0, 2, 1));   // [B, T·H·W, C]
        Tensor attended;
        using (seq)
        {
            using var q = Q.Apply(ops, seq);
            using var k = K.Apply(ops, seq);
            using var v = V.Apply(ops, seq);
            var q4 = q.Reshape(b, tokens, 1, c);
            var k4 = k.Reshape(b, tokens, 1, c);
            var v4 = v.Reshape(b, tokens, 1, c);
            attended = ops.Empty(q.DType, b, tokens, 1, c);
            try
            {
                for (int f = 0; f < t; f++)
                {
                    int seen = (f + 1) * n;
                    using var o = ops.Attention(q4.Slice(1, f * n, n), k4.Slice(1, 0, seen), v4.Slice(1, 0, seen));
                    ops.Copy(attended.Slice(1, f * n, n), o);
                }
            }
            catch { attended.Dispose(); throw; }
        }
        Tensor projected;
        using (attended) projected = Out.Apply(ops, attended.Reshape(b, tokens, c));
        using (projected) return ops.Add(x, projected.Reshape(b, t, h, w, c).Permute(0, 4, 1, 2, 3));
    }
}

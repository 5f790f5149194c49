using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Runtime;

namespace XDit.Models.Vae.Wan;

/// <summary>
/// The decoder of diffusers' AutoencoderKLWan (Wan 2.1's causal video VAE): <see cref="Decode"/> equals
/// <c>vae.decode(z).sample</c> with tiling off. z is what the pipeline makes of its latents first (WanPipeline:
/// z = latents · latents_std + latents_mean per channel, <see cref="WanVaeConfig.LatentsStd"/>); the result is the
/// video [B, out_channels, 1 + 4(F − 1), 8h, 8w] clamped to [−1, 1].
///
/// As diffusers' _decode: post_quant_conv (1×1×1) on all of z, then the decoder one latent frame at a time: conv_in,
/// the mid block (residual, per-frame attention, residual), the up blocks, norm_out + SiLU, conv_out. Every causal
/// convolution pads zeros before the first frame and carries its last two input frames from one latent frame to the
/// next (CACHE_T = 2, the shared <see cref="CogVideoXConvCache"/>); the time-doubling upsamplers skip their
/// time_conv on the first latent frame, so it decodes to one frame and every later one to four. Norms and attention
/// are per frame, so nothing else couples the frames. Tensors are [B, C, T, H, W] between layers, as diffusers'; the
/// encoder's tensors are not loaded.
/// </summary>
public sealed class AutoencoderKLWan : IDisposable
{
    readonly ModelWeights _weights;

    AutoencoderKLWan(WanVaeConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var root = weights.Root;
        int z = config.ZDim, mid = config.MidChannels;
        var pq = root.Pp("post_quant_conv");
        PostQuantWeight = pq.GetOperand("weight", z, z, 1, 1, 1).Reshape(z, z, 1, 1);
        PostQuantBias = pq.GetOperand("bias", z);

        var decoder = root.Pp("decoder");
        ConvIn = CogVideoXCausalConv3d.LoadZeroPadded(decoder.Pp("conv_in"), z, mid, 3, 3);
        MidBlock = new WanMidBlock(decoder.Pp("mid_block"), mid);
        int n = config.DimMult.Length;
        var ups = new WanUpBlock[n];
        for (int i = 0; i < n; i++)
            ups[i] = new WanUpBlock(decoder.Pp("up_blocks").Pp(i), config.UpInChannels(i), config.UpOutChannels(i), config.NumResBlocks + 1,
                upsample: i < n - 1, time: config.UpsamplesTime(i));
        UpBlocks = ups;
        int last = config.UpOutChannels(n - 1);
        NormOut = WanRmsNorm.Load(decoder.Pp("norm_out"), last, images: false);
        ConvOut = CogVideoXCausalConv3d.LoadZeroPadded(decoder.Pp("conv_out"), last, config.OutChannels, 3, 3);
    }

    public WanVaeConfig Config { get; }
    /// <summary>post_quant_conv as a 1×1 Conv2d weight [Z, Z, 1, 1].</summary>
    public Tensor PostQuantWeight { get; }
    public Tensor PostQuantBias { get; }
    public CogVideoXCausalConv3d ConvIn { get; }
    public WanMidBlock MidBlock { get; }
    public IReadOnlyList<WanUpBlock> UpBlocks { get; }
    public WanRmsNorm NormOut { get; }
    public CogVideoXCausalConv3d ConvOut { get; }

    /// <summary>Elements of gathered input one convolution call reads at most
    /// (<see cref="CogVideoXCausalConv3d.DefaultGatherElements"/>): the convolutions and upsamplers gather their
    /// frames for Conv2d a chunk of frames at a time within it. Results do not depend on it.</summary>
    public long ConvGatherElements { get; set; } = CogVideoXCausalConv3d.DefaultGatherElements;
    /// <summary>Pixels per latent pixel along each axis (8).</summary>
    public int SpatialFactor => Config.SpatialFactor;
    /// <summary>Whether the decoder computes in float32 whatever the activations' dtype (the weights are kept in
    /// float32 and z is cast to it, so the video comes back float32), as diffusers' Wan pipelines load the VAE in
    /// float32; see <see cref="AutoencoderKL.Float32"/>.</summary>
    public bool Float32 { get; private init; }
    /// <summary>Bytes of the decoder's weights.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the decoder's weights of a diffusers AutoencoderKLWan folder.</summary>
    /// <param name="float32">keep the weights in float32 and decode in float32 (<see cref="Float32"/>); false: the
    /// backend's activation dtype</param>
    public static AutoencoderKLWan Load(string dir, IOps ops, bool float32 = false)
    {
        var config = WanVaeConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops, float32);
    }

    /// <summary>The decoder of <paramref name="config"/> with its weights from <paramref name="source"/> (a
    /// checkpoint, or random weights at the real size for a benchmark or the launch ledger).</summary>
    public static AutoencoderKLWan Load(WanVaeConfig config, ITensorSource source, IOps ops, bool float32 = false)
    {
        var weights = new ModelWeights(source, ops, float32 ? DType.F32 : null);
        var owned = new List<Tensor>();
        try { return weights.Checked(new AutoencoderKLWan(config, weights) { Float32 = float32 }, "encoder", "quant_conv"); }
        catch
        {
            foreach (var t in owned) t.Dispose();
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Video frames made from <paramref name="latentFrames"/> latent frames: 1 + 4(F − 1).</summary>
    public int OutputFrames(int latentFrames) => 1 + Config.TemporalFactor * (latentFrames - 1);

    /// <summary>Decodes z [B, z_dim, F, h, w] (channel-major, already mapped by the pipeline; a strided view is read
    /// in place) to the video [B, out_channels, <see cref="OutputFrames"/>(F), 8h, 8w] clamped to [−1, 1], in
    /// float32 when <see cref="Float32"/>, else in z's dtype.</summary>
    public Tensor Decode(IOps ops, Tensor z)
    {
        if (z.Rank != 5 || z.Dim(1) != Config.ZDim || z.Dim(2) < 1)
            throw new ArgumentException($"{Config.Path}: decode expects z [B, {Config.ZDim}, F ≥ 1, h, w], got {Shape.Format(z.ShapeSpan)}");
        int b = z.Dim(0), f = z.Dim(2), h = z.Dim(3), w = z.Dim(4), s = SpatialFactor;
        var dtype = Float32 ? DType.F32 : z.DType;
        using var x = PostQuant(ops, z, dtype);
        var video = ops.Empty(dtype, b, Config.OutChannels, OutputFrames(f), h * s, w * s);
        try
        {
            using var cache = new CogVideoXConvCache { GatherElements = ConvGatherElements };
            int at = 0;
            for (int i = 0; i < f; i++)
            {
                using var decoded = DecodeFrame(ops, x.Slice(2, i, 1), cache, firstChunk: i == 0);
                using var clamped = Clamp(ops, decoded);
                ops.Copy(video.Slice(2, at, clamped.Dim(2)), clamped);
                at += clamped.Dim(2);
            }
        }
        catch { video.Dispose(); throw; }
        return video;
    }

    /// <summary>post_quant_conv (a 1×1×1 convolution, so a 1×1 Conv2d over [B, Z, F·h, w]) of z in the decoder's
    /// dtype → [B, Z, F, h, w], contiguous.</summary>
    Tensor PostQuant(IOps ops, Tensor z, DType dtype)
    {
        int b = z.Dim(0), c = z.Dim(1), f = z.Dim(2), h = z.Dim(3), w = z.Dim(4);
        using var zc = z.DType != dtype ? ops.Cast(z, dtype) : z.IsContiguous ? null : ops.Contiguous(z);
        return ops.Conv2d((zc ?? z).Reshape(b, c, f * h, w), PostQuantWeight, PostQuantBias).TakeReshaped(b, c, f, h, w);
    }

    /// <summary>One pass of diffusers' WanDecoder3d over the chunk of one latent frame x [B, Z, 1, h, w] (after
    /// post_quant_conv, in the decoder's dtype): conv_in, the mid block, the up blocks, norm_out + SiLU, conv_out
    /// → [B, out_channels, T', 8h, 8w], T' = 1 for the first chunk, else 4; not clamped.</summary>
    public Tensor DecodeFrame(IOps ops, Tensor x, CogVideoXConvCache cache, bool firstChunk)
    {
        var h = ConvIn.Forward(ops, x, cache);
        h = Step(h, MidBlock.Forward(ops, h, cache));
        foreach (var up in UpBlocks) h = Step(h, up.Forward(ops, h, cache, firstChunk));
        Tensor a;
        using (h) a = NormOut.ChannelsLast(ops, h, Activation.Silu);
        using (a) return ConvOut.Forward(ops, a.Permute(0, 4, 1, 2, 3), cache);
    }

    /// <summary>clamp(x, −1, 1) from existing pointwise ops: x − relu(x − 1) + relu(−x − 1). Both relu terms are
    /// exactly 0 inside [−1, 1], so the values there pass unchanged in any dtype.</summary>
    static Tensor Clamp(IOps ops, Tensor x)
    {
        Tensor above, below;
        using (var t = ops.Scale(x, 1f, -1f)) above = ops.Activate(t, Activation.Relu);
        using (var t = ops.Scale(x, -1f, -1f)) below = ops.Activate(t, Activation.Relu);
        Tensor correction;
        using (above)
        using (below)
        using (var negAbove = ops.Scale(above, -1f)) correction = ops.Add(below, negAbove);
        using (correction) return ops.Add(x, correction);
    }

    /// <summary>Bytes a decode allocates at its peak besides the weights, for the pipeline's memory plan. Counted on
    /// the widest map of one chunk, M = batch · max over the decoder's stages of channels · frames · pixels (for Wan
    /// 2.1 the last up block's 96 channels × 4 frames at full resolution, tied with up block 1's 384 channels × 2
    /// frames at a quarter of the pixels): a residual block's input (kept for its sum), its normed and activated
    /// input (the norm's channels-last result and the activation's, and on the GPU the norm's dense copy of its
    /// permuted input), 4M, plus what one convolution call holds for a chunk of frames (the frames gathered, kt = 3
    /// per frame, the call's output and its sum with the residual, 5 frame maps, within
    /// <see cref="ConvGatherElements"/>), the causal convolutions' cached frames (two frames of every 3-tap
    /// convolution's input, summed over the layers), z after post_quant_conv and the video itself; on the CPU one
    /// convolution's im2col and GEMM packing of one frame (2 · 27 values per input channel and pixel). cuDNN's
    /// workspace beyond the backend's shared one is not counted; the mid block's attention is per frame at the
    /// latent size. Linear in the batch and the pixels; in the frames only through z and the video.</summary>
    public long EstimateDecodeBytes(int batch, int latentFrames, int height, int width, bool cpu = false)
    {
        int bytes = (Float32 ? DType.F32 : _weights.OperandType).SizeOf();
        double px = (double)height * width;   // latent pixels
        double widest = 0, cached = 0, widestFrame = 0;
        void Stage(int channels, int frames, double pixels)
        {
            widest = Math.Max(widest, (double)channels * frames * pixels);
            widestFrame = Math.Max(widestFrame, (double)channels * pixels);
        }
        void Cache(int channels, double pixels) => cached += 2.0 * channels * pixels;

        int mid = Config.MidChannels, t = 1;
        double p = px;
        Cache(Config.ZDim, p);                       // conv_in
        Stage(mid, t, p);
        Cache(mid, p); Cache(mid, p); Cache(mid, p); Cache(mid, p);   // the mid block's two residual blocks
        for (int i = 0; i < UpBlocks.Count; i++)
        {
            int cin = Config.UpInChannels(i), cout = Config.UpOutChannels(i);
            Stage(cin, t, p);
            Stage(cout, t, p);
            for (int r = 0; r < UpBlocks[i].Resnets.Count; r++) { Cache(r == 0 ? cin : cout, p); Cache(cout, p); }
            if (UpBlocks[i].Upsampler is { } up)
            {
                if (up.TimeConv is not null) { Cache(cout, p); Stage(2 * cout, t, p); t *= 2; }
                p *= 4;
                Stage(cout / 2, t, p);
            }
        }
        Cache(Config.UpOutChannels(UpBlocks.Count - 1), p);   // conv_out
        double m = batch * widest;
        double perGathered = 3.0 * batch * widestFrame;
        int chunk = (int)Math.Clamp(ConvGatherElements / Math.Max(perGathered, 1), 1, t);
        double working = 4 * m + 5 * chunk * batch * widestFrame;
        double im2col = cpu ? 2 * 27 * widestFrame : 0;   // one image of the Conv2d batch at a time
        double latents = (double)batch * Config.ZDim * latentFrames * px;
        double video = (double)batch * Config.OutChannels * OutputFrames(latentFrames) * p;
        double total = (working + batch * cached + im2col + latents + video) * bytes;
        return total >= long.MaxValue ? long.MaxValue : (long)total;
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}

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
/// encoder's tensors are not loaded. One device decodes: it is not a DiffusionTransformer, so the sequence-parallel
/// executors do not apply, and the patch-parallel VAE (VaeSpatialOps) covers 2-D decoders, not causal 3-D ones.
/// Qwen-Image's VAE (AutoencoderKLQwenImage) is this model under other config keys and decodes here too, one latent
/// frame to one image frame (<see cref="WanVaeConfig.QwenImageClassName"/>, QwenImageVaeLatents for its pipeline).
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

    /// <summary>What WanPipeline does to its latents [B, z_dim, F, h, w] before <see cref="Decode"/>:
    /// z = latents · latents_std + latents_mean per channel (diffusers divides by 1/latents_std), in the latents'
    /// dtype. The encoder's inverse for image-to-video conditioning is (mean − latents_mean) / latents_std.</summary>
    public Tensor LatentsToZ(IOps ops, Tensor latents)
    {
        int c = Config.ZDim;
        if (latents.Rank != 5 || latents.Dim(1) != c)
            throw new ArgumentException($"{Config.Path}: latents must be [B, {c}, F, h, w], got {Shape.Format(latents.ShapeSpan)}");
        Config.RequireLatentStats();
        using var std = ops.FromHost(Config.LatentsStd.Select(v => (float)v).ToArray(), 1, c, 1, 1, 1);
        using var mean = ops.FromHost(Config.LatentsMean.Select(v => (float)v).ToArray(), 1, c, 1, 1, 1);
        using var stdT = std.DType != latents.DType ? ops.Cast(std, latents.DType) : null;
        using var meanT = mean.DType != latents.DType ? ops.Cast(mean, latents.DType) : null;
        using var scaled = ops.Mul(latents, stdT ?? std);
        return ops.Add(scaled, meanT ?? mean);
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
        foreach (var up in UpBlocks) h = up.Forward(ops, h, cache, firstChunk);   // each takes its input
        Tensor a;
        using (h) a = NormOut.ChannelsFirst(ops, h, Activation.Silu);
        using (a) return ConvOut.Forward(ops, a, cache);
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

    /// <summary>Bytes a decode allocates at its peak besides the weights, for the pipeline's memory plan: the causal
    /// convolutions' cache (two frames of every 3-tap convolution's input, summed over the layers: 3.5 GB of the
    /// 6.6 GB peak for Wan 2.1 at 480×832 in float32), z after post_quant_conv, the video, and the largest working
    /// set of one layer of a non-first chunk (4 frames at full resolution), taken over the layers: a residual
    /// convolution holds its block's input (kept for the sum), its normed input, its output and, for a chunk of
    /// frames within <see cref="ConvGatherElements"/>, the frames gathered (kt = 3 per frame of its input), the
    /// call's output and its sum with the residual, plus the cache's replacement frames; an upsampler holds its
    /// input, time_conv's doubled output, its own output and, for a chunk, the repeated frames gathered (its input
    /// channels at the doubled size) and the call's output; the clamp holds the chunk's video and four passes. On the CPU one convolution's im2col and GEMM packing of
    /// one frame (2 · 27 values per input channel and pixel). cuDNN's workspace beyond the backend's shared one is
    /// not counted; the mid block's attention is per frame at the latent size. Linear in the batch and the pixels;
    /// in the frames only through z and the video.</summary>
    public long EstimateDecodeBytes(int batch, int latentFrames, int height, int width, bool cpu = false)
    {
        int bytes = (Float32 ? DType.F32 : _weights.OperandType).SizeOf();
        double b = batch, px = (double)height * width;   // latent pixels
        double cached = 0, working = 0, im2colFrame = 0;
        int Chunk(double perFrame, int frames) => (int)Math.Clamp(ConvGatherElements / Math.Max(perFrame, 1), 1, frames);
        // a 3×3×3 convolution from cin to cout channels over t frames of p pixels, with its residual sum
        void Conv(int cin, int cout, int t, double p)
        {
            cached += 2.0 * b * cin * p;
            int chunk = Chunk(3 * b * cin * p, t);
            double held = b * t * p * (2.0 * cin + cout) + b * chunk * p * (3.0 * cin + 2 * cout) + 2 * b * cin * p;
            working = Math.Max(working, held);
            im2colFrame = Math.Max(im2colFrame, 27.0 * cin * p);
        }

        int mid = Config.MidChannels, frames = 1;
        double pixels = px;
        Conv(Config.ZDim, mid, frames, pixels);                                 // conv_in
        for (int r = 0; r < 4; r++) Conv(mid, mid, frames, pixels);              // the mid block's two residual blocks
        for (int i = 0; i < UpBlocks.Count; i++)
        {
            int cin = Config.UpInChannels(i), cout = Config.UpOutChannels(i);
            for (int r = 0; r < UpBlocks[i].Resnets.Count; r++)
            {
                Conv(r == 0 ? cin : cout, cout, frames, pixels);
                Conv(cout, cout, frames, pixels);
            }
            if (UpBlocks[i].Upsampler is { } up)
            {
                int t2 = frames;
                double doubled = 0;
                if (up.TimeConv is not null)
                {
                    // time_conv itself: its input, its output, a chunk's gathered frames and output, the new cache
                    cached += 2.0 * b * cout * pixels;
                    doubled = 2.0 * b * cout * frames * pixels;
                    int tc = Chunk(3 * b * cout * pixels, frames);
                    working = Math.Max(working, b * cout * frames * pixels + doubled + b * tc * pixels * 5.0 * cout + 2 * b * cout * pixels);
                    t2 = 2 * frames;
                }
                int chunk = Chunk(4 * b * cout * pixels, t2);
                double held = b * cout * frames * pixels + doubled + b * (cout / 2) * t2 * 4 * pixels
                    + b * chunk * 4 * pixels * (cout + cout / 2.0);
                working = Math.Max(working, held);
                frames = t2;
                pixels *= 4;
            }
        }
        Conv(Config.UpOutChannels(UpBlocks.Count - 1), Config.OutChannels, frames, pixels);   // conv_out
        working = Math.Max(working, 5.0 * b * Config.OutChannels * frames * pixels);           // the clamp's passes
        double im2col = cpu ? 2 * im2colFrame : 0;   // one image of the Conv2d batch at a time
        double latents = b * Config.ZDim * latentFrames * px;
        double video = b * Config.OutChannels * OutputFrames(latentFrames) * pixels;
        double total = (working + cached + im2col + latents + video) * bytes;
        return total >= long.MaxValue ? long.MaxValue : (long)total;
    }

    static Tensor Step(Tensor previous, Tensor next)
    {
        previous.Dispose();
        return next;
    }

    public void Dispose() => _weights.Dispose();
}

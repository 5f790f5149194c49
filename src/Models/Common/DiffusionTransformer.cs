using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models;

/// <summary>Inputs of one DiT forward pass, named as the diffusers forward() names them. A model uses the ones it needs.</summary>
public sealed record DitInputs
{
    /// <summary>PixArt/SD3: latents [B, C, H, W]. Flux: packed latents [B, N, C·4]. CogVideoX: video latents
    /// [B, F, C, H, W] (frames before channels, as its pipeline passes them).</summary>
    public required Tensor HiddenStates { get; init; }
    /// <summary>Text encoder states [B, T, D_text] (HunyuanDiT: the BERT states).</summary>
    public required Tensor EncoderHiddenStates { get; init; }
    /// <summary>PixArt, HunyuanDiT (text_embedding_mask): [B, T] with 1 for kept and 0 for padded text tokens.</summary>
    public Tensor? EncoderAttentionMask { get; init; }
    /// <summary>HunyuanDiT: the mT5 states [B, text_len_t5, D_t5] and their mask [B, text_len_t5] (1 kept, 0 padded).</summary>
    public Tensor? EncoderHiddenStatesT5 { get; init; }
    public Tensor? EncoderAttentionMaskT5 { get; init; }
    /// <summary>HunyuanDiT with use_style_cond_and_image_meta_size: image_meta_size [B, 6] (original size, target
    /// size, crop top-left) and one style id per batch row.</summary>
    public Tensor? ImageMetaSize { get; init; }
    public long[]? Style { get; init; }
    /// <summary>HunyuanDiT's 2-D (CogVideoX's 3-D) rotary tables of the image tokens (image_rotary_emb) [N, head_dim],
    /// features paired (2i, 2i+1), one row per token in the order of the patch grid (per token, not per batch row).</summary>
    public Tensor? ImageRotaryCos { get; init; }
    public Tensor? ImageRotarySin { get; init; }
    /// <summary>SD3/Flux pooled text projection [B, D_pooled] (SDXL: text_embeds).</summary>
    public Tensor? PooledProjections { get; init; }
    /// <summary>One timestep per batch row, as the pipeline passes it (PixArt/SD3: 0..1000; Flux: σ, scaled by 1000 inside).</summary>
    public required float[] Timestep { get; init; }
    /// <summary>CogVideoX 1.5-I2V's ofs: one value for every batch row (the pipeline's 2.0), or one per row.</summary>
    public float[]? Ofs { get; init; }
    /// <summary>Flux-dev guidance per batch row (scaled by 1000 inside).</summary>
    public float[]? Guidance { get; init; }
    /// <summary>Flux position ids: image [N, 3], text [T, 3] (float32).</summary>
    public Tensor? ImgIds { get; init; }
    public Tensor? TxtIds { get; init; }
    /// <summary>Qwen-Image's img_shapes: the (frames, height, width) grid of the packed image tokens, the same for
    /// every batch row (diffusers' QwenEmbedRope takes the first row's). LTX-Video: num_frames, height, width.</summary>
    public (int Frames, int Height, int Width)? ImgShape { get; init; }
    /// <summary>LTX-Video's rope_interpolation_scale (t, h, w): the latent's size in pixels and seconds per latent step
    /// (the pipeline's vae temporal ratio / frame_rate, then the spatial ratio twice), which scales its RoPE grid;
    /// its (num_frames, height, width) token grid is <see cref="ImgShape"/>.</summary>
    public (float T, float H, float W)? RopeInterpolationScale { get; init; }
    /// <summary>PixArt-α micro-conditions: resolution [B, 2] (h, w) and aspect ratio [B, 1].</summary>
    public Tensor? Resolution { get; init; }
    public Tensor? AspectRatio { get; init; }
    /// <summary>SDXL's added_cond_kwargs time_ids, row-major [B, n] on the host (original size, crop top-left, target
    /// size: n = 6); its text_embeds are <see cref="PooledProjections"/>.</summary>
    public float[]? TimeIds { get; init; }
}

/// <summary>
/// A diffusion transformer split into the stages the parallel executors need: embed the whole input once, run
/// any block on the tokens a rank holds, finish the local tokens, then unpatchify the gathered tokens.
/// <see cref="Forward"/> is the plain composition and matches the diffusers forward().
/// </summary>
public abstract class DiffusionTransformer : IDisposable
{
    public abstract int NumBlocks { get; }
    public abstract int NumHeads { get; }
    public abstract int HeadDim { get; }
    /// <summary>Bytes of the weights on the backend (for estimates of the work a request takes).</summary>
    public abstract long WeightBytes { get; }
    /// <summary>Width of the output token features (p·p·C_out, or Flux's packed 64).</summary>
    public abstract int OutFeatures { get; }

    /// <summary>Patch-embeds the whole input and computes the conditioning. The state holds all image tokens.</summary>
    public abstract DitState Embed(IOps ops, DitInputs inputs);
    /// <summary>Runs block <paramref name="index"/> (0-based over all blocks, e.g. Flux's double then single blocks)
    /// on the state, replacing its Image/Text tensors.</summary>
    public abstract void RunBlock(IOps ops, int index, DitState state, IAttention attention);
    /// <summary>Final norm and projection of the held image tokens → [B, TokenCount, OutFeatures].</summary>
    public abstract Tensor Finish(IOps ops, DitState state);
    /// <summary>Turns all output tokens [B, TotalTokens, OutFeatures] into the model's output as diffusers returns it.</summary>
    public abstract Tensor Unpatchify(IOps ops, Tensor tokens, DitState state);

    /// <summary>
    /// TeaCache's indicator: block 0's AdaLN modulation applied to the state's image tokens, LN(x)·(1 + scale) +
    /// shift (diffusers' transformer_blocks[0].norm1(x, temb)[0]), computed on the state right after
    /// <see cref="Embed"/> without changing it. Models that do not provide it throw.
    /// </summary>
    public virtual Tensor FirstBlockModulatedInput(IOps ops, DitState state)
        => throw new NotSupportedException($"{GetType().Name} does not expose block 0's modulated input (the TeaCache indicator); use the first-block cache instead");

    /// <summary>The long skip connections as (From, To) block pairs: block From's output is kept in
    /// <see cref="DitState.Skips"/> (shaped as the image tokens) and joined by block To &gt; From. Nested as in a
    /// U-Net (the latest kept is the first joined), in ascending From; empty for models without (all but HunyuanDiT).
    /// PipeFusion sends each kept output from the stage of From straight to the stage of To.</summary>
    public virtual IReadOnlyList<(int From, int To)> LongSkips => [];

    /// <summary>True when the blocks only read <see cref="DitState.Text"/> (a cross-attention context, PixArt and
    /// HunyuanDiT) and never replace it; false for joint streams the blocks rewrite (SD3, Flux), which must then travel
    /// with the image tokens between PipeFusion stages.</summary>
    public virtual bool BlocksOnlyReadText => false;

    /// <summary>Called by a step cache that stood a stored residual in for block <paramref name="index"/> (the state's
    /// image tokens now hold its approximate output): does the state bookkeeping the block would have done, so that
    /// later blocks that run find what they expect. HunyuanDiT drops the long skip the block would have joined and
    /// keeps the approximate output where the block's output would have been kept; nothing for other models.</summary>
    public virtual void BlockStoodIn(IOps ops, int index, DitState state) { }

    /// <summary>Whether <see cref="Embed"/>, <see cref="RunBlock"/>, <see cref="Finish"/> and <see cref="Unpatchify"/>
    /// exist: false for a denoiser that only runs whole (SDXL's UNet), which the engine then calls through
    /// <see cref="Forward"/> alone (no CUDA graph of the blocks, a ledger of one "forward" scope).</summary>
    public virtual bool HasTokenStages => true;

    /// <summary>Whether the blocks hand their self-attention to an <see cref="IModuleAttention"/> as whole modules
    /// (what DiTFastAttn needs; PixArt does).</summary>
    public virtual bool OffersSelfAttentionModules => false;

    /// <summary>The whole forward pass: <see cref="Embed"/>, every block, <see cref="Finish"/> and
    /// <see cref="Unpatchify"/>. Virtual for a denoiser without token stages (SDXL's UNet), which overrides it and
    /// refuses the stage methods, so that it runs where the engine calls Forward (one rank, CFG and data parallel)
    /// and nowhere a method needs the stages (sequence parallel, PipeFusion, the caches).</summary>
    public virtual Tensor Forward(IOps ops, DitInputs inputs, IAttention? attention = null)
    {
        using var state = Embed(ops, inputs);
        return ForwardFromState(ops, state, attention);
    }

    /// <summary>The rest of <see cref="Forward"/> after <see cref="Embed"/>: every block, Finish and Unpatchify, on
    /// the device alone (no host transfer), which is what a CUDA graph can record.</summary>
    public Tensor ForwardFromState(IOps ops, DitState state, IAttention? attention = null)
    {
        attention ??= LocalAttention.Instance;
        for (int i = 0; i < NumBlocks; i++) RunBlock(ops, i, state, attention);
        using var tokens = Finish(ops, state);
        return Unpatchify(ops, tokens, state);
    }

    public abstract void Dispose();
}

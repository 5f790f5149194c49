using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Models.Latte;

/// <summary>
/// diffusers LatteTransformer3DModel (Latte-1, text-to-video), the second video model. Latents come as its pipeline
/// passes them, hidden_states [B, C, F, H, W], and the output has that layout ([B, C_out, F, H, W]). Each frame is
/// patch-embedded as a PixArt image (Conv2d patches plus the 2-D sin-cos table); the conditioning is PixArt's
/// adaln_single without micro-conditions and its caption projection. Block i is a pair: spatial block i (PixArt's
/// BasicTransformerBlock over the patches of each frame, cross-attending to the caption), then, with temporal
/// attention on, temporal block i (self-attention over the frames of each patch position; before the first one the
/// 1-D sin-cos frame table is added).
/// As a <see cref="DiffusionTransformer"/>: the state's image tokens are [B, F·gh·gw, D] frame-major, its grid
/// <see cref="DitState.GridT"/> = F frames of gh rows stacked in <see cref="DitState.GridH"/> = F·gh, as CogVideoX's.
/// The conditioning is per batch row and the same for every frame, so it broadcasts over all tokens. Sequence
/// parallelism and PipeFusion are refused: a spatial block needs whole frames and a temporal block every frame of a
/// position, which no single cut of the token axis gives both (CFG and data parallelism run it whole).
/// </summary>
public sealed class LatteTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _patchEmbed;          // conv weight [D, C, p, p] viewed as [D, C·p·p]
    readonly TextProjection _captionProjection;
    readonly TimestepEmbedding _timestep;
    readonly Linear _adaLinear;
    readonly LatteBlock[] _spatial, _temporal;
    readonly Tensor _finalScaleShift;     // [2, D]: shift row, then scale row
    readonly Linear _projOut;
    readonly PositionTableCache _positionTables;
    readonly LatteFrameTable _frameTable;

    LatteTransformer(LatteConfig config, ModelWeights weights, bool enableTemporalAttentions)
    {
        Config = config;
        EnableTemporalAttentions = enableTemporalAttentions;
        _weights = weights;
        _positionTables = new PositionTableCache(config.InnerDim, config.BaseSize, config.InterpolationScale);
        _frameTable = new LatteFrameTable(config.InnerDim);
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize;

        var posEmbed = w.Pp("pos_embed");
        var conv = posEmbed.GetOperand("proj.weight", d, c.InChannels, p, p);
        _patchEmbed = new Linear(conv.Reshape(d, c.InChannels * p * p), posEmbed.GetOperand("proj.bias", d));
        _captionProjection = TextProjection.Load(w.Pp("caption_projection"), c.CaptionChannels, d, Activation.GeluTanh);
        _timestep = TimestepEmbedding.Load(w.Pp("adaln_single").Pp("emb").Pp("timestep_embedder"), d);
        _adaLinear = w.Linear("adaln_single.linear", d, 6 * d);

        // the temporal blocks are loaded with temporal attention off too: they are in the checkpoint either way
        var spatial = w.Pp("transformer_blocks");
        var temporal = w.Pp("temporal_transformer_blocks");
        _spatial = Enumerable.Range(0, c.NumLayers).Select(i => new LatteBlock(spatial.Pp(i), c, spatial: true)).ToArray();
        _temporal = Enumerable.Range(0, c.NumLayers).Select(i => new LatteBlock(temporal.Pp(i), c, spatial: false)).ToArray();
        _finalScaleShift = w.Get("scale_shift_table", 2, d);
        _projOut = w.Linear("proj_out", d, c.OutFeatures);
    }

    public LatteConfig Config { get; }
    /// <summary>diffusers' forward argument enable_temporal_attentions (the pipeline's default true), fixed at load so
    /// that every forward of this model (and a CUDA graph recorded of it) computes the same thing.</summary>
    public bool EnableTemporalAttentions { get; }
    public override int NumBlocks => Config.NumLayers;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    /// <summary>The projected caption is a cross-attention context the blocks only read.</summary>
    public override bool BlocksOnlyReadText => true;
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the weights of a diffusers transformer folder.</summary>
    public static LatteTransformer Load(string dir, IOps ops, bool enableTemporalAttentions = true)
    {
        var config = LatteConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops, enableTemporalAttentions);
    }

    public static LatteTransformer Load(LatteConfig config, ITensorSource source, IOps ops, bool enableTemporalAttentions = true)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new LatteTransformer(config, w, enableTemporalAttentions)); }
        catch { w.Dispose(); throw; }
    }

    // ---------------------------------------------------------------- stages

    /// <summary>Inputs: HiddenStates [B, C, F, H, W] (F = video_length with temporal attention, or 1),
    /// EncoderHiddenStates [B, T, caption_channels] (T5 states), Timestep one per batch row (0…999). No mask: the
    /// Latte pipeline passes none, and diffusers' model would add a 0/1 mask to the scores as it is.</summary>
    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        int p = c.PatchSize, d = c.InnerDim;
        if (x.Rank != 5 || x.Dim(1) != c.InChannels || x.Dim(3) % p != 0 || x.Dim(4) % p != 0)
            throw new ArgumentException($"Latte hidden_states must be [B, {c.InChannels}, F, H, W] (channels before frames) with H, W multiples of {p}, got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), frames = x.Dim(2), gh = x.Dim(3) / p, gw = x.Dim(4) / p, n = gh * gw;
        if (EnableTemporalAttentions && frames > 1 && frames != c.VideoLength)
            throw new ArgumentException($"Latte hidden_states has {frames} frames; with temporal attention the frame position table has video_length = {c.VideoLength} rows, so it needs {c.VideoLength} frames (or 1)");
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"Latte needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        var y = inputs.EncoderHiddenStates;
        if (y.Rank != 3 || y.Dim(0) != b || y.Dim(2) != c.CaptionChannels)
            throw new ArgumentException($"Latte encoder_hidden_states must be [{b}, T, {c.CaptionChannels}], got {Shape.Format(y.ShapeSpan)}");
        if (inputs.EncoderAttentionMask is not null)
            throw new ArgumentException("Latte takes no encoder_attention_mask (its pipeline passes none); pass EncoderAttentionMask null");

        using var made = new EmbedScope();
        // 1. every frame's patch tokens + the 2-D table: [B·F, N, D], which is [B, F·N, D] frame-major
        Tensor image;
        using (var framesFirst = ops.Contiguous(x.Permute(0, 2, 1, 3, 4)))
        using (var patches = ops.Patchify(framesFirst.Reshape(b * frames, c.InChannels, x.Dim(3), x.Dim(4)), p, channelsFirst: true))
        using (var tokens = _patchEmbed.Apply(ops, patches))
            image = ops.Add(tokens, _positionTables.Get(ops, gh, gw)).TakeReshaped(b, frames * n, d);
        made.Add(image);

        // 2. timestep → embedded_timestep [B, D] and the 6·D modulation (adaln_single, no micro-conditions)
        var embedded = _timestep.Embed(ops, inputs.Timestep);
        made.Add(embedded);
        Tensor temb6;
        using (var act = ops.Activate(embedded, Activation.Silu)) temb6 = _adaLinear.Apply(ops, act);
        made.Add(temb6);

        // 3. caption projection (diffusers repeats it per frame; cross-attention per query needs it once per row)
        var text = _captionProjection.Apply(ops, y);
        made.Add(text);

        return made.HandTo(new DitState
        {
            Image = image,
            Text = text,
            Conditioning = temb6,
            EmbeddedTimestep = embedded,
            TotalTokens = frames * n,
            GridT = frames,
            GridH = frames * gh,
            GridW = gw,
        });
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_spatial.Length) throw new ArgumentOutOfRangeException(nameof(index), $"Latte has {_spatial.Length} blocks, asked for {index}");
        if (state.TokenStart != 0 || state.TokenCount != state.TotalTokens)
            throw new NotSupportedException($"Latte runs on whole videos only: sequence parallelism and PipeFusion hold a part of its tokens ({state.TokenCount} of {state.TotalTokens} from {state.TokenStart}), which its frame-wise and position-wise attentions cannot split; use CFG or data parallelism");
        var text = state.Text ?? throw new InvalidOperationException("Latte blocks need the projected caption in state.Text");
        int frames = state.GridT, n = state.TotalTokens / frames;
        int b = state.Image.Dim(0), d = state.Image.Dim(2);

        state.ReplaceImage(_spatial[index].Run(ops, attention, state.Image, frames, state.Conditioning, text));
        if (!EnableTemporalAttentions) return;

        // frame-major [B, F, N, D] → position-major [B, N, F, D], the temporal block, and back
        Tensor byPosition = ops.Contiguous(state.Image.Reshape(b, frames, n, d).Permute(0, 2, 1, 3));
        if (index == 0 && frames > 1)
        {
            // diffusers adds temp_pos_embed before the first temporal block only
            Tensor placed;
            try { placed = ops.Add(byPosition.Reshape(b, n * frames, d), _frameTable.Tiled(ops, n, frames)); }
            finally { byPosition.Dispose(); }
            byPosition = placed;
        }
        try
        {
            using var temporal = _temporal[index].Run(ops, attention, byPosition.Reshape(b, n * frames, d), n, state.Conditioning, null);
            state.ReplaceImage(ops.Contiguous(temporal.Reshape(b, n, frames, d).Permute(0, 2, 1, 3)).TakeReshaped(b, frames * n, d));
        }
        finally { byPosition.Dispose(); }
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of spatial block 0, as its self-attention sees it.</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
        => _spatial[0].ModulatedInput(ops, state.Image, state.Conditioning);

    public override Tensor Finish(IOps ops, DitState state)
    {
        var c = Config;
        var emb = state.EmbeddedTimestep ?? throw new InvalidOperationException("Latte Finish needs the embedded timestep in state.EmbeddedTimestep");
        // (shift, scale) = scale_shift_table [2, D] + embedded_timestep, shift first; the same for every frame
        using var shift = ops.Add(emb, _finalScaleShift.Slice(0, 0, 1).Reshape(c.InnerDim));
        using var scale = ops.Add(emb, _finalScaleShift.Slice(0, 1, 1).Reshape(c.InnerDim));
        using var m = ops.LayerNormModulate(state.Image, shift, scale, 1e-6f);
        return _projOut.Apply(ops, m);
    }

    /// <summary>Tokens [B, F·gh·gw, p·p·C_out] → [B, C_out, F, H, W].</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        int frames = state.GridT, gh = state.GridH / frames, gw = state.GridW;
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Latte unpatchify needs [B, {state.TotalTokens}, {OutFeatures}] tokens, got {Shape.Format(tokens.ShapeSpan)}");
        int b = tokens.Dim(0), p = Config.PatchSize, co = Config.OutChannels;
        using var dense = tokens.IsContiguous ? null : ops.Contiguous(tokens);
        var t = dense ?? tokens;
        using var images = ops.Unpatchify(t.Reshape(b * frames, gh * gw, OutFeatures), p, co, gh, gw, channelsFirst: false);
        return ops.Contiguous(images.Reshape(b, frames, co, gh * p, gw * p).Permute(0, 2, 1, 3, 4));
    }

    public override void Dispose()
    {
        _positionTables.Dispose();
        _frameTable.Dispose();
        _weights.Dispose();
    }
}

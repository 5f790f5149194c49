using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.Ltx;

/// <summary>
/// diffusers LTXVideoTransformer3DModel (LTX-Video 0.9.x text to video). Latents come packed as its pipeline passes
/// them, hidden_states [B, F·H·W, C] with tokens in (frame, row, column) order, and the output has that layout; the
/// grid (num_frames, height, width) and rope_interpolation_scale come beside them (<see cref="DitInputs.ImgShape"/>,
/// <see cref="DitInputs.RopeInterpolationScale"/>) and only shape the RoPE (<see cref="LtxRotaryTable"/>). proj_in
/// embeds each token; time_embed (AdaLayerNormSingle: the 256-channel sinusoid, cos first, through
/// timestep_embedder) gives embedded_timestep and its projection linear(SiLU(·)) [B, 6·D]; caption_projection
/// (Linear, GELU-tanh, Linear) the cross-attention context, whose 0/1 mask becomes the key bias (1 − m)·(−10000). The
/// blocks are <see cref="LtxBlock"/>; the output is norm_out (LayerNorm without affine, eps 1e-6) modulated by
/// scale_shift_table [2, D] + embedded_timestep (shift first), then proj_out.
/// As a <see cref="DiffusionTransformer"/>: the state's image tokens are the video tokens [B, F·H·W, D] (sequence
/// parallelism splits them with their RoPE rows); the caption, its key bias, the timestep projection and
/// embedded_timestep are replicated; the grid is <see cref="DitState.GridT"/> = F frames whose H rows are stacked in
/// <see cref="DitState.GridH"/> = F·H, of <see cref="DitState.GridW"/> = W.
/// </summary>
public sealed class LtxTransformer : DiffusionTransformer
{
    /// <summary>norm_out's eps (diffusers builds it with 1e-6 whatever norm_eps says).</summary>
    public const float OutNormEps = 1e-6f;

    readonly ModelWeights _weights;
    readonly Linear _projIn;
    readonly TimestepEmbedding _timestep;
    readonly Linear _timeLinear;
    readonly TextProjection _captionProjection;
    readonly LtxBlock[] _blocks;
    readonly Tensor _outTable;      // scale_shift_table [2, D]: shift, scale
    readonly Linear _projOut;
    readonly LtxRopeCache _rope;

    LtxTransformer(LtxConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        _rope = new LtxRopeCache(config);
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim;
        _projIn = w.Linear("proj_in", c.InChannels, d);
        var te = w.Pp("time_embed");
        _timestep = TimestepEmbedding.Load(te.Pp("emb").Pp("timestep_embedder"), d);
        _timeLinear = te.Linear("linear", d, 6 * d);
        _captionProjection = TextProjection.Load(w.Pp("caption_projection"), c.CaptionChannels, d, Activation.GeluTanh);
        var blocks = w.Pp("transformer_blocks");
        _blocks = new LtxBlock[c.NumLayers];
        for (int i = 0; i < _blocks.Length; i++) _blocks[i] = new LtxBlock(blocks.Pp(i), c);
        _outTable = w.Get("scale_shift_table", 2, d);
        _projOut = w.Linear("proj_out", d, c.OutChannels);
    }

    public LtxConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static LtxTransformer Load(string dir, IOps ops)
    {
        var config = LtxConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static LtxTransformer Load(LtxConfig config, ITensorSource source, IOps ops)
    {
        CheckNormAffineMatches(config, source);
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new LtxTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    /// <summary>norm1's weight where the config says norm_elementwise_affine false (or the reverse) would load and
    /// silently compute something else; say so instead.</summary>
    static void CheckNormAffineMatches(LtxConfig config, ITensorSource source)
    {
        const string probe = "transformer_blocks.0.norm1.weight";
        bool has = source.Contains(probe);
        if (has && !config.NormElementwiseAffine)
            throw new FormatException($"{source.Path}: holds '{probe}' but the config has norm_elementwise_affine false");
        if (!has && config.NormElementwiseAffine)
            throw new MissingTensorException(source.Path, probe);
    }

    public override int NumBlocks => _blocks.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutChannels;
    public override long WeightBytes => _weights.Bytes;
    /// <summary>The projected caption is a cross-attention context the blocks only read.</summary>
    public override bool BlocksOnlyReadText => true;

    /// <summary>Inputs: HiddenStates [B, F·H·W, in_channels] (packed), ImgShape (F, H, W), RopeInterpolationScale,
    /// EncoderHiddenStates [B, T, caption_channels], EncoderAttentionMask [B, T] (1 kept, 0 padded; optional),
    /// Timestep one per batch row.</summary>
    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 3 || x.Dim(2) != c.InChannels)
            throw new ArgumentException($"LTX hidden_states must be packed [B, F·H·W, {c.InChannels}], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), n = x.Dim(1);
        var (frames, rows, cols) = inputs.ImgShape ?? throw new ArgumentException($"LTX needs num_frames, height and width (DitInputs.ImgShape), the latent grid of the {n} tokens");
        if (frames < 1 || rows < 1 || cols < 1 || (long)frames * rows * cols != n)
            throw new ArgumentException($"LTX latent grid {frames}×{rows}×{cols} (num_frames × height × width) does not hold the {n} tokens of hidden_states {Shape.Format(x.ShapeSpan)}");
        var scale = inputs.RopeInterpolationScale ?? throw new ArgumentException("LTX needs rope_interpolation_scale (DitInputs.RopeInterpolationScale): (vae temporal ratio / frame_rate, vae spatial ratio, vae spatial ratio)");
        if (!float.IsFinite(scale.T) || !float.IsFinite(scale.H) || !float.IsFinite(scale.W))
            throw new ArgumentException($"LTX rope_interpolation_scale must be finite, got ({scale.T}, {scale.H}, {scale.W})");
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"LTX needs one timestep per batch row ({b}), got {inputs.Timestep.Length} (per-token timesteps, the image-conditioned pipelines', are not supported)");
        var y = inputs.EncoderHiddenStates;
        if (y.Rank != 3 || y.Dim(0) != b || y.Dim(2) != c.CaptionChannels)
            throw new ArgumentException($"LTX encoder_hidden_states must be [{b}, T, {c.CaptionChannels}], got {Shape.Format(y.ShapeSpan)}");

        using var made = new EmbedScope();
        var image = made.Add(_projIn.Apply(ops, x));
        var embedded = made.Add(_timestep.Embed(ops, inputs.Timestep));
        Tensor temb6;
        using (var act = ops.Activate(embedded, Activation.Silu)) temb6 = made.Add(_timeLinear.Apply(ops, act));
        var text = made.Add(_captionProjection.Apply(ops, y));
        var keyBias = inputs.EncoderAttentionMask is { } mask ? made.Add(TextKeyBias.FromMask(ops, mask, b, y.Dim(1), "LTX")) : null;
        // the model's cached tables: the state reads them, not owns them
        var (cos, sin) = _rope.Get(ops, frames, rows, cols, scale);
        return made.HandTo(new DitState
        {
            Image = image, Text = text, TextKeyBias = keyBias, Conditioning = temb6, EmbeddedTimestep = embedded,
            ImageRopeCos = cos, ImageRopeSin = sin,
            TotalTokens = n, GridT = frames, GridH = frames * rows, GridW = cols,
        });
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"LTX has {_blocks.Length} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>Block 0's RMSNorm(x)·(1 + scale_msa) + shift_msa, as its self-attention sees it (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
    {
        if (_blocks.Length == 0) throw new InvalidOperationException("LTX model has no blocks");
        return _blocks[0].ModulatedImage(ops, state);
    }

    /// <summary>norm_out(x)·(1 + scale) + shift with (shift, scale) = scale_shift_table + embedded_timestep, then proj_out.</summary>
    public override Tensor Finish(IOps ops, DitState state)
    {
        int d = Config.InnerDim;
        var emb = state.EmbeddedTimestep ?? throw new InvalidOperationException("LTX Finish needs embedded_timestep in state.EmbeddedTimestep");
        using var shift = ops.Add(emb, _outTable.Slice(0, 0, 1).Reshape(d));
        using var scale = ops.Add(emb, _outTable.Slice(0, 1, 1).Reshape(d));
        using var m = ops.LayerNormModulate(state.Image, shift, scale, OutNormEps);
        return _projOut.Apply(ops, m);
    }

    /// <summary>The output stays packed as diffusers returns it: [B, F·H·W, out_channels], a copy the caller owns.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"LTX output needs [B, {state.TotalTokens}, {OutFeatures}] tokens; got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Contiguous(tokens);
    }

    public override void Dispose()
    {
        _rope.Dispose();
        _weights.Dispose();
    }
}

using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.Wan;

/// <summary>
/// diffusers WanTransformer3DModel (Wan 2.1 text-to-video 1.3B and 14B, and the Wan 2.2 A14B experts, which share its
/// architecture, and Wan2.2-TI2V-5B's text-to-video calls, whose per-token timesteps are one value a row). Latents come as diffusers takes them, hidden_states [B, C, F, H, W], and the output has that layout.
/// The patch embedding is a Conv3d with stride equal to its kernel (p_t, p_h, p_w): a Linear over each patch's
/// features in (C, p_t, p_h, p_w) order, tokens in (frame, row, column) order. The condition embedder turns the
/// timestep's sinusoid (freq_dim wide, cos first) into temb (time_embedder: Linear, SiLU, Linear) and the blocks'
/// projection time_proj(SiLU(temb)) [B, 6·D], and the UMT5 states into the text tokens (text_embedder: Linear,
/// GELU-tanh, Linear). The blocks (<see cref="WanBlock"/>) rotate q and k of self-attention with the 3-D RoPE of
/// <see cref="WanRotaryTable"/>; the output is norm_out (LayerNorm without affine) modulated by scale_shift_table
/// [1, 2, D] + temb (shift first), proj_out, unpatchified.
/// As a <see cref="DiffusionTransformer"/>: the state's image tokens are the video tokens [B, F'·gh·gw, D] (sequence
/// parallelism splits them with their RoPE rows); the text tokens, the timestep projection (<see cref="DitState.Conditioning"/>)
/// and temb (<see cref="DitState.EmbeddedTimestep"/>) are replicated; the grid is <see cref="DitState.GridT"/> = F'
/// frames whose gh rows are stacked in <see cref="DitState.GridH"/> = F'·gh, of <see cref="DitState.GridW"/> = gw.
/// </summary>
public sealed class WanTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Tensor _patchWeight;   // [D, C·p_t·p_h·p_w]
    readonly Tensor _patchBias;
    readonly TimestepEmbedding _timeEmbedder;
    readonly Linear _timeProj;
    readonly TextProjection _textEmbedder;
    readonly WanBlock[] _blocks;
    readonly Tensor _outTable;      // scale_shift_table viewed [2, D]: shift, scale
    readonly Linear _projOut;
    (int F, int H, int W, float[] Cos, float[] Sin)? _rope;   // the tables of the last grid (the same every step)

    WanTransformer(WanConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim;
        var pe = w.Pp("patch_embedding");
        _patchWeight = pe.GetOperand("weight", d, c.InChannels, c.PatchT, c.PatchH, c.PatchW).Reshape(d, c.PatchFeatures);
        _patchBias = pe.GetOperand("bias", d);
        var ce = w.Pp("condition_embedder");
        _timeEmbedder = TimestepEmbedding.Load(ce.Pp("time_embedder"), d, inDim: c.FreqDim);
        _timeProj = ce.Linear("time_proj", d, 6 * d);
        _textEmbedder = TextProjection.Load(ce.Pp("text_embedder"), c.TextDim, d, Activation.GeluTanh);
        var blocks = w.Pp("blocks");
        _blocks = new WanBlock[c.NumLayers];
        for (int i = 0; i < _blocks.Length; i++) _blocks[i] = new WanBlock(blocks.Pp(i), c);
        _outTable = w.Get("scale_shift_table", 1, 2, d).Reshape(2, d);
        _projOut = w.Linear("proj_out", d, c.OutFeatures);
    }

    public WanConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static WanTransformer Load(string dir, IOps ops)
    {
        var config = WanConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static WanTransformer Load(WanConfig config, ITensorSource source, IOps ops)
    {
        CheckNorm2Matches(config, source);
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new WanTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    /// <summary>norm2's affine where the config says cross_attn_norm false (or the reverse) would load and silently
    /// compute something else; say so instead.</summary>
    static void CheckNorm2Matches(WanConfig config, ITensorSource source)
    {
        if (config.NumLayers == 0) return;
        const string probe = "blocks.0.norm2.weight";
        bool has = source.Contains(probe);
        if (has && !config.CrossAttnNorm)
            throw new FormatException($"{source.Path}: holds '{probe}' but the config has cross_attn_norm false");
        if (!has && config.CrossAttnNorm)
            throw new MissingTensorException(source.Path, probe);
        if (source.Contains("blocks.0.attn2.add_k_proj.weight"))
            throw new NotSupportedException($"{source.Path}: holds 'blocks.0.attn2.add_k_proj.weight' (an image-to-video checkpoint) but its config has added_kv_proj_dim null: the image branch is not implemented");
    }

    public override int NumBlocks => _blocks.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    public override long WeightBytes => _weights.Bytes;
    public override bool BlocksOnlyReadText => true;

    /// <summary>Inputs: HiddenStates [B, C, F, H, W] (F, H, W multiples of the patch size), EncoderHiddenStates
    /// [B, T, text_dim] (UMT5's states, zeroed past each prompt as the pipeline does), Timestep one per batch row, or
    /// one per token [B, F'·gh·gw] that is the same for every token of a row (<see cref="TimestepPerRow"/>).</summary>
    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 5 || x.Dim(1) != c.InChannels)
            throw new ArgumentException($"Wan hidden_states must be [B, {c.InChannels}, F, H, W] (channels before frames), got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), frames = x.Dim(2), hh = x.Dim(3), ww = x.Dim(4);
        if (frames % c.PatchT != 0 || hh % c.PatchH != 0 || ww % c.PatchW != 0)
            throw new ArgumentException($"Wan latent {frames}×{hh}×{ww} (frames × height × width) is not a multiple of patch_size ({c.PatchT}, {c.PatchH}, {c.PatchW})");
        int ft = frames / c.PatchT, gh = hh / c.PatchH, gw = ww / c.PatchW, n = ft * gh * gw;
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != c.TextDim)
            throw new ArgumentException($"Wan encoder_hidden_states must be [{b}, T, {c.TextDim}], got {Shape.Format(ctx.ShapeSpan)}");
        var timestep = TimestepPerRow(inputs.Timestep, b, n);
        var (hostCos, hostSin) = RopeTables(ft, gh, gw);

        using var made = new EmbedScope();
        var image = made.Add(PatchEmbed(ops, x, b, ft, gh, gw));
        var text = made.Add(_textEmbedder.Apply(ops, ctx));
        var temb = made.Add(TimeEmbedding(ops, timestep));
        Tensor tproj;
        using (var act = ops.Activate(temb, Activation.Silu)) tproj = made.Add(_timeProj.Apply(ops, act));
        var cos = made.Add(ops.FromHost(hostCos, n, c.AttentionHeadDim));
        var sin = made.Add(ops.FromHost(hostSin, n, c.AttentionHeadDim));
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = tproj, EmbeddedTimestep = temb,
            ImageRopeCos = cos, ImageRopeSin = sin,
            TotalTokens = n, GridT = ft, GridH = ft * gh, GridW = gw,
        });
    }

    /// <summary>One timestep per batch row: <paramref name="timestep"/> as given, or Wan 2.2 TI2V's per-token timesteps
    /// (its pipeline's expand_timesteps: [B, tokens], row-major) where every token of a row has the same value, as in
    /// text-to-video, where diffusers' per-token path computes exactly the per-row one. Rows whose tokens differ (the
    /// image-conditioned first frame at timestep 0) are refused.</summary>
    public static float[] TimestepPerRow(float[] timestep, int rows, int tokens)
    {
        if (timestep.Length == rows) return timestep;
        if (timestep.Length != (long)rows * tokens)
            throw new ArgumentException($"Wan needs one timestep per batch row ({rows}) or per token ({rows} × {tokens}), got {timestep.Length}");
        var perRow = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            perRow[r] = timestep[r * tokens];
            for (int i = 1; i < tokens; i++)
                if (timestep[r * tokens + i] != perRow[r])
                    throw new NotSupportedException($"Wan per-token timesteps that differ within a row are not supported (row {r}: token 0 at {perRow[r]}, token {i} at {timestep[r * tokens + i]}; Wan 2.2 TI2V's image-conditioned first frame)");
        }
        return perRow;
    }

    /// <summary>The RoPE tables of a grid, kept on the host for the next step's grid (the same in a whole video).</summary>
    (float[] Cos, float[] Sin) RopeTables(int ft, int gh, int gw)
    {
        if (_rope is { } r && r.F == ft && r.H == gh && r.W == gw) return (r.Cos, r.Sin);
        var (cos, sin) = WanRotaryTable.Build(Config, ft, gh, gw);
        _rope = (ft, gh, gw, cos, sin);
        return (cos, sin);
    }

    /// <summary>[B, C, F, H, W] → tokens [B, F'·gh·gw, D]: each patch's features gathered in (C, p_t, p_h, p_w) order
    /// by one strided copy, then the Conv3d's weight as a Linear.</summary>
    Tensor PatchEmbed(IOps ops, Tensor x, int b, int ft, int gh, int gw)
    {
        var c = Config;
        using var dense = x.IsContiguous ? null : ops.Contiguous(x);
        var v = (dense ?? x).Reshape(b, c.InChannels, ft, c.PatchT, gh, c.PatchH, gw, c.PatchW).Permute(0, 2, 4, 6, 1, 3, 5, 7);
        using var patches = ops.Contiguous(v);
        return ops.Linear(patches.Reshape(b, ft * gh * gw, c.PatchFeatures), _patchWeight, _patchBias);
    }

    /// <summary>temb = time_embedder(sinusoid(t)) [B, D]: the sinusoid (freq_dim, cos first, shift 0) in float32, cast
    /// to the activation dtype.</summary>
    Tensor TimeEmbedding(IOps ops, float[] timestep)
    {
        using var s = TimestepEmbedding.Sinusoid(ops, timestep, Config.FreqDim);
        return _timeEmbedder.Apply(ops, s);
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"Wan has {_blocks.Length} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>Block 0's LN(x)·(1 + scale_msa) + shift_msa, as its self-attention sees it (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
    {
        if (_blocks.Length == 0) throw new InvalidOperationException("Wan model has no blocks");
        return _blocks[0].ModulatedImage(ops, state);
    }

    /// <summary>norm_out(x)·(1 + scale) + shift with (shift, scale) = scale_shift_table + temb, then proj_out.</summary>
    public override Tensor Finish(IOps ops, DitState state)
    {
        int d = Config.InnerDim;
        var temb = state.EmbeddedTimestep ?? throw new InvalidOperationException("Wan Finish needs temb in state.EmbeddedTimestep");
        using var shift = ops.Add(temb, _outTable.Slice(0, 0, 1).Reshape(d));
        using var scale = ops.Add(temb, _outTable.Slice(0, 1, 1).Reshape(d));
        using var m = ops.LayerNormModulate(state.Image, shift, scale, (float)Config.Eps);
        return _projOut.Apply(ops, m);
    }

    /// <summary>Tokens [B, F'·gh·gw, p_t·p_h·p_w·C] → [B, C, F'·p_t, gh·p_h, gw·p_w], one strided copy.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        var c = Config;
        int ft = state.GridT, gh = state.GridH / Math.Max(1, ft), gw = state.GridW;
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || ft * gh != state.GridH || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Wan unpatchify needs [B, {state.TotalTokens}, {OutFeatures}] tokens of {ft} frames × {gh}×{gw} patches; got {Shape.Format(tokens.ShapeSpan)}");
        int b = tokens.Dim(0);
        using var dense = tokens.IsContiguous ? null : ops.Contiguous(tokens);
        var v = (dense ?? tokens).Reshape(b, ft, gh, gw, c.PatchT, c.PatchH, c.PatchW, c.OutChannels).Permute(0, 7, 1, 4, 2, 5, 3, 6);
        var y = ops.Contiguous(v);
        return y.TakeReshaped(b, c.OutChannels, ft * c.PatchT, gh * c.PatchH, gw * c.PatchW);
    }

    public override void Dispose() => _weights.Dispose();
}

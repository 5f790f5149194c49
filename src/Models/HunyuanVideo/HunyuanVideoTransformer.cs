using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

using XDit.Models.Flux;

namespace XDit.Models.HunyuanVideo;

/// <summary>
/// diffusers HunyuanVideoTransformer3DModel (HunyuanVideo T2V; I2V by latent concatenation): latents [B, C, F, H, W]
/// cut by the Conv3d patch embed (p_t × p × p, features (C, p_t, p, p)) into tokens in (frame group, row, column)
/// order; the text states through the token refiner (<see cref="HunyuanVideoTokenRefiner"/>); the conditioning
/// temb = timestep + guidance + pooled-text embeddings, SiLU of it computed once for every adaptive norm; dual-stream
/// blocks then single-stream blocks (numbered in that order) over [video; text] with 3-D RoPE on the video tokens
/// and the padded text keys hidden (diffusers keeps the first Σ mask text tokens of each row). The text past the
/// longest kept prefix is dropped in Embed (the same output, fewer tokens); a key bias hides the rest only where
/// rows keep different counts (<see cref="DitState.TextKeyBias"/>, [B, N + T]). AdaLN-continuous
/// norm_out, proj_out, and the inverse patching back to [B, C_out, F, H, W].
/// As a <see cref="DiffusionTransformer"/>: the state's image tokens are the video tokens (sequence parallelism
/// splits them; the text stream and its key bias are replicated); its grid is <see cref="DitState.GridT"/> = F'
/// frame groups and <see cref="DitState.GridH"/> = F'·gh rows of <see cref="DitState.GridW"/> = gw (CogVideoX's
/// layout).
/// </summary>
public sealed class HunyuanVideoTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _patch;                 // x_embedder.proj: Conv3d weight [D, C, p_t, p, p] as [D, C·p_t·p·p]
    readonly HunyuanVideoTokenRefiner _refiner;
    readonly TimeTextEmbedding _timeText;
    readonly FluxDoubleBlock[] _double;   // Flux's blocks around HunyuanVideo's own joint attention
    readonly FluxSingleBlock[] _single;
    readonly AdaLayerNormContinuous _normOut;
    readonly Linear _projOut;

    HunyuanVideoTransformer(HunyuanVideoConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize;
        var proj = w.Pp("x_embedder").Pp("proj");
        _patch = new Linear(proj.GetOperand("weight", d, c.InChannels, c.PatchSizeT, p, p).Reshape(d, c.PatchFeatures), proj.GetOperand("bias", d));
        _refiner = new HunyuanVideoTokenRefiner(w.Pp("context_embedder"), c);
        _timeText = TimeTextEmbedding.Load(w.Pp("time_text_embed"), d, c.PooledProjectionDim, c.GuidanceEmbeds);
        var shape = new FluxBlockShape(c.NumAttentionHeads, c.AttentionHeadDim, c.MlpDim);
        var doubles = w.Pp("transformer_blocks");
        _double = Enumerable.Range(0, c.NumLayers).Select(i => new FluxDoubleBlock(doubles.Pp(i), shape, HunyuanVideoAttention.RunPacked)).ToArray();
        var singles = w.Pp("single_transformer_blocks");
        _single = Enumerable.Range(0, c.NumSingleLayers).Select(i => new FluxSingleBlock(singles.Pp(i), shape, HunyuanVideoAttention.RunPacked)).ToArray();
        _normOut = AdaLayerNormContinuous.Load(w.Pp("norm_out"), d, d);
        _projOut = w.Linear("proj_out", d, c.OutFeatures);
    }

    public HunyuanVideoConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static HunyuanVideoTransformer Load(string dir, IOps ops)
    {
        var config = HunyuanVideoConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static HunyuanVideoTransformer Load(HunyuanVideoConfig config, ITensorSource source, IOps ops)
    {
        const string guidanceProbe = "time_text_embed.guidance_embedder.linear_1.weight";
        if (source.Contains(guidanceProbe) && !config.GuidanceEmbeds)
            throw new FormatException($"{source.Path}: holds '{guidanceProbe}' but the config has guidance_embeds false");
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new HunyuanVideoTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    public override int NumBlocks => _double.Length + _single.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Inputs: HiddenStates [B, C, F, H, W] (F a multiple of patch_size_t, H and W of patch_size),
    /// EncoderHiddenStates [B, T, text_embed_dim], EncoderAttentionMask [B, T] (1 kept, 0 padded: a prefix of kept
    /// tokens, as the pipeline's right-padded prompts are; null keeps all), PooledProjections [B, pooled_projection_dim],
    /// Timestep one per row, Guidance one per row (guidance_scale·1000, as the pipeline passes it) when the model has a
    /// guidance embedder.</summary>
    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        int p = c.PatchSize, pt = c.PatchSizeT;
        if (x.Rank != 5 || x.Dim(1) != c.InChannels)
            throw new ArgumentException($"HunyuanVideo hidden_states must be [B, {c.InChannels}, F, H, W], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), frames = x.Dim(2), hh = x.Dim(3), ww = x.Dim(4);
        if (hh % p != 0 || ww % p != 0)
            throw new ArgumentException($"HunyuanVideo latent size {hh}×{ww} is not a multiple of patch_size {p}");
        if (frames % pt != 0)
            throw new ArgumentException($"HunyuanVideo hidden_states has {frames} frames, not a multiple of patch_size_t {pt}");
        int ft = frames / pt, gh = hh / p, gw = ww / p, n = ft * gh * gw;
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != c.TextEmbedDim)
            throw new ArgumentException($"HunyuanVideo encoder_hidden_states must be [{b}, T, {c.TextEmbedDim}], got {Shape.Format(ctx.ShapeSpan)}");
        int t = ctx.Dim(1);
        var pooled = inputs.PooledProjections ?? throw new ArgumentException($"HunyuanVideo needs pooled_projections [{b}, {c.PooledProjectionDim}]");
        if (pooled.Rank != 2 || pooled.Dim(0) != b || pooled.Dim(1) != c.PooledProjectionDim)
            throw new ArgumentException($"HunyuanVideo pooled_projections must be [{b}, {c.PooledProjectionDim}], got {Shape.Format(pooled.ShapeSpan)}");
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"HunyuanVideo needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        float[] guidance = [];
        if (c.GuidanceEmbeds)
        {
            guidance = inputs.Guidance ?? throw new ArgumentException($"HunyuanVideo with guidance_embeds true needs guidance, one value per batch row ({b}): guidance_scale·1000");
            if (guidance.Length != b)
                throw new ArgumentException($"HunyuanVideo needs one guidance value per batch row ({b}), got {guidance.Length}");
        }
        var counts = KeptCounts(ops, inputs.EncoderAttentionMask, b, t);
        // the padded text tokens past the longest kept prefix are dropped: diffusers hides them as keys everywhere, and
        // what they compute as queries reaches no kept token and no video token, so the output is the same without
        // them (and the attention needs no key bias at all where every row keeps as many: one prompt, or CFG split)
        int kept = counts?.Max() ?? t;
        bool ragged = counts is not null && counts.Any(k => k != kept);

        using var made = new EmbedScope();
        var image = made.Add(PatchEmbed(ops, x, b, ft, gh, gw));
        var prefix = ctx.Slice(1, 0, kept);
        Tensor text;
        using (var dense = prefix.IsContiguous ? null : ops.Contiguous(prefix))
            text = made.Add(_refiner.Apply(ops, dense ?? prefix, inputs.Timestep, ragged ? counts : null));
        Tensor cond;
        using (var temb = _timeText.Apply(ops, inputs.Timestep, guidance, pooled)) cond = made.Add(ops.Activate(temb, Activation.Silu));
        var (rc, rs) = HunyuanVideoRope.Tables(ft, gh, gw, c.RopeAxesDim, c.RopeTheta);
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond,
            TextKeyBias = ragged ? made.Add(JointKeyBias(ops, counts!, b, n, kept)) : null,
            ImageRopeCos = made.Add(ops.FromHost(rc, n, c.AttentionHeadDim)),
            ImageRopeSin = made.Add(ops.FromHost(rs, n, c.AttentionHeadDim)),
            TotalTokens = n, GridT = ft, GridH = ft * gh, GridW = gw,
        });
    }

    /// <summary>Each row's kept count from the mask (null: no mask, every token kept). A row must keep a prefix
    /// (1…1 0…0) of at least one token: diffusers hides the text keys from index Σ mask on in the joint attention, and
    /// divides by Σ mask in the pooled mean.</summary>
    static int[]? KeptCounts(IOps ops, Tensor? mask, int b, int t)
    {
        if (mask is null) return null;
        if (mask.Rank != 2 || mask.Dim(0) != b || mask.Dim(1) != t)
            throw new ArgumentException($"HunyuanVideo encoder_attention_mask must be [{b}, {t}], got {Shape.Format(mask.ShapeSpan)}");
        var m = ops.ToHost(mask);
        var counts = new int[b];
        for (int r = 0; r < b; r++)
        {
            int k = 0;
            while (k < t && m[r * t + k] != 0) k++;
            for (int j = k; j < t; j++)
                if (m[r * t + j] != 0)
                    throw new ArgumentException($"HunyuanVideo encoder_attention_mask row {r} keeps token {j} after padded token {k}: expected kept tokens first (1…1 0…0), as the pipeline pads prompts on the right");
            if (k == 0)
                throw new ArgumentException($"HunyuanVideo encoder_attention_mask row {r} keeps no token: expected at least one (diffusers divides by the kept count)");
            counts[r] = k;
        }
        return counts;
    }

    /// <summary>[B, N + T]: zeros for the N video keys, then per row 0 for the first count text keys and −10000 for
    /// the rest (diffusers' joint mask hides keys from latent_len + Σ mask on); T is the longest row's count.</summary>
    static Tensor JointKeyBias(IOps ops, int[] counts, int b, int n, int t)
    {
        var bias = new float[(long)b * (n + t)];
        for (int r = 0; r < b; r++)
            for (int j = counts[r]; j < t; j++) bias[(long)r * (n + t) + n + j] = TextKeyBias.PaddedKeyBias;
        return ops.FromHost(bias, b, n + t);
    }

    /// <summary>[B, C, F, H, W] → tokens [B, F'·gh·gw, D]: each patch's features gathered in (C, p_t, p, p) order by
    /// one strided copy, then the projection (the Conv3d of stride = kernel as a GEMM).</summary>
    Tensor PatchEmbed(IOps ops, Tensor x, int b, int ft, int gh, int gw)
    {
        var c = Config;
        int p = c.PatchSize, pt = c.PatchSizeT;
        using var dense = x.IsContiguous ? null : ops.Contiguous(x);
        var v = (dense ?? x).Reshape(b, c.InChannels, ft, pt, gh, p, gw, p).Permute(0, 2, 4, 6, 1, 3, 5, 7);
        using var patches = ops.Contiguous(v);
        return _patch.Apply(ops, patches.Reshape(b, ft * gh * gw, c.PatchFeatures));
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(index), $"HunyuanVideo has {NumBlocks} blocks ({_double.Length} dual-stream, {_single.Length} single-stream), asked for {index}");
        if (index < _double.Length) _double[index].Run(ops, state, attention);
        else _single[index - _double.Length].Run(ops, state, attention);
    }

    /// <summary>Block 0's norm on the video tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
        => _double.Length > 0 ? _double[0].ModulatedImage(ops, state) : _single[0].ModulatedImage(ops, state);

    /// <summary>norm_out (AdaLayerNormContinuous: scale, then shift) and proj_out of the held video tokens.</summary>
    public override Tensor Finish(IOps ops, DitState state)
    {
        using var n = _normOut.ApplyActivated(ops, state.Image, state.Conditioning);   // Conditioning is SiLU(temb)
        return _projOut.Apply(ops, n);
    }

    /// <summary>Tokens [B, F'·gh·gw, C·p_t·p·p] (features (C, p_t, p, p)) → [B, C, F'·p_t, gh·p, gw·p], one strided copy.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        var c = Config;
        int ft = state.GridT, gh = state.GridH / Math.Max(1, ft), gw = state.GridW, p = c.PatchSize, pt = c.PatchSizeT;
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || ft * gh != state.GridH || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"HunyuanVideo unpatchify needs [B, {state.TotalTokens}, {OutFeatures}] tokens of {ft} frame groups × {gh}×{gw} patches; got {Shape.Format(tokens.ShapeSpan)}");
        int b = tokens.Dim(0);
        using var dense = tokens.IsContiguous ? null : ops.Contiguous(tokens);
        var v = (dense ?? tokens).Reshape(b, ft, gh, gw, c.OutChannels, pt, p, p).Permute(0, 4, 1, 5, 2, 6, 3, 7);
        var y = ops.Contiguous(v);
        return y.TakeReshaped(b, c.OutChannels, ft * pt, gh * p, gw * p);
    }

    public override void Dispose() => _weights.Dispose();
}

using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.QwenImage;

/// <summary>
/// diffusers QwenImageTransformer2DModel (Qwen-Image): packed latent tokens [B, F·h·w, C_in] through img_in, the
/// text states through txt_norm (RMSNorm) and txt_in, the timestep (t/1000 as the pipeline passes it; the sinusoid
/// scales by 1000) through time_text_embed, dual-stream blocks (<see cref="QwenImageBlock"/>) with the centred
/// 3-axis RoPE (<see cref="QwenImageRope"/>) and the text keys masked by encoder_hidden_states_mask, then norm_out
/// (AdaLayerNormContinuous) and proj_out. The output stays packed [B, F·h·w, p²·C_out].
/// </summary>
public sealed class QwenImageTransformer : DiffusionTransformer
{
    /// <summary>RMSNorm eps of txt_norm.</summary>
    const float TextNormEps = 1e-6f;

    readonly ModelWeights _weights;
    readonly Linear _imgIn, _txtIn, _projOut;
    readonly Tensor _txtNorm;
    readonly TimestepEmbedding _timestep;
    readonly QwenImageBlock[] _blocks;
    readonly AdaLayerNormContinuous _normOut;

    QwenImageTransformer(QwenImageConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        int d = config.InnerDim;
        _imgIn = w.Linear("img_in", config.InChannels, d);
        _txtNorm = w.Pp("txt_norm").Get("weight", config.JointAttentionDim);
        _txtIn = w.Linear("txt_in", config.JointAttentionDim, d);
        _timestep = TimestepEmbedding.Load(w.Pp("time_text_embed").Pp("timestep_embedder"), d);
        var blocks = w.Pp("transformer_blocks");
        _blocks = Enumerable.Range(0, config.NumLayers).Select(i => new QwenImageBlock(blocks.Pp(i), config)).ToArray();
        _normOut = AdaLayerNormContinuous.Load(w.Pp("norm_out"), d, d);
        _projOut = w.Linear("proj_out", d, config.OutFeatures);
    }

    public QwenImageConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static QwenImageTransformer Load(string dir, IOps ops)
    {
        var config = QwenImageConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static QwenImageTransformer Load(QwenImageConfig config, ITensorSource source, IOps ops)
    {
        const string additionalProbe = "time_text_embed.addition_t_embedding.weight";
        if (source.Contains(additionalProbe))
            throw new FormatException($"{source.Path}: holds '{additionalProbe}' (Qwen-Image-Layered's use_additional_t_cond), which this code does not run");
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new QwenImageTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    public override int NumBlocks => _blocks.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    public override long WeightBytes => _weights.Bytes;

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var x = inputs.HiddenStates;
        if (x.Rank != 3 || x.Dim(2) != Config.InChannels)
            throw new ArgumentException($"Qwen-Image hidden_states must be packed [B, N, {Config.InChannels}], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), n = x.Dim(1);
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != Config.JointAttentionDim)
            throw new ArgumentException($"Qwen-Image encoder_hidden_states must be [{b}, T, {Config.JointAttentionDim}], got {Shape.Format(ctx.ShapeSpan)}");
        int t = ctx.Dim(1);
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"Qwen-Image needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        var (frames, gh, gw) = inputs.ImgShape ?? throw new ArgumentException($"Qwen-Image needs img_shapes, the (frames, height, width) token grid of the {n} image tokens");
        if (frames < 1 || gh < 1 || gw < 1 || (long)frames * gh * gw != n)
            throw new ArgumentException($"Qwen-Image img_shapes ({frames}, {gh}, {gw}) must be a grid of the {n} image tokens of hidden_states");

        // diffusers casts the timestep to the activation dtype; the sinusoid takes 1000·(t·freq) in float32
        var act = ops.ActivationType;
        var ts = inputs.Timestep.Select(v => TimestepEmbedding.RoundTo(act, v)).ToArray();

        using var made = new EmbedScope();
        var image = made.Add(_imgIn.Apply(ops, x));
        Tensor text;
        using (var normed = ops.RmsNorm(ctx, _txtNorm, TextNormEps)) text = made.Add(_txtIn.Apply(ops, normed));
        // every consumer of the conditioning (img_mod, txt_mod, norm_out) takes SiLU of it: once here
        Tensor cond;
        using (var sinusoid = ops.TimestepEmbedding(ts, TimestepEmbedding.SinusoidChannels, flipSinToCos: true, downscaleFreqShift: 0f, scale: 1000f))
        using (var s = sinusoid.DType == act ? null : ops.Cast(sinusoid, act))
        using (var temb = _timestep.Apply(ops, s ?? sinusoid))
            cond = made.Add(ops.Activate(temb, Activation.Silu));
        var (ic, isn) = QwenImageRope.Image(frames, gh, gw, Config.AxesDimsRope);
        var (tc, tsn) = QwenImageRope.Text(t, gh, gw, Config.AxesDimsRope);
        int hd = Config.AttentionHeadDim;
        var keyBias = inputs.EncoderAttentionMask is { } mask ? JointKeyBias(ops, mask, b, t, n) : null;
        if (keyBias is not null) made.Add(keyBias);
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond, TextKeyBias = keyBias,
            TotalTokens = n, GridT = frames, GridH = frames * gh, GridW = gw,
            ImageRopeCos = made.Add(ops.FromHost(ic, n, hd)), ImageRopeSin = made.Add(ops.FromHost(isn, n, hd)),
            TextRopeCos = made.Add(ops.FromHost(tc, t, hd)), TextRopeSin = made.Add(ops.FromHost(tsn, t, hd)),
        });
    }

    /// <summary>
    /// The additive key bias of the joint attention [B, T + N] (text keys first, then every image key at 0) from
    /// encoder_hidden_states_mask [B, T]: a nonzero entry keeps its text token (diffusers reads the mask as bool), a
    /// zero hides it from every query (−10000, <see cref="TextKeyBias.PaddedKeyBias"/>: its softmax weight is 0 in
    /// float32 as under diffusers' boolean mask, and the image keys always stay). Null when no token is padded.
    /// </summary>
    static Tensor? JointKeyBias(IOps ops, Tensor mask, int batch, int textTokens, int imageTokens)
    {
        if (mask.Rank != 2 || mask.Dim(0) != batch || mask.Dim(1) != textTokens)
            throw new ArgumentException($"Qwen-Image encoder_hidden_states_mask must be [{batch}, {textTokens}], got {Shape.Format(mask.ShapeSpan)}");
        var m = ops.ToHost(mask);
        if (m.All(v => v != 0)) return null;
        int keys = textTokens + imageTokens;
        var bias = new float[batch * keys];
        for (int r = 0; r < batch; r++)
            for (int i = 0; i < textTokens; i++)
                if (m[r * textTokens + i] == 0) bias[r * keys + i] = TextKeyBias.PaddedKeyBias;
        return ops.FromHost(bias, batch, keys);
    }

    /// <summary>The options hiding padded text keys from a block's joint attention, or null when none is padded.
    /// The state holds the bias over the text and all image keys; a shard of the image tokens (sequence
    /// parallelism) hands the text keys' part alone, which the sequence-parallel attention joins with its unbiased
    /// image keys.</summary>
    internal static AttentionOptions? KeyBiasOptions(DitState state, int textTokens)
    {
        if (state.TextKeyBias is not { } kb) return null;
        return new AttentionOptions { KeyBias = state.TokenCount == state.TotalTokens ? kb : kb.Slice(1, 0, textTokens) };
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(index), $"Qwen-Image has {NumBlocks} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>Block 0's img_norm1 and modulation of the image tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state) => _blocks[0].ModulatedImage(ops, state);

    public override Tensor Finish(IOps ops, DitState state)
    {
        using var n = _normOut.ApplyActivated(ops, state.Image, state.Conditioning);   // Conditioning is SiLU(temb)
        return _projOut.Apply(ops, n);
    }

    /// <summary>Qwen-Image's model output is the packed token tensor itself; the pipeline unpacks it. Returns a copy
    /// the caller owns.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Qwen-Image output tokens must be [B, {state.TotalTokens}, {OutFeatures}], got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Contiguous(tokens);
    }

    public override void Dispose() => _weights.Dispose();
}

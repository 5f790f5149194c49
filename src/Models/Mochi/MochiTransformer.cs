using XDit.Kernels;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.Mochi;

/// <summary>
/// diffusers MochiTransformer3DModel (Genmo Mochi 1): latents [B, C, F, H, W] cut frame by frame by the Conv2d patch
/// embed (p × p, features (C, p, p)) into tokens in (frame, row, column) order; the conditioning temb = timestep
/// embedding + attention-pooled caption, SiLU of it computed once for every adaptive norm; the caption projected to
/// the text stream's own width; <see cref="MochiBlock"/>s over [video; text] with Mochi's learned per-head 3-D RoPE
/// on the video tokens (<see cref="MochiRope"/>), the last block text-less; AdaLN-continuous norm_out, proj_out and
/// the inverse patching back to [B, C_out, F, H, W].
/// diffusers drops each row's padded text tokens from the joint attention. Here the text past the last token any row
/// keeps is cut in Embed (the same output, fewer tokens); a key bias [B, N + T] (<see cref="DitState.TextKeyBias"/>)
/// hides the rest only where some row pads a token the others keep. As a <see cref="DiffusionTransformer"/>: the
/// state's image tokens are the video tokens (sequence parallelism splits them with their RoPE rows; the text stream
/// and its key bias are replicated); its grid is <see cref="DitState.GridT"/> = F frames and
/// <see cref="DitState.GridH"/> = F·gh rows of <see cref="DitState.GridW"/> = gw (CogVideoX's layout).
/// </summary>
public sealed class MochiTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _patch;                 // patch_embed.proj: Conv2d weight [D, C, p, p] as [D, C·p·p]
    readonly MochiTimeCaptionEmbedding _timeCaption;
    readonly float[] _posFrequencies;       // [3, H, d/2], learned
    // the RoPE tables on the backend per grid, kept until the model is disposed (states read them, never own them)
    readonly Dictionary<(int, int, int), (Tensor Cos, Tensor Sin)> _rope = new();
    readonly MochiBlock[] _blocks;
    readonly AdaLayerNormContinuous _normOut;
    readonly Linear _projOut;

    MochiTransformer(MochiConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize;
        var proj = w.Pp("patch_embed").Pp("proj");
        _patch = new Linear(proj.GetOperand("weight", d, c.InChannels, p, p).Reshape(d, c.PatchFeatures), proj.GetOperand("bias", d));
        _timeCaption = new MochiTimeCaptionEmbedding(w.Pp("time_embed"), c);
        // read through the backend (not HostF32) so that the random checkpoints of the benchmarks make it too
        _posFrequencies = w.Ops.ToHost(w.Get("pos_frequencies", 3, c.NumAttentionHeads, c.AttentionHeadDim / 2));
        var blocks = w.Pp("transformer_blocks");
        _blocks = Enumerable.Range(0, c.NumLayers).Select(i => new MochiBlock(blocks.Pp(i), c, last: i == c.NumLayers - 1)).ToArray();
        _normOut = AdaLayerNormContinuous.Load(w.Pp("norm_out"), d, d);
        _projOut = w.Linear("proj_out", d, c.OutFeatures);
    }

    public MochiConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static MochiTransformer Load(string dir, IOps ops)
    {
        var config = MochiConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static MochiTransformer Load(MochiConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return w.Checked(new MochiTransformer(config, w)); }
        catch { w.Dispose(); throw; }
    }

    public override int NumBlocks => _blocks.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Inputs: HiddenStates [B, C, F, H, W] (H and W multiples of patch_size), EncoderHiddenStates
    /// [B, T, text_embed_dim], EncoderAttentionMask [B, T] (nonzero kept, 0 padded: kept tokens first, as right-padded
    /// prompts are; a row may keep none; null keeps all),
    /// Timestep one per row.</summary>
    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        int p = c.PatchSize;
        if (x.Rank != 5 || x.Dim(1) != c.InChannels)
            throw new ArgumentException($"Mochi hidden_states must be [B, {c.InChannels}, F, H, W], got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), frames = x.Dim(2), hh = x.Dim(3), ww = x.Dim(4);
        if (hh % p != 0 || ww % p != 0)
            throw new ArgumentException($"Mochi latent size {hh}×{ww} is not a multiple of patch_size {p}");
        int gh = hh / p, gw = ww / p, n = frames * gh * gw;
        if (n == 0)
            throw new ArgumentException($"Mochi hidden_states {Shape.Format(x.ShapeSpan)} holds no patch");
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != c.TextEmbedDim || ctx.Dim(1) == 0)
            throw new ArgumentException($"Mochi encoder_hidden_states must be [{b}, T ≥ 1, {c.TextEmbedDim}], got {Shape.Format(ctx.ShapeSpan)}");
        int t = ctx.Dim(1);
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"Mochi needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        var mask = HostMask(ops, inputs.EncoderAttentionMask, b, t);
        // the text past the longest kept prefix is dropped: diffusers leaves a row's padded tokens out of the attention,
        // and what they compute reaches neither a kept token nor a video token (nor the pool, which masks them), so
        // the output is the same without them; one token stays when no row keeps any (then hidden)
        int kept = 1;
        for (int r = 0; r < b; r++)
            for (int j = t - 1; j >= kept; j--)
                if (mask[r * t + j] != 0) { kept = j + 1; break; }
        var keptMask = new float[b * kept];
        bool ragged = false;
        for (int r = 0; r < b; r++)
            for (int j = 0; j < kept; j++)
            {
                keptMask[r * kept + j] = mask[r * t + j] != 0 ? 1f : 0f;
                ragged |= mask[r * t + j] == 0;
            }

        using var made = new EmbedScope();
        var image = made.Add(PatchEmbed(ops, x, b, frames, gh, gw));
        var prefix = ctx.Slice(1, 0, kept);
        Tensor text, cond;
        using (var dense = prefix.IsContiguous ? null : ops.Contiguous(prefix))
        {
            text = made.Add(_timeCaption.Caption(ops, dense ?? prefix));
            using var temb = _timeCaption.Conditioning(ops, inputs.Timestep, dense ?? prefix, keptMask);
            cond = made.Add(ops.Activate(temb, Activation.Silu));
        }
        var (rc, rs) = RopeTables(ops, frames, gh, gw);
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond,
            TextKeyBias = ragged ? made.Add(JointKeyBias(ops, keptMask, b, n, kept)) : null,
            ImageRopeCos = rc,
            ImageRopeSin = rs,
            TotalTokens = n, GridT = frames, GridH = frames * gh, GridW = gw,
        });
    }

    /// <summary>The RoPE tables [tokens, H·d] of a grid on the backend, built on first use and kept: every step of a
    /// video asks for the same ones, and Mochi 1's (23850 tokens × 3072 angles, 2 × 293 MB in bf16) take a while to
    /// compute on the host and to upload.</summary>
    (Tensor Cos, Tensor Sin) RopeTables(IOps ops, int frames, int rows, int cols)
    {
        lock (_rope)
        {
            if (_rope.TryGetValue((frames, rows, cols), out var t)) return t;
            var (cos, sin) = MochiRope.Tables(frames, rows, cols, _posFrequencies, Config.NumAttentionHeads, Config.AttentionHeadDim);
            int n = frames * rows * cols;
            var c = ops.FromHost(cos, n, Config.InnerDim);
            try { t = (c, ops.FromHost(sin, n, Config.InnerDim)); }
            catch { c.Dispose(); throw; }
            _rope[(frames, rows, cols)] = t;
            return t;
        }
    }

    /// <summary>The mask's values on the host (all ones when there is none). Each row must keep a prefix (1…1 0…0,
    /// possibly empty): diffusers runs a row's attention over its kept text tokens only and writes their outputs back
    /// into the first slots of the row, so with a padded token before a kept one the outputs land on other tokens
    /// than their own, which no key mask reproduces.</summary>
    static float[] HostMask(IOps ops, Tensor? mask, int b, int t)
    {
        if (mask is null) return Enumerable.Repeat(1f, b * t).ToArray();
        if (mask.Rank != 2 || mask.Dim(0) != b || mask.Dim(1) != t)
            throw new ArgumentException($"Mochi encoder_attention_mask must be [{b}, {t}], got {Shape.Format(mask.ShapeSpan)}");
        var m = ops.ToHost(mask);
        for (int r = 0; r < b; r++)
        {
            int k = 0;
            while (k < t && m[r * t + k] != 0) k++;
            for (int j = k; j < t; j++)
                if (m[r * t + j] != 0)
                    throw new ArgumentException($"Mochi encoder_attention_mask row {r} keeps token {j} after padded token {k}: expected kept tokens first (1…1 0…0), as the pipeline pads prompts on the right (diffusers writes a row's kept outputs back to its first slots, so other layouts move them onto other tokens)");
        }
        return m;
    }

    /// <summary>[B, N + T]: zeros for the N video keys, then per row 0 for its kept text keys and −10000 for its padded
    /// ones.</summary>
    static Tensor JointKeyBias(IOps ops, float[] keptMask, int b, int n, int t)
    {
        var bias = new float[(long)b * (n + t)];
        for (int r = 0; r < b; r++)
            for (int j = 0; j < t; j++)
                if (keptMask[r * t + j] == 0) bias[(long)r * (n + t) + n + j] = TextKeyBias.PaddedKeyBias;
        return ops.FromHost(bias, b, n + t);
    }

    /// <summary>[B, C, F, H, W] → tokens [B, F·gh·gw, D]: each patch's features gathered in (C, p, p) order by one
    /// strided copy, then the projection (the per-frame Conv2d of stride = kernel as a GEMM).</summary>
    Tensor PatchEmbed(IOps ops, Tensor x, int b, int frames, int gh, int gw)
    {
        var c = Config;
        int p = c.PatchSize;
        using var dense = x.IsContiguous ? null : ops.Contiguous(x);
        var v = (dense ?? x).Reshape(b, c.InChannels, frames, gh, p, gw, p).Permute(0, 2, 3, 5, 1, 4, 6);
        using var patches = ops.Contiguous(v);
        return _patch.Apply(ops, patches.Reshape(b, frames * gh * gw, c.PatchFeatures));
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(index), $"Mochi has {NumBlocks} blocks, asked for {index}");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>Block 0's norm on the video tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state) => _blocks[0].ModulatedImage(ops, state);

    /// <summary>norm_out (AdaLayerNormContinuous: LayerNorm, scale then shift) and proj_out of the held video tokens.</summary>
    public override Tensor Finish(IOps ops, DitState state)
    {
        using var n = _normOut.ApplyActivated(ops, state.Image, state.Conditioning);   // Conditioning is SiLU(temb)
        return _projOut.Apply(ops, n);
    }

    /// <summary>Tokens [B, F·gh·gw, p·p·C_out] (features (p, p, C), as proj_out orders them) → [B, C_out, F, gh·p, gw·p],
    /// one strided copy.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        var c = Config;
        int frames = state.GridT, gh = state.GridH / Math.Max(1, frames), gw = state.GridW, p = c.PatchSize;
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || frames * gh != state.GridH || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Mochi unpatchify needs [B, {state.TotalTokens}, {OutFeatures}] tokens of {frames} frames × {gh}×{gw} patches; got {Shape.Format(tokens.ShapeSpan)}");
        int b = tokens.Dim(0);
        using var dense = tokens.IsContiguous ? null : ops.Contiguous(tokens);
        var v = (dense ?? tokens).Reshape(b, frames, gh, gw, p, p, c.OutChannels).Permute(0, 6, 1, 2, 4, 3, 5);
        var y = ops.Contiguous(v);
        return y.TakeReshaped(b, c.OutChannels, frames, gh * p, gw * p);
    }

    public override void Dispose()
    {
        lock (_rope)
        {
            foreach (var (cos, sin) in _rope.Values) { cos.Dispose(); sin.Dispose(); }
            _rope.Clear();
        }
        _weights.Dispose();
    }
}

using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.ZImage;

/// <summary>
/// diffusers ZImageTransformer2DModel (Z-Image), text-to-image form. Inputs: the latents as diffusers' list of
/// (C, 1, H, W) stacked, <see cref="DitInputs.HiddenStates"/> [B, C, 1, H, W]; the captions as diffusers' list of
/// (L_i, cap_feat_dim) padded into <see cref="DitInputs.EncoderHiddenStates"/> [B, L, cap_feat_dim] with
/// <see cref="DitInputs.EncoderAttentionMask"/> [B, L] (nonzero: kept; row i's kept tokens, in order, are its
/// caption, as the pipeline's prompt_embeds[i][mask[i]] picks them; no mask: every row has all L tokens); one
/// timestep per row, the pipeline's (1000 − t)/1000 (scaled by t_scale inside). Output: [B, C, 1, H, W], the
/// model's sample (the pipeline's noise prediction is its negation).
/// <para>The stages: <see cref="Embed"/> patchifies and embeds the image (all_x_embedder["2-1"]), embeds each caption
/// (RMSNorm + Linear), pads it to a multiple of 32 with cap_pad_token and runs the context refiner over it, and
/// computes every block's modulation from the timestep embedding at once. The blocks (<see cref="RunBlock"/>) are the
/// noise refiner's, then the main layers. The state's image tokens are the h·w grid alone; the image's padding to
/// its multiple of 32 (x_pad_token rows) and the caption are the joint rows after them (<see cref="DitState.Text"/>
/// = [x_pad rows; caption]): the noise refiner attends the image with the padding rows, the main layers with all of
/// them, as diffusers' per-row sequences [image, pad] and [image, pad, caption]. Attention is per-token order free,
/// so the image can be split by sequence parallelism while the joint rows stay replicated.</para>
/// <para>Batch rows whose captions pad to different lengths (P_i): diffusers pads the shorter rows' sequences with
/// masked tokens; here the caption rows past P_i carry cap_pad_token states and a −10000 key bias. diffusers places a
/// row's image at frame position P_i + 1; here every row's image sits at P_max + 1 and row i's caption and padding
/// positions move by P_max − P_i with it: RoPE depends only on position differences, so the attention is the same,
/// with one image table for the whole batch (the joint rows get a table per batch row when the P_i differ).</para>
/// </summary>
public sealed class ZImageTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Linear _xEmbedder, _capEmbedder, _finalLinear, _finalAdaLn, _adaLnAll;
    readonly Tensor _capNorm, _xPadToken, _capPadToken;
    readonly TimestepEmbedding _timestep;
    readonly ZImageBlock[] _noiseRefiner, _contextRefiner, _layers;

    ZImageTransformer(ZImageConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        int d = config.Dim, a = config.AdaLnDim;
        _xEmbedder = w.Pp("all_x_embedder").Linear(config.PatchKey, config.PatchFeatures, d);
        var final = w.Pp("all_final_layer").Pp(config.PatchKey);
        _finalLinear = final.Linear("linear", d, config.PatchFeatures);
        _finalAdaLn = final.Pp("adaLN_modulation").Linear("1", a, d);
        var mlp = w.Pp("t_embedder").Pp("mlp");
        _timestep = new TimestepEmbedding(mlp.Linear("0", TimestepEmbedding.SinusoidChannels, ZImageConfig.TimestepMidSize), mlp.Linear("2", ZImageConfig.TimestepMidSize, a));
        var cap = w.Pp("cap_embedder");
        _capNorm = cap.Pp("0").Get("weight", config.CapFeatDim);
        _capEmbedder = cap.Linear("1", config.CapFeatDim, d);
        _xPadToken = w.GetOperand("x_pad_token", 1, d);
        _capPadToken = w.GetOperand("cap_pad_token", 1, d);
        var nr = w.Pp("noise_refiner");
        var cr = w.Pp("context_refiner");
        var layers = w.Pp("layers");
        _noiseRefiner = Enumerable.Range(0, config.NRefinerLayers).Select(i => new ZImageBlock(nr.Pp(i), config, modulated: true)).ToArray();
        _contextRefiner = Enumerable.Range(0, config.NRefinerLayers).Select(i => new ZImageBlock(cr.Pp(i), config, modulated: false)).ToArray();
        _layers = Enumerable.Range(0, config.NLayers).Select(i => new ZImageBlock(layers.Pp(i), config, modulated: true)).ToArray();
        // every modulated block's adaLN linear reads the same timestep embedding: one GEMM for all of them
        _adaLnAll = w.Stack(_noiseRefiner.Concat(_layers).Select(b => b.AdaLn!.Value).ToArray()).Stacked;
    }

    public ZImageConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static ZImageTransformer Load(string dir, IOps ops)
    {
        var config = ZImageConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static ZImageTransformer Load(ZImageConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        // the other patch sizes' embedders and final layers are there for a forward() given other patch sizes
        var others = config.AllPatchSize.Zip(config.AllFPatchSize).Select(p => $"{p.First}-{p.Second}").Where(k => k != config.PatchKey)
            .SelectMany(k => new[] { "all_x_embedder." + k, "all_final_layer." + k }).ToArray();
        try { return w.Checked(new ZImageTransformer(config, w), others); }
        catch { w.Dispose(); throw; }
    }

    public override int NumBlocks => _noiseRefiner.Length + _layers.Length;
    public override int NumHeads => Config.NHeads;
    public override int HeadDim => Config.HeadDim;
    public override int OutFeatures => Config.PatchFeatures;
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Chunks of the state's conditioning per modulated block (scale_msa, gate_msa, scale_mlp, gate_mlp),
    /// after which come the final layer's scale and a zero chunk (the shift of its unshifted LayerNormModulate).</summary>
    const int ChunksPerBlock = 4;

    int ConditioningChunks => ChunksPerBlock * NumBlocks + 2;

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        int p = c.PatchSize, d = c.Dim, hd = c.HeadDim;
        var x = inputs.HiddenStates;
        if (x.Rank != 5 || x.Dim(1) != c.InChannels || x.Dim(2) != 1)
            throw new ArgumentException($"Z-Image hidden_states must be [B, {c.InChannels}, 1, H, W] (the list of (C, 1, H, W) latents stacked), got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), hgt = x.Dim(3), wid = x.Dim(4);
        if (hgt % p != 0 || wid % p != 0 || hgt == 0 || wid == 0)
            throw new ArgumentException($"Z-Image hidden_states' height and width must be positive multiples of the patch size {p}, got {hgt}×{wid}");
        int gh = hgt / p, gw = wid / p, n = gh * gw;
        var cap = inputs.EncoderHiddenStates;
        if (cap.Rank != 3 || cap.Dim(0) != b || cap.Dim(2) != c.CapFeatDim || cap.Dim(1) == 0)
            throw new ArgumentException($"Z-Image encoder_hidden_states (cap_feats padded to one length) must be [{b}, L, {c.CapFeatDim}] with L ≥ 1, got {Shape.Format(cap.ShapeSpan)}");
        int l = cap.Dim(1);
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"Z-Image needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        var kept = KeptTokens(ops, inputs.EncoderAttentionMask, b, l);

        // caption i pads to P_i (a multiple of 32), the image to n + xPad; see the class summary for the positions
        const int m = ZImageConfig.SequenceMultiple;
        var padded = kept.Select(k => RoundUp(k.Length, m)).ToArray();
        int pMax = padded.Max(), xPad = ImagePadRows(n), t = xPad + pMax;
        int frame = pMax + 1;
        if (frame >= c.AxesLens[0] || gh > c.AxesLens[1] || gw > c.AxesLens[2])
            throw new ArgumentException($"Z-Image RoPE positions out of axes_lens [{string.Join(", ", c.AxesLens)}]: the image's frame position {frame} (caption padded to {pMax}) and its {gh}×{gw} token grid must stay below them");

        using var made = new EmbedScope();
        // inputs in another dtype than the activations' (float32 fixtures on a bf16 backend) are cast once here
        var act = ops.ActivationType;
        using var xCast = x.DType != act ? ops.Cast(x, act) : x.IsContiguous ? null : ops.Contiguous(x);
        using var capCast = cap.DType == act ? null : ops.Cast(cap, act);
        Tensor image;
        using (var patches = ops.Patchify((xCast ?? x).Reshape(b, c.InChannels, hgt, wid), p, channelsFirst: false))
            image = made.Add(_xEmbedder.Apply(ops, patches));

        // the caption table [B·P_max, D]: kept tokens, then cap_pad_token up to P_i and past it (masked)
        int[] shift = padded.Select(pi => pMax - pi).ToArray();
        bool perRow = shift.Any(s => s != 0);
        Tensor captions;
        using (var normed = ops.RmsNorm(capCast ?? cap, _capNorm, (float)c.NormEps))
        using (var embedded = _capEmbedder.Apply(ops, normed))
        using (var table = ops.Concat(0, embedded.Reshape(b * l, d), _capPadToken))
        {
            var ids = new long[b * pMax];
            for (int r = 0; r < b; r++)
                for (int j = 0; j < pMax; j++)
                    ids[r * pMax + j] = j < kept[r].Length ? (long)r * l + kept[r][j] : (long)b * l;
            captions = ops.Embedding(table, ids).TakeReshaped(b, pMax, d);
        }
        made.Add(captions);

        // RoPE: the image at frame P_max + 1; row r's padding tokens at P_max − P_r and caption j at 1 + j + P_max − P_r
        var (ic, isn) = ZImageRope.Image(frame, gh, gw, c);
        int tableRows = perRow ? b * t : t;
        var tc = new float[tableRows * hd];
        var tsn = new float[tableRows * hd];
        for (int r = 0; r < (perRow ? b : 1); r++)
        {
            ZImageRope.Fill(tc, tsn, r * t, xPad, shift[r], 0, 0, 0, c);
            ZImageRope.Fill(tc, tsn, r * t + xPad, pMax, 1 + shift[r], 1, 0, 0, c);
        }
        var imageRope = new ZImageRopeRows(made.Add(ops.FromHost(ic, n, hd)), made.Add(ops.FromHost(isn, n, hd)));
        var textRope = new ZImageRopeRows(made.Add(ops.FromHost(tc, tableRows, hd)), made.Add(ops.FromHost(tsn, tableRows, hd)), perRow ? t : 0);

        // the rows past P_i are hidden from every query: [B, n + t] over (image, padding, caption) keys
        Tensor? keyBias = null;
        if (perRow)
        {
            var bias = new float[b * (n + t)];
            for (int r = 0; r < b; r++)
                for (int j = padded[r]; j < pMax; j++) bias[r * (n + t) + n + xPad + j] = TextKeyBias.PaddedKeyBias;
            keyBias = made.Add(ops.FromHost(bias, b, n + t));
        }

        // context refiner over the captions alone (their rows of the joint table)
        var capOptions = keyBias is null ? null : new AttentionOptions { KeyBias = keyBias.Slice(1, n + xPad, pMax) };
        var capRope = textRope.From(xPad);
        foreach (var block in _contextRefiner)
        {
            var next = block.RunLocal(ops, captions, capRope, capOptions);
            made.Drop(captions);
            captions = made.Add(next);
        }

        Tensor text;
        if (xPad == 0) text = captions;
        else
        {
            using var pads = ops.Embedding(_xPadToken, new long[b * xPad]);
            text = made.Add(ops.Concat(1, pads.Reshape(b, xPad, d), captions));
            made.Drop(captions);
        }

        var cond = made.Add(Conditioning(ops, inputs.Timestep));
        return made.HandTo(new DitState
        {
            Image = image, Text = text, TextKeyBias = keyBias, Conditioning = cond,
            ImageRopeCos = imageRope.Cos, ImageRopeSin = imageRope.Sin, TextRopeCos = textRope.Cos, TextRopeSin = textRope.Sin,
            TotalTokens = n, GridH = gh, GridW = gw,
        });
    }

    static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    /// <summary>The image's padding tokens up to its multiple of 32: the joint rows before the caption.</summary>
    static int ImagePadRows(int imageTokens) => RoundUp(imageTokens, ZImageConfig.SequenceMultiple) - imageTokens;

    /// <summary>The indices of each row's kept caption tokens (mask nonzero), in order; all L without a mask.</summary>
    static int[][] KeptTokens(IOps ops, Tensor? mask, int batch, int l)
    {
        if (mask is null) return Enumerable.Range(0, batch).Select(_ => Enumerable.Range(0, l).ToArray()).ToArray();
        if (mask.Rank != 2 || mask.Dim(0) != batch || mask.Dim(1) != l)
            throw new ArgumentException($"Z-Image encoder_attention_mask must be [{batch}, {l}] like encoder_hidden_states' rows, got {Shape.Format(mask.ShapeSpan)}");
        var m = ops.ToHost(mask);
        var kept = new int[batch][];
        for (int r = 0; r < batch; r++)
        {
            kept[r] = Enumerable.Range(0, l).Where(j => m[r * l + j] != 0).ToArray();
            if (kept[r].Length == 0)
                throw new ArgumentException($"Z-Image encoder_attention_mask row {r} keeps no caption token; every row needs at least one");
        }
        return kept;
    }

    /// <summary>The state's conditioning [B, (4·blocks + 2)·D]: every modulated block's adaLN_modulation.0 of the
    /// timestep embedding (scales raw, gates through tanh), the final layer's scale (its adaLN of SiLU(embedding))
    /// and a zero chunk. tanh is taken on the host (no op for it), once per forward.</summary>
    Tensor Conditioning(IOps ops, float[] timestep)
    {
        var c = Config;
        int b = timestep.Length, d = c.Dim, blocks = NumBlocks;
        // diffusers: t_embedder(t · t_scale), the product in float32, the sinusoid cast to the weights' dtype
        var scaled = timestep.Select(v => (float)(v * (float)c.TScale)).ToArray();
        using var temb = _timestep.Embed(ops, scaled);
        using var mods = _adaLnAll.Apply(ops, temb);
        using var silu = ops.Activate(temb, Activation.Silu);
        using var final = _finalAdaLn.Apply(ops, silu);
        var mh = ops.ToHost(mods);
        var fh = ops.ToHost(final);
        int width = ConditioningChunks * d;
        var all = new float[b * width];
        for (int r = 0; r < b; r++)
        {
            for (int k = 0; k < blocks * ChunksPerBlock; k++)
            {
                bool gate = k % 2 == 1;   // scale_msa, gate_msa, scale_mlp, gate_mlp
                for (int i = 0; i < d; i++)
                {
                    float v = mh[r * blocks * ChunksPerBlock * d + k * d + i];
                    all[r * width + k * d + i] = gate ? MathF.Tanh(v) : v;
                }
            }
            Array.Copy(fh, r * d, all, r * width + blocks * ChunksPerBlock * d, d);
        }
        return ops.FromHost(all, b, width);
    }

    ZImageBlock.Mod ModOf(DitState state, int index)
    {
        var cond = state.Conditioning;
        int d = Config.Dim, at = index * ChunksPerBlock;
        return new ZImageBlock.Mod(cond.Slice(1, at * d, d), cond.Slice(1, (at + 1) * d, d), cond.Slice(1, (at + 2) * d, d),
            cond.Slice(1, (at + 3) * d, d));
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)NumBlocks) throw new ArgumentOutOfRangeException(nameof(index), $"Z-Image has {NumBlocks} blocks ({_noiseRefiner.Length} noise refiner, {_layers.Length} layers), asked for {index}");
        var text = state.Text ?? throw new InvalidOperationException("Z-Image: the state has no joint rows (image padding and caption)");
        if (state.ImageRopeCos is null || state.ImageRopeSin is null || state.TextRopeCos is null || state.TextRopeSin is null)
            throw new InvalidOperationException("Z-Image: the state has no RoPE tables");
        var xRope = new ZImageRopeRows(state.ImageRopeCos, state.ImageRopeSin);
        int t = text.Dim(1);
        var tRope = new ZImageRopeRows(state.TextRopeCos, state.TextRopeSin, state.TextRopeCos.Dim(0) == t ? 0 : t);
        var mod = ModOf(state, index);
        if (index < _noiseRefiner.Length)
        {
            // the image with its padding rows alone; the caption rows wait for the main layers
            int xPad = ImagePadRows(state.TotalTokens);
            Tensor? pads = xPad == 0 ? null : text.Slice(1, 0, xPad);
            ZImageRopeRows? padRope = xPad == 0 ? null : tRope;
            var (x, j) = _noiseRefiner[index].Run(ops, state.Image, pads, mod, xRope, padRope, attention, null);
            state.ReplaceImage(x);
            if (j is null) return;
            using (j) state.ReplaceText(ops.Concat(1, j, text.Slice(1, xPad, t - xPad)));
            return;
        }
        AttentionOptions? options = null;
        if (state.TextKeyBias is { } kb)
            options = new AttentionOptions { KeyBias = state.TokenCount == state.TotalTokens ? kb : kb.Slice(1, state.TotalTokens, t) };
        var (nx, nt) = _layers[index - _noiseRefiner.Length].Run(ops, state.Image, text, mod, xRope, tRope, attention, options);
        state.ReplaceImage(nx);
        state.ReplaceText(nt);
    }

    public override Tensor Finish(IOps ops, DitState state)
    {
        var cond = state.Conditioning;
        int d = Config.Dim, chunks = ConditioningChunks;
        using var n = ops.LayerNormModulate(state.Image, cond.Slice(1, (chunks - 1) * d, d), cond.Slice(1, (chunks - 2) * d, d), ZImageConfig.FinalNormEps);
        return _finalLinear.Apply(ops, n);
    }

    /// <summary>[B, h·w, p²·C] → [B, C, 1, H, W]: features (ph, pw, c) per token, as diffusers' unpatchify reads them.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"Z-Image output tokens must be [B, {state.TotalTokens}, {OutFeatures}], got {Shape.Format(tokens.ShapeSpan)}");
        int p = Config.PatchSize;
        var img = ops.Unpatchify(tokens, p, Config.InChannels, state.GridH, state.GridW, channelsFirst: false);
        return img.TakeReshaped(img.Dim(0), Config.InChannels, 1, state.GridH * p, state.GridW * p);
    }

    public override void Dispose() => _weights.Dispose();
}

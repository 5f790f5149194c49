using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Models.Layers;
using XDit.Runtime;

namespace XDit.Models.PixArt;

/// <summary>
/// PixArtTransformer2DModel (PixArt-α and PixArt-Σ, models.md §2) written against <see cref="IOps"/> as the
/// stages of <see cref="DiffusionTransformer"/>. The image tokens are the only per-token state; the projected
/// caption, its key bias and the timestep conditioning are replicated, so a sequence-parallel executor can shard
/// <see cref="DitState.Image"/> right after <see cref="Embed"/>.
/// </summary>
public sealed class PixArtTransformer : DiffusionTransformer
{
    /// <summary>Bias added to the cross-attention scores of padded text keys (diffusers: (1 − mask)·−10000).</summary>
    public const float PaddedKeyBias = -10000f;

    readonly ModelWeights _weights;
    readonly Linear _patchEmbed;          // conv weight [D, C, p, p] viewed as [D, C·p·p]
    readonly Linear _captionIn, _captionOut;
    readonly bool _hasCaptionProjection;
    readonly Linear _timeIn, _timeOut;
    readonly Linear _resolutionIn, _resolutionOut, _aspectIn, _aspectOut;
    readonly Linear _adaLinear;
    readonly PixArtBlockWeights[] _blocks;
    readonly Tensor _finalScaleShift;     // [2, D]: shift row, then scale row
    readonly Linear _projOut;
    readonly Dictionary<(int, int), Tensor> _positionTables = new();

    PixArtTransformer(PixArtConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize, ce = c.InChannels * p * p;

        var posEmbed = w.Pp("pos_embed");
        var conv = posEmbed.GetOperand("proj.weight", d, c.InChannels, p, p);
        _patchEmbed = new Linear(conv.Reshape(d, ce), posEmbed.GetOperand("proj.bias", d));

        if (c.CaptionChannels is int cap)
        {
            _hasCaptionProjection = true;
            _captionIn = w.Linear("caption_projection.linear_1", cap, d);
            _captionOut = w.Linear("caption_projection.linear_2", d, d);
        }
        var emb = w.Pp("adaln_single").Pp("emb");
        _timeIn = emb.Linear("timestep_embedder.linear_1", TimestepChannels, d);
        _timeOut = emb.Linear("timestep_embedder.linear_2", d, d);
        if (c.UseAdditionalConditions)
        {
            int s = c.SizeEmbedDim;
            _resolutionIn = emb.Linear("resolution_embedder.linear_1", TimestepChannels, s);
            _resolutionOut = emb.Linear("resolution_embedder.linear_2", s, s);
            _aspectIn = emb.Linear("aspect_ratio_embedder.linear_1", TimestepChannels, s);
            _aspectOut = emb.Linear("aspect_ratio_embedder.linear_2", s, s);
        }
        _adaLinear = w.Linear("adaln_single.linear", d, 6 * d);
        _blocks = new PixArtBlockWeights[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++) _blocks[i] = PixArtBlockWeights.Load(w.Pp("transformer_blocks").Pp(i), c);
        _finalScaleShift = w.Get("scale_shift_table", 2, d);
        _projOut = w.Linear("proj_out", d, p * p * c.OutChannels);
    }

    /// <summary>Channels of the sinusoidal timestep / micro-condition projection.</summary>
    public const int TimestepChannels = 256;

    public PixArtConfig Config { get; }
    public override int NumBlocks => Config.NumLayers;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.PatchSize * Config.PatchSize * Config.OutChannels;
    public override bool OffersSelfAttentionModules => true;
    /// <summary>Bytes of the weights on the backend.</summary>
    public long WeightBytes => _weights.Bytes;

    /// <summary>Loads config.json and the weights (one file, an fp16 variant, or shards with their index) of a
    /// diffusers transformer folder.</summary>
    public static PixArtTransformer Load(string dir, IOps ops)
    {
        var config = PixArtConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static PixArtTransformer Load(PixArtConfig config, ITensorSource source, IOps ops)
    {
        var w = new ModelWeights(source, ops);
        try { return new PixArtTransformer(config, w); }
        catch { w.Dispose(); throw; }
    }

    // ---------------------------------------------------------------- stages

    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        if (x.Rank != 4 || x.Dim(1) != c.InChannels || x.Dim(2) % c.PatchSize != 0 || x.Dim(3) % c.PatchSize != 0)
            throw new ArgumentException($"PixArt hidden_states must be [B, {c.InChannels}, H, W] with H, W multiples of {c.PatchSize}; got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), gh = x.Dim(2) / c.PatchSize, gw = x.Dim(3) / c.PatchSize, d = c.InnerDim;
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"PixArt needs one timestep per batch row: {inputs.Timestep.Length} for batch {b}");
        var y = inputs.EncoderHiddenStates;
        int captionWidth = c.CaptionChannels ?? c.CrossAttentionDim;
        if (y.Rank != 3 || y.Dim(0) != b || y.Dim(2) != captionWidth)
            throw new ArgumentException($"PixArt encoder_hidden_states must be [{b}, T, {captionWidth}]; got {Shape.Format(y.ShapeSpan)}");

        var keep = new List<Tensor>();
        try
        {
            // 1. patch tokens + position table
            Tensor image;
            using (var patches = ops.Patchify(x, c.PatchSize, channelsFirst: true))
            using (var tokens = _patchEmbed.Apply(ops, patches))
                image = ops.Add(tokens, PositionTable(ops, gh, gw));
            keep.Add(image);

            // 2-3. timestep (+ micro-conditions) → embedded_timestep [B, D] and the 6·D modulation
            var embedded = EmbedTimestep(ops, inputs, b);
            keep.Add(embedded);
            Tensor temb6;
            using (var act = ops.Activate(embedded, Activation.Silu)) temb6 = _adaLinear.Apply(ops, act);
            keep.Add(temb6);

            // 4. caption projection
            Tensor text;
            if (_hasCaptionProjection)
            {
                using var h = _captionIn.Apply(ops, y, Activation.GeluTanh);
                text = _captionOut.Apply(ops, h);
            }
            else text = ops.Contiguous(y);
            keep.Add(text);

            // 5. padded text keys → additive bias
            Tensor? keyBias = null;
            if (inputs.EncoderAttentionMask is { } mask)
            {
                if (mask.Rank != 2 || mask.Dim(0) != b || mask.Dim(1) != y.Dim(1))
                    throw new ArgumentException($"PixArt encoder_attention_mask must be [{b}, {y.Dim(1)}]; got {Shape.Format(mask.ShapeSpan)}");
                keyBias = MaskToKeyBias(ops, mask);
                keep.Add(keyBias);
            }

            var state = new DitState
            {
                Image = image,
                Text = text,
                TextKeyBias = keyBias,
                Conditioning = temb6,
                EmbeddedTimestep = embedded,
                TotalTokens = gh * gw,
                GridH = gh,
                GridW = gw,
            };
            state.Owned.AddRange(keep);
            return state;
        }
        catch
        {
            foreach (var t in keep) t.Dispose();
            throw;
        }
    }

    /// <summary>(1 − m)·(−10000) for a 0/1 mask: 0 on kept keys, −10000 on padded ones.</summary>
    static Tensor MaskToKeyBias(IOps ops, Tensor mask)
    {
        var m = ops.ToHost(mask);
        var bias = new float[m.Length];
        for (int i = 0; i < m.Length; i++) bias[i] = (1f - m[i]) * PaddedKeyBias;
        return ops.FromHost(bias, mask.Dims);
    }

    Tensor EmbedTimestep(IOps ops, DitInputs inputs, int batch)
    {
        var emb = Mlp(ops, inputs.Timestep, _timeIn, _timeOut);
        if (!Config.UseAdditionalConditions) return emb;
        try
        {
            var res = inputs.Resolution ?? throw new ArgumentException("this PixArt model (use_additional_conditions) needs the resolution micro-condition [B, 2]");
            var ar = inputs.AspectRatio ?? throw new ArgumentException("this PixArt model (use_additional_conditions) needs the aspect_ratio micro-condition [B, 1]");
            if (res.NumElements != 2L * batch) throw new ArgumentException($"resolution must be [{batch}, 2]; got {Shape.Format(res.ShapeSpan)}");
            if (ar.NumElements != batch) throw new ArgumentException($"aspect_ratio must be [{batch}, 1]; got {Shape.Format(ar.ShapeSpan)}");
            int s = Config.SizeEmbedDim;
            // resolution.flatten() → [2B, s] → [B, 2s]: height embedding then width embedding per row
            using var r = Mlp(ops, ops.ToHost(res), _resolutionIn, _resolutionOut);
            using var a = Mlp(ops, ops.ToHost(ar), _aspectIn, _aspectOut);
            using var cond = ops.Concat(1, r.Reshape(batch, 2 * s), a);
            return ops.Add(emb, cond);
        }
        finally { emb.Dispose(); }
    }

    /// <summary>TimestepEmbedding(Timesteps(v)): sinusoid (256, flip, shift 0) → linear_1 → SiLU → linear_2.</summary>
    static Tensor Mlp(IOps ops, ReadOnlySpan<float> values, Linear first, Linear second)
    {
        using var sinusoid = ops.TimestepEmbedding(values, TimestepChannels, flipSinToCos: true, downscaleFreqShift: 0f);
        using var cast = sinusoid.DType == ops.ActivationType ? null : ops.Cast(sinusoid, ops.ActivationType);
        using var h = first.Apply(ops, cast ?? sinusoid, Activation.Silu);
        return second.Apply(ops, h);
    }

    /// <summary>The position table [gh·gw, D] for a grid, built once per grid size and kept with the model (which
    /// lives on one backend, the one its weights were uploaded to).</summary>
    Tensor PositionTable(IOps ops, int gh, int gw)
    {
        lock (_positionTables)
        {
            if (!_positionTables.TryGetValue((gh, gw), out var t))
            {
                var table = PixArtPositionTable.Build(Config.InnerDim, gh, gw, Config.BaseSize, Config.InterpolationScale);
                t = ops.FromHost(table, gh * gw, Config.InnerDim);
                _positionTables[(gh, gw)] = t;
            }
            return t;
        }
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"block {index} of {_blocks.Length}");
        var blk = _blocks[index];
        var c = Config;
        var x = state.Image;
        int h = c.NumAttentionHeads, hd = c.AttentionHeadDim;
        float eps = (float)c.NormEps;
        var text = state.Text ?? throw new InvalidOperationException("PixArt block needs the projected caption in state.Text");

        // (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp) = rows of table + temb6 viewed [B, 6, D];
        // laid out [6, B, D] so each row is a contiguous [B, D] slice.
        using var m = Modulate(ops, state.Conditioning, blk.ScaleShiftTable);

        // self-attention on the modulated norm
        Tensor x1;
        using (var norm = ops.LayerNorm(x, null, null, eps))
        using (var a = ops.Modulate(norm, m.ShiftMsa, m.ScaleMsa))
        using (var o = SelfAttention(ops, attention, blk.SelfAttention, a, index, h, hd))
            x1 = ops.GatedResidual(x, m.GateMsa, o);
        state.ReplaceImage(x1);

        // cross-attention on the un-normalised tokens, keys/values from the caption
        var options = state.TextKeyBias is null ? null : new AttentionOptions { KeyBias = state.TextKeyBias };
        Tensor x2;
        using (var o = Attend(ops, attention, blk.CrossAttention, x1, text, h, hd, AttentionKind.Cross, $"transformer_blocks.{index}.attn2", options))
            x2 = ops.Add(x1, o);
        state.ReplaceImage(x2);

        // feed-forward on the modulated norm
        Tensor x3;
        using (var norm = ops.LayerNorm(x2, null, null, eps))
        using (var f = ops.Modulate(norm, m.ShiftMlp, m.ScaleMlp))
        using (var hidden = blk.FeedForwardIn.Apply(ops, f, Activation.GeluTanh))
        using (var y = blk.FeedForwardOut.Apply(ops, hidden))
            x3 = ops.GatedResidual(x2, m.GateMlp, y);
        state.ReplaceImage(x3);
    }

    /// <summary>LN(x)·(1 + scale_msa) + shift_msa of block 0, as its self-attention sees it.</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state)
    {
        if (_blocks.Length == 0) throw new InvalidOperationException("PixArt model has no blocks");
        using var m = Modulate(ops, state.Conditioning, _blocks[0].ScaleShiftTable);
        using var norm = ops.LayerNorm(state.Image, null, null, (float)Config.NormEps);
        return ops.Modulate(norm, m.ShiftMsa, m.ScaleMsa);
    }

    /// <summary>A block's (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp): its table [6, D] plus
    /// temb6 [B, 6·D] viewed [B, 6, D], laid out [6, B, D] so each part is a contiguous [B, D] row.</summary>
    static AdaLnZeroParts Modulate(IOps ops, Tensor temb6, Tensor table)
    {
        int b = temb6.Dim(0), d = table.Dim(1);
        using var mod6 = ops.Add(temb6.Reshape(b, 6, d), table);
        return new AdaLnZeroParts(Modulation.FromRows(ops.Contiguous(mod6.Permute(1, 0, 2))));
    }

    /// <summary>attn1 on the modulated tokens: as one module where the engine's attention runs modules (DiTFastAttn),
    /// else projected here and attended through <see cref="IAttention.Run"/>.</summary>
    static Tensor SelfAttention(IOps ops, IAttention attention, PixArtAttentionWeights w, Tensor x, int index, int heads, int headDim)
    {
        string layer = $"transformer_blocks.{index}.attn1";
        if (attention is IModuleAttention modules)
            return modules.RunSelfAttention(ops, new SelfAttentionModuleCall
            {
                Layer = layer,
                Block = index,
                Input = x,
                Project = (o, rows) => Project(o, w, rows, rows, heads, headDim),
                OutProject = (o, y) => OutProject(o, w, y),
            });
        return Attend(ops, attention, w, x, x, heads, headDim, AttentionKind.Self, layer, null);
    }

    /// <summary>Projects q from <paramref name="queries"/> and k, v from <paramref name="context"/>, runs the
    /// attention the engine gave, and applies to_out → [B, Nq, D].</summary>
    static Tensor Attend(IOps ops, IAttention attention, PixArtAttentionWeights w, Tensor queries, Tensor context,
        int heads, int headDim, AttentionKind kind, string layer, AttentionOptions? options)
    {
        var (q, k, v) = Project(ops, w, queries, context, heads, headDim);
        AttentionResult result;
        try { result = attention.Run(ops, new AttentionCall { Layer = layer, Kind = kind, Q = q, K = k, V = v, Options = options }); }
        finally { q.Dispose(); k.Dispose(); v.Dispose(); }
        result.JointOutput?.Dispose();
        using var o = result.Output;
        return OutProject(ops, w, o);
    }

    /// <summary>to_q of the queries, to_k and to_v of the context, as [B, N, H, d].</summary>
    static (Tensor Q, Tensor K, Tensor V) Project(IOps ops, PixArtAttentionWeights w, Tensor queries, Tensor context, int heads, int headDim)
    {
        int b = queries.Dim(0), nq = queries.Dim(1), nk = context.Dim(1);
        Tensor? q = null, k = null;
        try
        {
            q = w.Q.Apply(ops, queries).TakeReshaped(b, nq, heads, headDim);
            k = w.K.Apply(ops, context).TakeReshaped(b, nk, heads, headDim);
            var v = w.V.Apply(ops, context).TakeReshaped(b, nk, heads, headDim);
            return (q, k, v);
        }
        catch { q?.Dispose(); k?.Dispose(); throw; }
    }

    /// <summary>to_out of an attention result [B, N, H, d] → [B, N, D].</summary>
    static Tensor OutProject(IOps ops, PixArtAttentionWeights w, Tensor o)
    {
        using var merged = o.IsContiguous ? null : ops.Contiguous(o);
        var t = merged ?? o;
        return w.Out.Apply(ops, t.Reshape(t.Dim(0), t.Dim(1), t.Dim(2) * t.Dim(3)));
    }

    public override Tensor Finish(IOps ops, DitState state)
    {
        var c = Config;
        var emb = state.EmbeddedTimestep ?? throw new InvalidOperationException("PixArt Finish needs the embedded timestep in state.EmbeddedTimestep");
        // (shift, scale) = scale_shift_table [2, D] + embedded_timestep, shift first
        using var shift = ops.Add(emb, _finalScaleShift.Slice(0, 0, 1).Reshape(c.InnerDim));
        using var scale = ops.Add(emb, _finalScaleShift.Slice(0, 1, 1).Reshape(c.InnerDim));
        using var norm = ops.LayerNorm(state.Image, null, null, 1e-6f);
        using var m = ops.Modulate(norm, shift, scale);
        return _projOut.Apply(ops, m);
    }

    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        if (tokens.Rank != 3 || tokens.Dim(1) != state.GridH * state.GridW || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"PixArt unpatchify needs [B, {state.GridH * state.GridW}, {OutFeatures}] tokens; got {Shape.Format(tokens.ShapeSpan)}");
        return ops.Unpatchify(tokens, Config.PatchSize, Config.OutChannels, state.GridH, state.GridW, channelsFirst: false);
    }

    public override void Dispose()
    {
        lock (_positionTables)
        {
            foreach (var t in _positionTables.Values) t.Dispose();
            _positionTables.Clear();
        }
        _weights.Dispose();
    }
}

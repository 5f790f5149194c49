using XDit.Kernels;
using XDit.Models.Embeddings;
using XDit.Runtime;

namespace XDit.Models.CogVideoX;

/// <summary>
/// diffusers CogVideoXTransformer3DModel (CogVideoX 1.0 2b/5b/5b-I2V and 1.5 5b/5b-I2V), the first video model.
/// Latents come as the pipeline passes them, hidden_states [B, F, C, H, W] (frame axis before channels), and the
/// output has that layout. The patch embed cuts each group of p_t frames (1 in 1.0) into p×p patches, features in
/// (C, p_t, p, p) order (1.0's Conv2d weight flattened, 1.5's Linear), tokens in (frame group, row, column) order;
/// the T5 states go through text_proj. 2b adds a 3-D sin-cos table to the video tokens, 5b-I2V a learned table to
/// text and video tokens; 5b and 1.5 take the pipeline's RoPE tables (<see cref="CogVideoXRotaryTable"/>) instead.
/// The conditioning is the timestep's sinusoid (D wide) through time_embedding, plus 1.5-I2V's ofs embedding; the
/// blocks and norm_out read SiLU of it, computed once per forward.
/// As a <see cref="DiffusionTransformer"/>: the state's image tokens are the video tokens [B, F'·gh·gw, D] (sequence
/// parallelism splits them; the text stream and the tables of the held tokens follow as for SD3/HunyuanDiT); its
/// grid is <see cref="DitState.GridT"/> = F' frames and <see cref="DitState.GridH"/> = F'·gh rows (every frame's rows
/// stacked) of <see cref="DitState.GridW"/> = gw, so GridH·GridW is still the token count.
/// </summary>
public sealed class CogVideoXTransformer : DiffusionTransformer
{
    readonly ModelWeights _weights;
    readonly Tensor _patchWeight;        // [D, C·p_t·p·p]
    readonly Tensor? _patchBias;
    readonly Linear _textProj;
    readonly Tensor? _learnedPositions;  // 5b-I2V: [max_text + sample tokens, D]
    readonly CogVideoXPositionTable? _sinCos;
    readonly TimestepEmbedding _time;
    readonly TimestepEmbedding? _ofs;
    readonly CogVideoXBlock[] _blocks;
    readonly CogVideoXLayerNorm _normFinal, _normOut;
    readonly Linear _normOutLinear, _projOut;

    CogVideoXTransformer(CogVideoXConfig config, ModelWeights weights)
    {
        Config = config;
        _weights = weights;
        var w = weights.Root;
        var c = config;
        int d = c.InnerDim, p = c.PatchSize;
        var pe = w.Pp("patch_embed");
        if (c.PatchSizeT is null)
        {
            // 1.0: Conv2d(C, D, p, stride p) per frame, its weight flattened as (C, p, p)
            _patchWeight = pe.GetOperand("proj.weight", d, c.InChannels, p, p).Reshape(d, c.PatchFeatures);
            _patchBias = c.PatchBias ? pe.GetOperand("proj.bias", d) : null;
        }
        else
        {
            // 1.5: Linear(C·p_t·p·p, D), always with a bias (patch_bias concerns 1.0's convolution only)
            var proj = pe.Linear("proj", c.PatchFeatures, d);
            (_patchWeight, _patchBias) = (proj.Weight, proj.Bias);
        }
        _textProj = pe.Linear("text_proj", c.TextEmbedDim, d);
        if (c.UseLearnedPositionalEmbeddings)
        {
            int rows = c.MaxTextSeqLength + SampleTokens(c);
            _learnedPositions = pe.GetOperand("pos_embedding", 1, rows, d).Reshape(rows, d);
        }
        else if (c.UsesSinCosPositions)
            _sinCos = new CogVideoXPositionTable(d, c.SpatialInterpolationScale, c.TemporalInterpolationScale);
        _time = TimestepEmbedding.Load(w.Pp("time_embedding"), c.TimeEmbedDim, inDim: d);
        if (c.OfsEmbedDim is int ofs) _ofs = TimestepEmbedding.Load(w.Pp("ofs_embedding"), c.TimeEmbedDim, inDim: ofs);
        var blocks = w.Pp("transformer_blocks");
        _blocks = new CogVideoXBlock[c.NumLayers];
        try
        {
            for (int i = 0; i < _blocks.Length; i++) _blocks[i] = new CogVideoXBlock(blocks.Pp(i), c);
        }
        catch { _sinCos?.Dispose(); throw; }
        _normFinal = CogVideoXLayerNorm.Load(w.Pp("norm_final"), d, c.NormElementwiseAffine, c.NormEps);
        _normOut = CogVideoXLayerNorm.Load(w.Pp("norm_out.norm"), d, c.NormElementwiseAffine, c.NormEps);
        _normOutLinear = w.Linear("norm_out.linear", c.TimeEmbedDim, 2 * d);
        _normOut.FoldInto(w.Ops, _normOutLinear, 0, 1);   // AdaLayerNorm with chunk_dim 1: shift, then scale
        _projOut = w.Linear("proj_out", d, c.OutFeatures);
    }

    public CogVideoXConfig Config { get; }

    /// <summary>Loads config.json and the diffusion_pytorch_model weights of a diffusers transformer folder.</summary>
    public static CogVideoXTransformer Load(string dir, IOps ops)
    {
        var config = CogVideoXConfig.Load(Path.Combine(dir, "config.json"));
        using var source = Checkpoint.Open(dir);
        return Load(config, source, ops);
    }

    public static CogVideoXTransformer Load(CogVideoXConfig config, ITensorSource source, IOps ops)
    {
        CheckPositionTableMatches(config, source);
        var w = new ModelWeights(source, ops);
        CogVideoXTransformer? model = null;
        try
        {
            model = new CogVideoXTransformer(config, w);
            return w.Checked(model);
        }
        catch
        {
            if (model is not null) model.Dispose();
            else w.Dispose();
            throw;
        }
    }

    /// <summary>A learned position table where the config says none (or the reverse) would load and silently compute
    /// something else; say so instead.</summary>
    static void CheckPositionTableMatches(CogVideoXConfig config, ITensorSource source)
    {
        const string probe = "patch_embed.pos_embedding";
        bool has = source.Contains(probe);
        if (has && !config.UseLearnedPositionalEmbeddings)
            throw new FormatException($"{source.Path}: holds '{probe}' but the config has use_learned_positional_embeddings false (an I2V checkpoint with another config?)");
        if (!has && config.UseLearnedPositionalEmbeddings)
            throw new MissingTensorException(source.Path, probe);
    }

    /// <summary>Video tokens of the trained size: (sample_height/p)·(sample_width/p)·latent frames.</summary>
    static int SampleTokens(CogVideoXConfig c) => c.SampleHeight / c.PatchSize * (c.SampleWidth / c.PatchSize) * c.SampleLatentFrames;

    public override int NumBlocks => _blocks.Length;
    public override int NumHeads => Config.NumAttentionHeads;
    public override int HeadDim => Config.AttentionHeadDim;
    public override int OutFeatures => Config.OutFeatures;
    public override long WeightBytes => _weights.Bytes;

    /// <summary>Inputs: HiddenStates [B, F, C, H, W] (F a multiple of patch_size_t in 1.5: the pipeline pads the
    /// latent frames), EncoderHiddenStates [B, T, text_embed_dim] (T = max_text_seq_length with a learned table),
    /// Timestep one per batch row (the scheduler's integer timesteps, 0…999), ImageRotaryCos/Sin [F'·gh·gw,
    /// head_dim] when the model uses RoPE, Ofs (1.5-I2V) one value, or one per batch row.</summary>
    public override DitState Embed(IOps ops, DitInputs inputs)
    {
        var c = Config;
        var x = inputs.HiddenStates;
        int p = c.PatchSize, pt = c.FramesPerPatch, d = c.InnerDim;
        if (x.Rank != 5 || x.Dim(2) != c.InChannels)
            throw new ArgumentException($"CogVideoX hidden_states must be [B, F, {c.InChannels}, H, W] (frames before channels, as the pipeline passes them), got {Shape.Format(x.ShapeSpan)}");
        int b = x.Dim(0), frames = x.Dim(1), hh = x.Dim(3), ww = x.Dim(4);
        if (hh % p != 0 || ww % p != 0)
            throw new ArgumentException($"CogVideoX latent size {hh}×{ww} is not a multiple of patch_size {p}");
        if (frames % pt != 0)
            throw new ArgumentException($"CogVideoX 1.5 hidden_states has {frames} frames, not a multiple of patch_size_t {pt} (the pipeline pads the latent frames to one)");
        int ft = frames / pt, gh = hh / p, gw = ww / p, n = ft * gh * gw;
        var ctx = inputs.EncoderHiddenStates;
        if (ctx.Rank != 3 || ctx.Dim(0) != b || ctx.Dim(2) != c.TextEmbedDim)
            throw new ArgumentException($"CogVideoX encoder_hidden_states must be [{b}, T, {c.TextEmbedDim}], got {Shape.Format(ctx.ShapeSpan)}");
        int t = ctx.Dim(1);
        if (inputs.Timestep.Length != b)
            throw new ArgumentException($"CogVideoX needs one timestep per batch row ({b}), got {inputs.Timestep.Length}");
        Tensor? cos = null, sin = null;
        if (c.UseRotaryPositionalEmbeddings)
        {
            cos = RequireTable(inputs.ImageRotaryCos, "cos", n, gh, gw, ft);
            sin = RequireTable(inputs.ImageRotarySin, "sin", n, gh, gw, ft);
        }
        else if (inputs.ImageRotaryCos is not null || inputs.ImageRotarySin is not null)
            // diffusers would rotate with tables it is given; its pipeline gives none to a model without RoPE
            throw new ArgumentException("CogVideoX with use_rotary_positional_embeddings false (2b: a sin-cos position table) takes no image_rotary_emb; pass ImageRotaryCos/Sin null");
        float[]? ofs = null;
        if (_ofs is not null)
        {
            ofs = inputs.Ofs ?? throw new ArgumentException($"CogVideoX 1.5-I2V (ofs_embed_dim {c.OfsEmbedDim}) needs ofs (DitInputs.Ofs): the I2V pipeline passes 2.0");
            if (ofs.Length != 1 && ofs.Length != b)
                throw new ArgumentException($"CogVideoX ofs must be one value or one per batch row ({b}), got {ofs.Length}");
        }
        // the learned table has rows for the trained size only; diffusers swaps in the sin-cos table for other frame
        // counts (and refuses other sizes), and adds the text rows to text of max_text_seq_length tokens only
        bool learned = _learnedPositions is not null && ft == c.SampleLatentFrames;
        if (_learnedPositions is not null)
        {
            if (hh != c.SampleHeight || ww != c.SampleWidth)
                throw new ArgumentException($"CogVideoX with a learned position table (I2V) runs at its sample size {c.SampleHeight}×{c.SampleWidth} latents only, got {hh}×{ww}");
            if (t != c.MaxTextSeqLength)
                throw new ArgumentException($"CogVideoX with a learned position table needs encoder_hidden_states of max_text_seq_length = {c.MaxTextSeqLength} tokens, got {t}");
        }

        using var made = new EmbedScope();
        Tensor image = PatchEmbed(ops, x, b, ft, gh, gw);
        Tensor? text = null;
        try
        {
            text = _textProj.Apply(ops, ctx);
            if (learned)
            {
                text = Plus(ops, text, _learnedPositions!.Slice(0, 0, t));
                image = Plus(ops, image, _learnedPositions.Slice(0, t, n));
            }
            else if (_sinCos is not null)
                image = Plus(ops, image, _sinCos.Get(ops, ft, gh, gw));   // the text rows of the sin-cos table are zero
            else if (_learnedPositions is not null)
            {
                using var other = new CogVideoXPositionTable(d, c.SpatialInterpolationScale, c.TemporalInterpolationScale);
                image = Plus(ops, image, other.Get(ops, ft, gh, gw));
            }
        }
        catch { image.Dispose(); text?.Dispose(); throw; }
        made.Add(image);
        made.Add(text);
        var cond = made.Add(Conditioning(ops, inputs.Timestep, ofs));
        return made.HandTo(new DitState
        {
            Image = image, Text = text, Conditioning = cond,
            // the tables are the caller's; the state's own copies follow its tokens when it is sharded
            ImageRopeCos = cos is null ? null : made.Add(ops.Contiguous(cos)),
            ImageRopeSin = sin is null ? null : made.Add(ops.Contiguous(sin)),
            TotalTokens = n, GridT = ft, GridH = ft * gh, GridW = gw,
        });
        Tensor RequireTable(Tensor? table, string which, int tokens, int gh, int gw, int ft)
        {
            if (table is null)
                throw new ArgumentException($"CogVideoX with use_rotary_positional_embeddings needs image_rotary_emb {which} [{tokens}, {c.AttentionHeadDim}] (DitInputs.ImageRotary{(which == "cos" ? "Cos" : "Sin")}; CogVideoXRotaryTable.Build makes the pipeline's)");
            if (table.Rank != 2 || table.Dim(0) != tokens || table.Dim(1) != c.AttentionHeadDim)
                throw new ArgumentException($"CogVideoX image_rotary_emb {which} must be [{tokens}, {c.AttentionHeadDim}] ({ft} frames × {gh}×{gw} patches), got {Shape.Format(table.ShapeSpan)}");
            return table;
        }
    }

    /// <summary>a + b (b broadcast), freeing a.</summary>
    static Tensor Plus(IOps ops, Tensor a, Tensor b)
    {
        using (a) return ops.Add(a, b);
    }

    /// <summary>[B, F, C, H, W] → tokens [B, F'·gh·gw, D]: each patch's features gathered in (C, p_t, p, p) order by
    /// one strided copy, then the projection.</summary>
    Tensor PatchEmbed(IOps ops, Tensor x, int b, int ft, int gh, int gw)
    {
        var c = Config;
        int p = c.PatchSize, pt = c.FramesPerPatch;
        using var dense = x.IsContiguous ? null : ops.Contiguous(x);
        var v = (dense ?? x).Reshape(b, ft, pt, c.InChannels, gh, p, gw, p).Permute(0, 1, 4, 6, 3, 2, 5, 7);
        using var patches = ops.Contiguous(v);
        return ops.Linear(patches.Reshape(b, ft * gh * gw, c.PatchFeatures), _patchWeight, _patchBias);
    }

    /// <summary>SiLU(time_embedding(sinusoid(t)) [+ ofs_embedding(sinusoid(ofs))]) [B, time_embed_dim]: what every
    /// adaptive norm reads.</summary>
    Tensor Conditioning(IOps ops, float[] timestep, float[]? ofs)
    {
        var c = Config;
        using var temb = Embed(ops, _time, timestep, c.InnerDim);
        if (_ofs is null || ofs is null) return ops.Activate(temb, Activation.Silu);
        using var oemb = Embed(ops, _ofs, ofs, c.OfsEmbedDim!.Value);
        using var sum = ops.Add(temb, oemb);   // one ofs row broadcasts over the batch
        return ops.Activate(sum, Activation.Silu);
    }

    /// <summary>diffusers Timesteps(dim, flip_sin_to_cos, freq_shift) in float32, cast to the activation dtype, then
    /// the TimestepEmbedding MLP.</summary>
    Tensor Embed(IOps ops, TimestepEmbedding mlp, float[] values, int dim)
    {
        using var s = ops.TimestepEmbedding(values, dim, Config.FlipSinToCos, Config.FreqShift);
        using var cast = s.DType == ops.ActivationType ? null : ops.Cast(s, ops.ActivationType);
        return mlp.Apply(ops, cast ?? s);
    }

    public override void RunBlock(IOps ops, int index, DitState state, IAttention attention)
    {
        if ((uint)index >= (uint)_blocks.Length) throw new ArgumentOutOfRangeException(nameof(index), $"CogVideoX has {_blocks.Length} blocks, asked for {index}");
        if (Config.UseRotaryPositionalEmbeddings && state.ImageRopeCos is null)
            throw new InvalidOperationException("CogVideoX blocks need the rotary tables of the held tokens in state.ImageRopeCos/Sin");
        _blocks[index].Run(ops, state, attention);
    }

    /// <summary>Block 0's norm1 on the video tokens (TeaCache's indicator).</summary>
    public override Tensor FirstBlockModulatedInput(IOps ops, DitState state) => _blocks[0].ModulatedImage(ops, state);

    /// <summary>norm_final, then norm_out (AdaLayerNorm with chunk_dim 1: shift first, then scale), then proj_out.</summary>
    public override Tensor Finish(IOps ops, DitState state)
    {
        using var f = _normFinal.Apply(ops, state.Image);
        using var emb = _normOutLinear.Apply(ops, state.Conditioning);   // Conditioning is SiLU(temb)
        using var m = Layers.Modulation.View(emb, 0, 2, Config.InnerDim);
        using var n = _normOut.Modulated(ops, f, m[0], m[1]);
        return _projOut.Apply(ops, n);
    }

    /// <summary>Tokens [B, F'·gh·gw, C·p_t·p·p] (features (C, p_t, p, p)) → [B, F'·p_t, C, H, W], one strided copy.</summary>
    public override Tensor Unpatchify(IOps ops, Tensor tokens, DitState state)
    {
        var c = Config;
        int ft = state.GridT, gh = state.GridH / Math.Max(1, ft), gw = state.GridW, p = c.PatchSize, pt = c.FramesPerPatch;
        if (tokens.Rank != 3 || tokens.Dim(1) != state.TotalTokens || ft * gh != state.GridH || tokens.Dim(2) != OutFeatures)
            throw new ArgumentException($"CogVideoX unpatchify needs [B, {state.TotalTokens}, {OutFeatures}] tokens of {ft} frames × {gh}×{gw} patches; got {Shape.Format(tokens.ShapeSpan)}");
        int b = tokens.Dim(0);
        using var dense = tokens.IsContiguous ? null : ops.Contiguous(tokens);
        var v = (dense ?? tokens).Reshape(b, ft, gh, gw, c.OutChannels, pt, p, p).Permute(0, 1, 5, 4, 2, 6, 3, 7);
        var y = ops.Contiguous(v);
        return y.TakeReshaped(b, ft * pt, c.OutChannels, gh * p, gw * p);
    }

    public override void Dispose()
    {
        _sinCos?.Dispose();
        _weights.Dispose();
    }
}

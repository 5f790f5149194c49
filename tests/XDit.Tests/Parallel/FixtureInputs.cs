using XDit.Engine.Execution;
using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.CogVideoX;
using XDit.Models.Flux;
using XDit.Models.Flux2;
using XDit.Models.HunyuanDiT;
using XDit.Models.HunyuanVideo;
using XDit.Models.Ltx;
using XDit.Models.Mochi;
using XDit.Models.PixArt;
using XDit.Models.QwenImage;
using XDit.Models.Sana;
using XDit.Models.SD3;
using XDit.Models.Wan;
using XDit.Models.ZImage;
using XDit.Runtime;

namespace XDit.Tests.Parallel;

/// <summary>
/// A transformer fixture's inputs as host arrays (so each in-process rank can upload its own copy), always with
/// two different batch rows: a fixture of one row (flux) gets a second row made from the first with the hidden
/// states scaled by −0.7 and the timestep and guidance halved, so that a CFG split that swapped or duplicated
/// the halves would show. The newer models' inputs come as their fixture runners build them: Z-Image's x, t and
/// caption list padded with its mask, Qwen-Image's img_shapes and LTX's num_frames/height/width as the token grid,
/// LTX's rope_interpolation_scale. flux2 (one row) keeps its first 30 of 31 image tokens, so that the
/// sequence-parallel degrees 2 and 3 divide them.
/// </summary>
sealed class FixtureInputs
{
    public required string Name { get; init; }
    public required Dictionary<string, (float[] Data, int[] Shape)> Tensors { get; init; }
    public required float[] Timestep { get; init; }
    public float[]? Guidance { get; init; }
    /// <summary>HunyuanDiT's style ids, one per row.</summary>
    public long[]? Style { get; init; }
    /// <summary>CogVideoX 1.5-I2V's ofs (one value for every row).</summary>
    public float[]? Ofs { get; init; }
    /// <summary>The (frames, height, width) token grid of Qwen-Image and LTX.</summary>
    public (int Frames, int Height, int Width)? ImgShape { get; init; }
    /// <summary>LTX's RoPE scale (t, h, w).</summary>
    public (float T, float H, float W)? RopeInterpolationScale { get; init; }
    public int Rows => Tensors["hidden_states"].Shape[0];

    static readonly string[] Batched = ["hidden_states", "encoder_hidden_states", "encoder_attention_mask", "pooled_projections", "resolution", "aspect_ratio",
        "text_embedding_mask", "encoder_hidden_states_t5", "text_embedding_mask_t5", "image_meta_size", "encoder_hidden_states_mask"];
    static readonly string[] PerToken = ["img_ids", "txt_ids", "image_rotary_emb_cos", "image_rotary_emb_sin"];

    /// <summary>The fixture's inputs; <see cref="TinyHunyuanDiT.Name"/> gives that made-up model's.</summary>
    public static FixtureInputs Load(string name)
    {
        if (name == TinyHunyuanDiT.Name) return TinyHunyuanDiT.Inputs();
        using var fixture = new FixtureCase(TestPaths.Fixture(name));
        var tensors = new Dictionary<string, (float[], int[])>();
        foreach (var field in Batched.Concat(PerToken))
            if (fixture.HasInput(field))
            {
                using var t = fixture.Input(field);
                tensors[field] = (t.ToFloatArray(), t.Dims);
            }
        if (fixture.HasInput("cap_feats_0")) AddZImageInputs(fixture, tensors);
        // flux2's 16 noisy + 15 reference tokens: 31 divides by no sequence-parallel degree
        if (name == "flux2") foreach (var field in new[] { "hidden_states", "img_ids" }) tensors[field] = FirstTokens(tensors[field], 30);
        var timestep = fixture.InputFloats(fixture.HasInput("t") ? "t" : "timestep");   // Z-Image names it t
        (int, int, int)? imgShape = fixture.HasInput("img_shapes") ? QwenImageFixtureRunner.ImgShape(fixture)
            : fixture.HasInput("num_frames") ? LtxFixtureRunner.ImgShape(fixture) : null;
        (float, float, float)? ropeScale = fixture.HasInput("rope_interpolation_scale") ? LtxFixtureRunner.RopeInterpolationScale(fixture) : null;
        var guidance = fixture.HasInput("guidance") ? fixture.InputFloats("guidance") : null;
        var ofs = fixture.HasInput("ofs") ? fixture.InputFloats("ofs") : null;
        long[]? style = null;
        if (fixture.HasInput("style"))
        {
            using var s = fixture.RawInput("style");
            style = s.Span<long>().ToArray();
        }
        if (timestep.Length == 1)
        {
            foreach (var field in Batched.Where(tensors.ContainsKey))
            {
                var (data, shape) = tensors[field];
                float scale = field == "hidden_states" ? -0.7f : 1f;
                tensors[field] = (data.Concat(data.Select(v => v * scale)).ToArray(), [2, .. shape[1..]]);
            }
            timestep = [timestep[0], timestep[0] * 0.5f];
            if (guidance is not null) guidance = [guidance[0], guidance[0] * 0.5f];
        }
        return new FixtureInputs
        {
            Name = name, Tensors = tensors, Timestep = timestep, Guidance = guidance, Style = style, Ofs = ofs,
            ImgShape = imgShape, RopeInterpolationScale = ropeScale,
        };
    }

    /// <summary>Z-Image's in.x, and its in.cap_feats_i list as its fixture runner pads it, with the mask of each
    /// row's length.</summary>
    static void AddZImageInputs(FixtureCase fixture, Dictionary<string, (float[], int[])> tensors)
    {
        using var cpu = new CpuOps();
        var (captions, mask) = ZImageFixtureRunner.Captions(fixture, cpu);
        using (captions)
        using (mask)
        {
            tensors["encoder_hidden_states"] = (cpu.ToHost(captions), captions.Dims);
            tensors["encoder_attention_mask"] = (cpu.ToHost(mask), mask.Dims);
        }
        using var x = fixture.Input("x");
        tensors["hidden_states"] = (x.ToFloatArray(), x.Dims);
    }

    /// <summary>The first <paramref name="n"/> tokens (the second to last axis) of every batch row of <paramref name="x"/>.</summary>
    static (float[], int[]) FirstTokens((float[] Data, int[] Shape) x, int n)
    {
        int tokens = x.Shape[^2], width = x.Shape[^1], rows = x.Data.Length / (tokens * width);
        var data = new float[rows * n * width];
        for (int r = 0; r < rows; r++) Array.Copy(x.Data, r * tokens * width, data, r * n * width, n * width);
        return (data, [.. x.Shape[..^2], n, width]);
    }

    public DiffusionTransformer LoadModel(IOps ops) => Name switch
    {
        "pixart_alpha" or "pixart_sigma" => PixArtTransformer.Load(TestPaths.Fixture(Name), ops),
        "sd3" or "sd35" => SD3Transformer.Load(TestPaths.Fixture(Name), ops),
        "flux" => FluxTransformer.Load(TestPaths.Fixture(Name), ops),
        "hunyuandit" => HunyuanDiTTransformer.Load(TestPaths.Fixture(Name), ops),
        TinyHunyuanDiT.Name => TinyHunyuanDiT.Load(ops),
        "sana" => SanaTransformer.Load(TestPaths.Fixture(Name), ops),
        "cogvideox" or "cogvideox15" or "cogvideox_2b" or "cogvideox_i2v" => CogVideoXTransformer.Load(TestPaths.Fixture(Name), ops),
        "wan" => WanTransformer.Load(TestPaths.Fixture(Name), ops),
        "hunyuanvideo" or "hunyuanvideo_i2v" => HunyuanVideoTransformer.Load(TestPaths.Fixture(Name), ops),
        "ltx" or "ltx_shapes" => LtxTransformer.Load(TestPaths.Fixture(Name), ops),
        "mochi" => MochiTransformer.Load(TestPaths.Fixture(Name), ops),
        "qwenimage" or "qwenimage_shapes" => QwenImageTransformer.Load(TestPaths.Fixture(Name), ops),
        "zimage" or "zimage_batch" => ZImageTransformer.Load(TestPaths.Fixture(Name), ops),
        "flux2" => Flux2Transformer.Load(TestPaths.Fixture(Name), ops),
        _ => throw new ArgumentException($"no transformer loader for fixture {Name}"),
    };

    /// <summary>These inputs with the hidden states scaled by <paramref name="hiddenScale"/> and the timesteps by
    /// <paramref name="timeScale"/>: a step of a synthetic trajectory for the step caches.</summary>
    public FixtureInputs Scaled(float hiddenScale, float timeScale)
    {
        var tensors = new Dictionary<string, (float[] Data, int[] Shape)>(Tensors);
        var (data, shape) = tensors["hidden_states"];
        tensors["hidden_states"] = (data.Select(v => v * hiddenScale).ToArray(), shape);
        return new FixtureInputs
        {
            Name = Name, Tensors = tensors, Timestep = Timestep.Select(v => v * timeScale).ToArray(), Guidance = Guidance, Style = Style, Ofs = Ofs,
            ImgShape = ImgShape, RopeInterpolationScale = RopeInterpolationScale,
        };
    }

    /// <summary>One forward of <paramref name="executor"/> at <paramref name="step"/> on these inputs, as host values.</summary>
    public float[] Predict(IOps ops, DiffusionTransformer model, IDenoiseExecutor executor, int step)
    {
        var owned = new List<Tensor>();
        try
        {
            using var output = executor.Predict(ops, model, Upload(ops, owned), step);
            return ops.ToHost(output);
        }
        finally { foreach (var t in owned) t.Dispose(); }
    }

    /// <summary>The inputs uploaded to <paramref name="ops"/>; the tensors go into <paramref name="owned"/>.</summary>
    public DitInputs Upload(IOps ops, List<Tensor> owned)
    {
        Tensor? Up(string field)
        {
            if (!Tensors.TryGetValue(field, out var x)) return null;
            var t = ops.FromHost(x.Data, x.Shape);
            owned.Add(t);
            return t;
        }
        return new DitInputs
        {
            HiddenStates = Up("hidden_states")!,
            EncoderHiddenStates = Up("encoder_hidden_states")!,
            EncoderAttentionMask = Up("encoder_attention_mask") ?? Up("text_embedding_mask") ?? Up("encoder_hidden_states_mask"),
            EncoderHiddenStatesT5 = Up("encoder_hidden_states_t5"),
            EncoderAttentionMaskT5 = Up("text_embedding_mask_t5"),
            ImageMetaSize = Up("image_meta_size"),
            Style = (long[]?)Style?.Clone(),
            ImageRotaryCos = Up("image_rotary_emb_cos"),
            ImageRotarySin = Up("image_rotary_emb_sin"),
            PooledProjections = Up("pooled_projections"),
            Resolution = Up("resolution"),
            AspectRatio = Up("aspect_ratio"),
            ImgIds = Up("img_ids"),
            TxtIds = Up("txt_ids"),
            Timestep = (float[])Timestep.Clone(),
            Guidance = (float[]?)Guidance?.Clone(),
            Ofs = (float[]?)Ofs?.Clone(),
            ImgShape = ImgShape,
            RopeInterpolationScale = RopeInterpolationScale,
        };
    }
}

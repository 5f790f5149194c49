using System.Text.Json;
using System.Text.Json.Nodes;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// Tiny SD3, Flux and SDXL pipeline folders for end-to-end tests (no real ones fit here). SDXL: the sdxl_unet fixture
/// (cross_attention_dim 32 = CLIP-L 12 + CLIP-G 20 features; text_embeds 24 = CLIP-G's projection, plus 6 time ids
/// × 8), vae4 with SDXL's scaling factor and no shift, and SDXL's Euler discrete scheduler config. The transformers and the VAE are
/// copies of the golden fixtures whose widths happen to agree (sd3: latent 4, joint 24, pooled 20; flux: packed 16 =
/// 4 latent channels × 2×2, joint 24, pooled 20; vae4: 4 latent channels, factor 2, with the scaling/shift factors
/// of the real VAEs written into its config). The text encoders are written here with random weights at widths that
/// fit: CLIP-L 8 + CLIP-G 12 = 20 features (zero-padded to 24) and 8 + 12 = 20 pooled for SD3, CLIP 20 wide for
/// Flux, T5 24 wide. Tokenizers: a small CLIP vocabulary (letters, a few merged words) and the demo model's
/// WordLevel T5 tokenizer.
/// </summary>
static class SD3FluxTestFolders
{
    public const int T5Vocab = 32;

    /// <summary>A fresh SD3 folder; <paramref name="withT5"/> false writes text_encoder_3/tokenizer_3 as [null, null].</summary>
    public static string SD3(bool withT5 = true)
    {
        var dir = TestPaths.TempDir();
        var components = new Dictionary<string, (string, string)?>
        {
            ["transformer"] = ("diffusers", "SD3Transformer2DModel"),
            ["vae"] = ("diffusers", "AutoencoderKL"),
            ["text_encoder"] = ("transformers", "CLIPTextModelWithProjection"),
            ["text_encoder_2"] = ("transformers", "CLIPTextModelWithProjection"),
            ["text_encoder_3"] = withT5 ? ("transformers", "T5EncoderModel") : null,
            ["tokenizer"] = ("transformers", "CLIPTokenizer"),
            ["tokenizer_2"] = ("transformers", "CLIPTokenizer"),
            ["tokenizer_3"] = withT5 ? ("transformers", "T5TokenizerFast") : null,
            ["scheduler"] = ("diffusers", "FlowMatchEulerDiscreteScheduler"),
        };
        WriteIndex(dir, "StableDiffusion3Pipeline", components);
        CopyFolder(TestPaths.Fixture("sd3"), Path.Combine(dir, "transformer"));
        Vae(Path.Combine(dir, "vae"), 1.5305, 0.0609);
        ClipModel(Path.Combine(dir, "text_encoder"), hidden: 8, heads: 2, layers: 2, projection: 8, act: "quick_gelu", seed: 1);
        ClipModel(Path.Combine(dir, "text_encoder_2"), hidden: 12, heads: 2, layers: 2, projection: 12, act: "gelu", seed: 2);
        ClipTokenizerFiles(Path.Combine(dir, "tokenizer"), pad: null);
        ClipTokenizerFiles(Path.Combine(dir, "tokenizer_2"), pad: "!");
        if (withT5)
        {
            T5Model(Path.Combine(dir, "text_encoder_3"), dModel: 24, seed: 3);
            CopyFolder(Path.Combine(TestPaths.DemoModel, "tokenizer"), Path.Combine(dir, "tokenizer_3"));
        }
        Scheduler(dir, new JsonObject { ["shift"] = 3.0 });
        return dir;
    }

    /// <summary>A fresh Flux Kontext folder: the dev-like Flux folder (the same transformer class, VAE with its
    /// encoder, text encoders) named FluxKontextPipeline, as the Hub's FLUX.1-Kontext-dev is FLUX.1-dev's layout.</summary>
    public static string FluxKontext()
    {
        var dir = Flux(dev: true);
        EditConfig(Path.Combine(dir, "model_index.json"), c => c["_class_name"] = "FluxKontextPipeline");
        return dir;
    }

    /// <summary>A fresh Flux folder: dev-like (guidance embedder, dynamic shifting) or schnell-like (neither).</summary>
    public static string Flux(bool dev = true)
    {
        var dir = TestPaths.TempDir();
        var components = new Dictionary<string, (string, string)?>
        {
            ["transformer"] = ("diffusers", "FluxTransformer2DModel"),
            ["vae"] = ("diffusers", "AutoencoderKL"),
            ["text_encoder"] = ("transformers", "CLIPTextModel"),
            ["text_encoder_2"] = ("transformers", "T5EncoderModel"),
            ["tokenizer"] = ("transformers", "CLIPTokenizer"),
            ["tokenizer_2"] = ("transformers", "T5TokenizerFast"),
            ["scheduler"] = ("diffusers", "FlowMatchEulerDiscreteScheduler"),
        };
        WriteIndex(dir, "FluxPipeline", components);
        var transformer = Path.Combine(dir, "transformer");
        CopyFolder(TestPaths.Fixture("flux"), transformer);
        if (!dev) DropGuidanceEmbedder(transformer);
        Vae(Path.Combine(dir, "vae"), 0.3611, 0.1159);
        ClipModel(Path.Combine(dir, "text_encoder"), hidden: 20, heads: 2, layers: 2, projection: null, act: "quick_gelu", seed: 4);
        ClipTokenizerFiles(Path.Combine(dir, "tokenizer"), pad: null);
        T5Model(Path.Combine(dir, "text_encoder_2"), dModel: 24, seed: 5);
        CopyFolder(Path.Combine(TestPaths.DemoModel, "tokenizer"), Path.Combine(dir, "tokenizer_2"));
        Scheduler(dir, dev
            ? new JsonObject { ["shift"] = 3.0, ["use_dynamic_shifting"] = true, ["base_shift"] = 0.5, ["max_shift"] = 1.15, ["base_image_seq_len"] = 256, ["max_image_seq_len"] = 4096 }
            : new JsonObject { ["shift"] = 1.0, ["use_dynamic_shifting"] = false });
        return dir;
    }

    /// <summary>A fresh SDXL folder (StableDiffusionXLPipeline). <paramref name="forceZeros"/> is model_index.json's
    /// force_zeros_for_empty_prompt.</summary>
    public static string Sdxl(bool forceZeros = true)
    {
        var dir = TestPaths.TempDir();
        var components = new Dictionary<string, (string, string)?>
        {
            ["unet"] = ("diffusers", "UNet2DConditionModel"),
            ["vae"] = ("diffusers", "AutoencoderKL"),
            ["text_encoder"] = ("transformers", "CLIPTextModel"),
            ["text_encoder_2"] = ("transformers", "CLIPTextModelWithProjection"),
            ["tokenizer"] = ("transformers", "CLIPTokenizer"),
            ["tokenizer_2"] = ("transformers", "CLIPTokenizer"),
            ["scheduler"] = ("diffusers", "EulerDiscreteScheduler"),
        };
        WriteIndex(dir, "StableDiffusionXLPipeline", components);
        EditConfig(Path.Combine(dir, "model_index.json"), c => c["force_zeros_for_empty_prompt"] = forceZeros);
        CopyFolder(TestPaths.Fixture("sdxl_unet"), Path.Combine(dir, "unet"));
        File.Delete(Path.Combine(dir, "unet", "io.safetensors"));
        File.Delete(Path.Combine(dir, "unet", "meta.json"));
        Vae(Path.Combine(dir, "vae"), 0.13025, null);
        ClipModel(Path.Combine(dir, "text_encoder"), hidden: 12, heads: 2, layers: 2, projection: null, act: "quick_gelu", seed: 6);
        ClipModel(Path.Combine(dir, "text_encoder_2"), hidden: 20, heads: 2, layers: 2, projection: 24, act: "gelu", seed: 7);
        ClipTokenizerFiles(Path.Combine(dir, "tokenizer"), pad: null);
        ClipTokenizerFiles(Path.Combine(dir, "tokenizer_2"), pad: "!");
        // stable-diffusion-xl-base-1.0's scheduler_config.json
        Scheduler(dir, new JsonObject
        {
            ["beta_schedule"] = "scaled_linear", ["beta_start"] = 0.00085, ["beta_end"] = 0.012, ["prediction_type"] = "epsilon",
            ["timestep_spacing"] = "leading", ["steps_offset"] = 1, ["interpolation_type"] = "linear", ["use_karras_sigmas"] = false,
        }, "EulerDiscreteScheduler");
        return dir;
    }

    // ------------------------------------------------------------------ CLIP tokenizer

    /// <summary>The merged words of the small CLIP vocabulary (merges in this order, each adding its result).</summary>
    public static readonly (string Left, string Right)[] Merges = [("r", "e"), ("re", "d</w>"), ("c", "a"), ("ca", "t</w>")];

    /// <summary>"!" 0, then a…z, a&lt;/w&gt;…z&lt;/w&gt;, the merged symbols, and the start/end tokens last (so the end
    /// token has the largest id, which CLIP's legacy pooling looks for).</summary>
    public static Dictionary<string, int> ClipVocab()
    {
        var vocab = new Dictionary<string, int> { ["!"] = 0 };
        for (char ch = 'a'; ch <= 'z'; ch++) vocab[ch.ToString()] = vocab.Count;
        for (char ch = 'a'; ch <= 'z'; ch++) vocab[ch + "</w>"] = vocab.Count;
        foreach (var (l, r) in Merges) vocab[l + r] = vocab.Count;
        vocab["<|startoftext|>"] = vocab.Count;
        vocab["<|endoftext|>"] = vocab.Count;
        return vocab;
    }

    public static void ClipTokenizerFiles(string dir, string? pad)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(ClipVocab()));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), new[] { "#version: 0.2" }.Concat(Merges.Select(m => $"{m.Left} {m.Right}")));
        var cfg = new JsonObject { ["model_max_length"] = 77, ["bos_token"] = "<|startoftext|>", ["eos_token"] = "<|endoftext|>" };
        if (pad is not null) cfg["pad_token"] = pad;
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg.ToJsonString());
    }

    // ------------------------------------------------------------------ models with random weights

    public static void ClipModel(string dir, int hidden, int heads, int layers, int? projection, string act, int seed)
    {
        Directory.CreateDirectory(dir);
        int vocab = ClipVocab().Count, inter = 2 * hidden, positions = 77;
        var cfg = new JsonObject
        {
            ["architectures"] = new JsonArray(projection is null ? "CLIPTextModel" : "CLIPTextModelWithProjection"),
            ["model_type"] = "clip_text_model",
            ["hidden_size"] = hidden, ["intermediate_size"] = inter, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads,
            ["max_position_embeddings"] = positions, ["vocab_size"] = vocab, ["hidden_act"] = act, ["layer_norm_eps"] = 1e-5,
            ["eos_token_id"] = 2,   // the legacy value of the released configs: pooling at the largest id
            ["projection_dim"] = projection ?? hidden,
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        var w = new RandomWeights(seed);
        w.Normal("text_model.embeddings.token_embedding.weight", 0.5f, vocab, hidden);
        w.Normal("text_model.embeddings.position_embedding.weight", 0.2f, positions, hidden);
        for (int i = 0; i < layers; i++)
        {
            var p = $"text_model.encoder.layers.{i}";
            w.Norm(p + ".layer_norm1", hidden);
            w.Norm(p + ".layer_norm2", hidden);
            foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" }) w.Linear($"{p}.self_attn.{proj}", hidden, hidden);
            w.Linear(p + ".mlp.fc1", hidden, inter);
            w.Linear(p + ".mlp.fc2", inter, hidden);
        }
        w.Norm("text_model.final_layer_norm", hidden);
        if (projection is { } pd) w.Linear("text_projection", hidden, pd, bias: false);
        w.Save(Path.Combine(dir, "model.safetensors"));
    }

    public static void T5Model(string dir, int dModel, int seed)
    {
        Directory.CreateDirectory(dir);
        int heads = 2, dkv = 6, dff = 32, inner = heads * dkv;
        var cfg = new JsonObject
        {
            ["architectures"] = new JsonArray("T5EncoderModel"), ["model_type"] = "t5",
            ["vocab_size"] = T5Vocab, ["d_model"] = dModel, ["d_kv"] = dkv, ["d_ff"] = dff, ["num_layers"] = 1, ["num_heads"] = heads,
            ["feed_forward_proj"] = "gated-gelu", ["dense_act_fn"] = "gelu_new", ["is_gated_act"] = true,
            ["relative_attention_num_buckets"] = 32, ["relative_attention_max_distance"] = 128, ["layer_norm_epsilon"] = 1e-6,
            ["pad_token_id"] = 0, ["eos_token_id"] = 1,
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        var w = new RandomWeights(seed);
        w.Normal("shared.weight", 1f, T5Vocab, dModel);
        w.Normal("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 0.5f, 32, heads);
        w.Ones("encoder.block.0.layer.0.layer_norm.weight", dModel);
        foreach (var m in new[] { "q", "k", "v" }) w.Linear($"encoder.block.0.layer.0.SelfAttention.{m}", dModel, inner, bias: false);
        w.Linear("encoder.block.0.layer.0.SelfAttention.o", inner, dModel, bias: false);
        w.Ones("encoder.block.0.layer.1.layer_norm.weight", dModel);
        w.Linear("encoder.block.0.layer.1.DenseReluDense.wi_0", dModel, dff, bias: false);
        w.Linear("encoder.block.0.layer.1.DenseReluDense.wi_1", dModel, dff, bias: false);
        w.Linear("encoder.block.0.layer.1.DenseReluDense.wo", dff, dModel, bias: false);
        w.Ones("encoder.final_layer_norm.weight", dModel);
        w.Save(Path.Combine(dir, "model.safetensors"));
    }

    /// <summary>The vae4 fixture (4 latent channels, factor 2) with the given scaling and shift factors.</summary>
    static void Vae(string dir, double scaling, double? shift)
    {
        CopyFolder(TestPaths.Fixture("vae4"), dir);
        EditConfig(Path.Combine(dir, "config.json"), c => { c["scaling_factor"] = scaling; c["shift_factor"] = shift; });
    }

    /// <summary>Turns the flux fixture into a schnell-like model: no guidance embedder weights, guidance_embeds false.</summary>
    static void DropGuidanceEmbedder(string dir)
    {
        var path = Path.Combine(dir, "diffusion_pytorch_model.safetensors");
        var kept = new List<KeyValuePair<string, Tensor>>();
        using (var src = new SafetensorsFile(path))
            foreach (var name in src.Names.Where(n => !n.Contains("guidance_embedder", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
                kept.Add(new(name, src.ReadF32(name)));
        SafetensorsWriter.Write(path, kept);
        foreach (var (_, t) in kept) t.Dispose();
        EditConfig(Path.Combine(dir, "config.json"), c => c["guidance_embeds"] = false);
    }

    // ------------------------------------------------------------------ files

    static void WriteIndex(string dir, string pipelineClass, Dictionary<string, (string Lib, string Cls)?> components)
    {
        var index = new JsonObject { ["_class_name"] = pipelineClass, ["_diffusers_version"] = "0.40.0" };
        foreach (var (name, c) in components)
            index[name] = c is { } v ? new JsonArray(v.Lib, v.Cls) : new JsonArray(null, null);
        File.WriteAllText(Path.Combine(dir, "model_index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    static void Scheduler(string dir, JsonObject settings, string className = "FlowMatchEulerDiscreteScheduler")
    {
        var sched = Path.Combine(dir, "scheduler");
        Directory.CreateDirectory(sched);
        settings["_class_name"] = className;
        settings["num_train_timesteps"] = 1000;
        File.WriteAllText(Path.Combine(sched, "scheduler_config.json"), settings.ToJsonString());
    }

    public static void EditConfig(string path, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    /// <summary>Collects seeded random float32 tensors and writes them as one safetensors file.</summary>
    sealed class RandomWeights(int seed)
    {
        readonly Random _rng = new(seed);
        readonly List<KeyValuePair<string, Tensor>> _tensors = new();

        void Add(string name, float[] data, params int[] shape) => _tensors.Add(new(name, Tensor.FromArray(data, shape)));

        float[] Uniform(int n, float bound) => Enumerable.Range(0, n).Select(_ => (float)(_rng.NextDouble() * 2 - 1) * bound).ToArray();

        /// <summary>Roughly N(0, std²) (sum of uniforms) — only the scale matters here.</summary>
        public void Normal(string name, float std, params int[] shape)
            => Add(name, Uniform((int)Shape.Product(shape), std * MathF.Sqrt(3f)), shape);

        /// <summary>Weight [out, in] bounded by 1/√in (as torch initialises Linear) and a small bias.</summary>
        public void Linear(string prefix, int inFeatures, int outFeatures, bool bias = true)
        {
            Add(prefix + ".weight", Uniform(inFeatures * outFeatures, 1f / MathF.Sqrt(inFeatures)), outFeatures, inFeatures);
            if (bias) Add(prefix + ".bias", Uniform(outFeatures, 0.1f), outFeatures);
        }

        /// <summary>LayerNorm weight near 1 and bias near 0.</summary>
        public void Norm(string prefix, int width)
        {
            Add(prefix + ".weight", Uniform(width, 0.1f).Select(v => 1 + v).ToArray(), width);
            Add(prefix + ".bias", Uniform(width, 0.1f), width);
        }

        public void Ones(string name, int width) => Add(name, Uniform(width, 0.1f).Select(v => 1 + v).ToArray(), width);

        public void Save(string path)
        {
            SafetensorsWriter.Write(path, _tensors);
            foreach (var (_, t) in _tensors) t.Dispose();
        }
    }
}

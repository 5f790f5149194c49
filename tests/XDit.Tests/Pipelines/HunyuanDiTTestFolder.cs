using System.Text.Json;
using System.Text.Json.Nodes;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// A tiny HunyuanDiT pipeline folder laid out as HunyuanDiT-v1.2-Diffusers (model_index.json, scheduler, text_encoder,
/// text_encoder_2, tokenizer, tokenizer_2, transformer, vae; safety checker and feature extractor null) from the golden
/// fixtures: the hunyuandit transformer (text_len 6, text_len_t5 8, cross-attention 32 and 32, 4 latent channels), the
/// bert encoder (hidden 32) and the mt5 encoder (d_model 32), the vae4 VAE (factor 2, with the 0.13025 scaling factor
/// of the sdxl-vae-fp16-fix HunyuanDiT ships), the tokenizers of tests/fixtures/tokenizers/hunyuandit (BERT vocab.txt
/// with 254 entries, mT5 spiece.model with 32000 pieces) and v1.2's DDPM v-prediction scheduler config. The encoders'
/// embedding tables are tiled (row i = fixture row i mod the fixture's vocabulary) to cover the tokenizers' ids, the
/// rest of their weights as the fixtures hold them.
/// </summary>
static class HunyuanDiTTestFolder
{
    public const int BertVocab = 254, Mt5Vocab = 32000;

    /// <summary>A fresh folder; <paramref name="scheduler"/> "DDIMScheduler" writes the same config under that class
    /// (deterministic, for comparisons with diffusers, whose DDPM noise comes from torch's generator).</summary>
    public static string Create(string scheduler = "DDPMScheduler")
    {
        var dir = TestPaths.TempDir();
        var index = new JsonObject
        {
            ["_class_name"] = "HunyuanDiTPipeline", ["_diffusers_version"] = "0.30.0.dev0",
            ["feature_extractor"] = new JsonArray(null, null), ["safety_checker"] = new JsonArray(null, null),
            ["requires_safety_checker"] = false,
            ["scheduler"] = new JsonArray("diffusers", scheduler),
            ["text_encoder"] = new JsonArray("transformers", "BertModel"),
            ["text_encoder_2"] = new JsonArray("transformers", "T5EncoderModel"),
            ["tokenizer"] = new JsonArray("transformers", "BertTokenizer"),
            ["tokenizer_2"] = new JsonArray("transformers", "T5Tokenizer"),
            ["transformer"] = new JsonArray("diffusers", "HunyuanDiT2DModel"),
            ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
        };
        File.WriteAllText(Path.Combine(dir, "model_index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        CopyFolder(TestPaths.Fixture("hunyuandit"), Path.Combine(dir, "transformer"), "config.json", "diffusion_pytorch_model.safetensors");
        CopyFolder(TestPaths.Fixture("vae4"), Path.Combine(dir, "vae"), "config.json", "diffusion_pytorch_model.safetensors");
        SD3FluxTestFolders.EditConfig(Path.Combine(dir, "vae", "config.json"), c => c["scaling_factor"] = 0.13025);
        CopyFolder(TestPaths.Fixture("bert"), Path.Combine(dir, "text_encoder"), "config.json", "model.safetensors");
        TileEmbedding(Path.Combine(dir, "text_encoder"), "embeddings.word_embeddings.weight", BertVocab);
        CopyFolder(TestPaths.Fixture("mt5"), Path.Combine(dir, "text_encoder_2"), "config.json", "model.safetensors");
        TileEmbedding(Path.Combine(dir, "text_encoder_2"), "shared.weight", Mt5Vocab);
        var tokenizers = TokenizerFixtures.Folder("hunyuandit");
        CopyFolder(Path.Combine(tokenizers, "tokenizer"), Path.Combine(dir, "tokenizer"));
        CopyFolder(Path.Combine(tokenizers, "tokenizer_2"), Path.Combine(dir, "tokenizer_2"));
        var schedulerDir = Path.Combine(dir, "scheduler");
        Directory.CreateDirectory(schedulerDir);
        var sched = new JsonObject
        {
            ["_class_name"] = scheduler, ["_diffusers_version"] = "0.21.2",
            ["beta_end"] = 0.03, ["beta_schedule"] = "scaled_linear", ["beta_start"] = 0.00085, ["clip_sample"] = false,
            ["num_train_timesteps"] = 1000, ["prediction_type"] = "v_prediction", ["steps_offset"] = 1,
            ["timestep_spacing"] = "leading", ["trained_betas"] = null, ["variance_type"] = "fixed_small",
        };
        File.WriteAllText(Path.Combine(schedulerDir, "scheduler_config.json"), sched.ToJsonString());
        return dir;
    }

    /// <summary>Grows a [vocab, D] table in model.safetensors to <paramref name="rows"/> rows, row i = old row i mod vocab,
    /// and sets config.json's vocab_size.</summary>
    static void TileEmbedding(string dir, string name, int rows)
    {
        var path = Path.Combine(dir, "model.safetensors");
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var src = new SafetensorsFile(path))
            foreach (var n in src.Names.Order(StringComparer.Ordinal))
            {
                var t = src.ReadF32(n);
                if (n == name)
                {
                    int vocab = t.Dim(0), d = t.Dim(1);
                    var old = t.ToFloatArray();
                    var grown = new float[rows * d];
                    for (int i = 0; i < rows; i++) Array.Copy(old, (i % vocab) * d, grown, i * d, d);
                    t.Dispose();
                    t = Tensor.FromArray(grown, rows, d);
                }
                tensors.Add(new(n, t));
            }
        SafetensorsWriter.Write(path, tensors);
        foreach (var (_, t) in tensors) t.Dispose();
        SD3FluxTestFolders.EditConfig(Path.Combine(dir, "config.json"), c => c["vocab_size"] = rows);
    }

    static void CopyFolder(string from, string to, params string[] only)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from))
            if (only.Length == 0 || only.Contains(Path.GetFileName(f)))
                File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}

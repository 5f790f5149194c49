using System.Text.Json;
using System.Text.Json.Nodes;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// A tiny SanaPipeline folder for end-to-end tests, made from the golden fixtures whose widths agree: the sana
/// transformer (caption_channels 32, in_channels 8), the gemma2 encoder (hidden 32), the dcae decoder (latent 8,
/// factor 4) and the small Gemma BPE tokenizer of tests/fixtures/tokenizers/sana (500 ids). Adapted so they fit
/// together: Gemma's embedding grows from 128 to the tokenizer's 500 rows (the fixture's rows first, seeded random
/// ones after) and its max_position_embeddings to 2048, since the instruction alone is several hundred of these small
/// tokens (rotary tables are computed, no weight depends on it); the transformer's sample_size becomes 8, which has no
/// aspect-ratio table (binning off by default, default size 32). The scheduler is Sana_1600M_1024px_diffusers'.
/// </summary>
static class SanaTestFolder
{
    public const int TokenizerVocab = 500;

    public static string Create()
    {
        var dir = TestPaths.TempDir();
        var index = new JsonObject
        {
            ["_class_name"] = "SanaPipeline", ["_diffusers_version"] = "0.40.0",
            ["scheduler"] = new JsonArray("diffusers", "DPMSolverMultistepScheduler"),
            ["text_encoder"] = new JsonArray("transformers", "Gemma2Model"),
            ["tokenizer"] = new JsonArray("transformers", "GemmaTokenizerFast"),
            ["transformer"] = new JsonArray("diffusers", "SanaTransformer2DModel"),
            ["vae"] = new JsonArray("diffusers", "AutoencoderDC"),
        };
        File.WriteAllText(Path.Combine(dir, "model_index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        var transformer = Path.Combine(dir, "transformer");
        CopyFiles(TestPaths.Fixture("sana"), transformer, "config.json", "diffusion_pytorch_model.safetensors");
        SD3FluxTestFolders.EditConfig(Path.Combine(transformer, "config.json"), c => c["sample_size"] = 8);

        var vae = Path.Combine(dir, "vae");
        CopyFiles(TestPaths.Fixture("dcae"), vae, "config.json", "diffusion_pytorch_model.safetensors");

        var encoder = Path.Combine(dir, "text_encoder");
        CopyFiles(TestPaths.Fixture("gemma2"), encoder, "config.json");
        SD3FluxTestFolders.EditConfig(Path.Combine(encoder, "config.json"), c => { c["vocab_size"] = TokenizerVocab; c["max_position_embeddings"] = 2048; });
        GrowEmbedding(Path.Combine(TestPaths.Fixture("gemma2"), "model.safetensors"), Path.Combine(encoder, "model.safetensors"), TokenizerVocab);

        CopyFiles(Path.Combine(TestPaths.Fixtures, "tokenizers", "sana", "tokenizer"), Path.Combine(dir, "tokenizer"));

        // Sana_1600M_1024px_diffusers' scheduler/scheduler_config.json (flow DPM-Solver++, flow_shift 3); written as
        // text since -Infinity is no JSON number System.Text.Json writes
        Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
        File.WriteAllText(Path.Combine(dir, "scheduler", "scheduler_config.json"), """
            {
              "_class_name": "DPMSolverMultistepScheduler",
              "_diffusers_version": "0.32.0.dev0",
              "algorithm_type": "dpmsolver++",
              "beta_end": 0.02,
              "beta_schedule": "linear",
              "beta_start": 0.0001,
              "dynamic_thresholding_ratio": 0.995,
              "euler_at_final": false,
              "final_sigmas_type": "zero",
              "flow_shift": 3.0,
              "lambda_min_clipped": -Infinity,
              "lower_order_final": true,
              "num_train_timesteps": 1000,
              "prediction_type": "flow_prediction",
              "rescale_betas_zero_snr": false,
              "sample_max_value": 1.0,
              "solver_order": 2,
              "solver_type": "midpoint",
              "steps_offset": 0,
              "thresholding": false,
              "timestep_spacing": "linspace",
              "trained_betas": null,
              "use_beta_sigmas": false,
              "use_exponential_sigmas": false,
              "use_flow_sigmas": true,
              "use_karras_sigmas": false,
              "use_lu_lambdas": false,
              "variance_type": null
            }
            """);
        return dir;
    }

    /// <summary>The gemma2 fixture's weights with embed_tokens grown to <paramref name="vocab"/> rows: its own rows
    /// first, then seeded values of the same spread.</summary>
    static void GrowEmbedding(string from, string to, int vocab)
    {
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var src = new SafetensorsFile(from))
            foreach (var name in src.Names.Order(StringComparer.Ordinal))
            {
                var t = src.ReadF32(name);
                if (name == "embed_tokens.weight")
                {
                    var old = t.ToFloatArray();
                    int d = t.Dim(1);
                    double rms = Math.Sqrt(old.Select(v => (double)v * v).Average());
                    var rng = new Random(19);
                    var grown = old.Concat(Enumerable.Range(0, (vocab - t.Dim(0)) * d).Select(_ => (float)((rng.NextDouble() * 2 - 1) * rms * Math.Sqrt(3)))).ToArray();
                    t.Dispose();
                    t = Tensor.FromArray(grown, vocab, d);
                }
                tensors.Add(new(name, t));
            }
        SafetensorsWriter.Write(to, tensors);
        foreach (var (_, t) in tensors) t.Dispose();
    }

    /// <summary>Copies the named files of a folder (all of them when none is named).</summary>
    static void CopyFiles(string from, string to, params string[] names)
    {
        Directory.CreateDirectory(to);
        foreach (var f in names.Length > 0 ? names.Select(n => Path.Combine(from, n)) : Directory.GetFiles(from))
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}

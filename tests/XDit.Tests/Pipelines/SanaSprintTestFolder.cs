using System.Text.Json;
using System.Text.Json.Nodes;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// A tiny SanaSprintPipeline folder: <see cref="SanaTestFolder"/>'s Gemma, tokenizer and DC-AE, and its transformer
/// turned into a SANA Sprint one: guidance_embeds true (time_embed.emb.timestep_embedder renamed to
/// time_embed.timestep_embedder as SanaCombinedTimestepGuidanceEmbeddings names it, plus a seeded
/// time_embed.guidance_embedder of the timestep embedder's spread) and qk_norm "rms_norm_across_heads" (seeded
/// norm_q / norm_k weights near 1 in attn1 and attn2 of each block). The scheduler is the SCMScheduler config
/// diffusers' conversion script writes for Sprint (trigflow, sigma_data 0.5).
/// </summary>
static class SanaSprintTestFolder
{
    /// <summary>The transformer's inner dim (2 heads × 8) and its number of blocks.</summary>
    public const int InnerDim = 16, Blocks = 2;

    public static string Create()
    {
        var dir = SanaTestFolder.Create();
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "model_index.json")))!.AsObject();
        index["_class_name"] = "SanaSprintPipeline";
        index["scheduler"] = new JsonArray("diffusers", "SCMScheduler");
        File.WriteAllText(Path.Combine(dir, "model_index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

        File.WriteAllText(Path.Combine(dir, "scheduler", "scheduler_config.json"), """
            {
              "_class_name": "SCMScheduler",
              "_diffusers_version": "0.33.0.dev0",
              "num_train_timesteps": 1000,
              "prediction_type": "trigflow",
              "sigma_data": 0.5
            }
            """);

        var transformer = Path.Combine(dir, "transformer");
        SD3FluxTestFolders.EditConfig(Path.Combine(transformer, "config.json"), c =>
        {
            c["guidance_embeds"] = true;
            c["qk_norm"] = "rms_norm_across_heads";
        });
        SprintWeights(Path.Combine(transformer, "diffusion_pytorch_model.safetensors"));
        return dir;
    }

    /// <summary>Rewrites the SANA weights as a Sprint checkpoint: the renamed timestep embedder, a seeded guidance
    /// embedder and seeded q/k norm weights.</summary>
    static void SprintWeights(string path)
    {
        const string oldPrefix = "time_embed.emb.timestep_embedder.", newPrefix = "time_embed.timestep_embedder.";
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var src = new SafetensorsFile(path))
            foreach (var name in src.Names.Order(StringComparer.Ordinal))
                tensors.Add(new(name.StartsWith(oldPrefix, StringComparison.Ordinal) ? newPrefix + name[oldPrefix.Length..] : name, src.ReadF32(name)));
        var byName = tensors.ToDictionary(p => p.Key, p => p.Value);
        var rng = new Random(23);
        // the guidance embedder: each tensor of the timestep embedder's shape and spread
        foreach (var part in new[] { "linear_1.weight", "linear_1.bias", "linear_2.weight", "linear_2.bias" })
        {
            var like = byName[newPrefix + part];
            tensors.Add(new("time_embed.guidance_embedder." + part, Spread(rng, like)));
        }
        for (int b = 0; b < Blocks; b++)
            foreach (var attn in new[] { "attn1", "attn2" })
                foreach (var norm in new[] { "norm_q", "norm_k" })
                    tensors.Add(new($"transformer_blocks.{b}.{attn}.{norm}.weight",
                        Tensor.FromArray(Enumerable.Range(0, InnerDim).Select(_ => (float)(1 + (rng.NextDouble() * 2 - 1) * 0.3)).ToArray(), InnerDim)));
        SafetensorsWriter.Write(path, tensors);
        foreach (var (_, t) in tensors) t.Dispose();
    }

    /// <summary>Uniform values of <paramref name="like"/>'s shape and root mean square.</summary>
    static Tensor Spread(Random rng, Tensor like)
    {
        var values = like.ToFloatArray();
        double rms = Math.Sqrt(values.Select(v => (double)v * v).Average());
        var made = values.Select(_ => (float)((rng.NextDouble() * 2 - 1) * rms * Math.Sqrt(3))).ToArray();
        return Tensor.FromArray(made, like.Dims);
    }
}

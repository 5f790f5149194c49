using XDit.Engine.Samplers;
using XDit.Models.Clip;
using XDit.Models.Flux;
using XDit.Models.PixArt;
using XDit.Models.SD3;
using XDit.Models.T5;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Tests.Runtime;

/// <summary>Every number a model or scheduler config gives is checked with the file and key named (issue 22, item 6):
/// 0, negative, absurd or non-finite values were overflows or black pictures before.</summary>
public class ConfigValidationTests
{
    const string Path = "folder/config.json";

    static readonly Dictionary<string, (string Base, Action<JsonConfig> Read)> Readers = new()
    {
        ["pixart"] = ("\"sample_size\":32,\"patch_size\":2,\"in_channels\":4,\"norm_type\":\"ada_norm_single\",\"num_embeds_ada_norm\":1000", c => PixArtConfig.From(c)),
        ["sd3"] = ("\"_class_name\":\"SD3Transformer2DModel\",\"caption_projection_dim\":1152", c => SD3Config.From(c)),
        ["flux"] = ("\"_class_name\":\"FluxTransformer2DModel\"", c => FluxConfig.From(c)),
        ["t5"] = ("\"model_type\":\"t5\"", c => T5Config.From(c)),
        ["clip"] = ("\"hidden_size\":64,\"num_attention_heads\":4", c => ClipTextConfig.From(c)),
        ["vae"] = ("\"_class_name\":\"AutoencoderKL\"", c => AutoencoderKLConfig.From(c)),
        ["dpm"] = ("\"_class_name\":\"DPMSolverMultistepScheduler\"", c => SchedulerFactory.FromConfig(c)),
        ["ddim"] = ("\"_class_name\":\"DDIMScheduler\"", c => SchedulerFactory.FromConfig(c)),
        ["flow"] = ("\"_class_name\":\"FlowMatchEulerDiscreteScheduler\"", c => SchedulerFactory.FromConfig(c)),
        ["ddpm"] = ("\"_class_name\":\"DDPMScheduler\"", c => SchedulerFactory.FromConfig(c)),
        ["euler"] = ("\"_class_name\":\"EulerDiscreteScheduler\"", c => SchedulerFactory.FromConfig(c)),
        ["unipc"] = ("\"_class_name\":\"UniPCMultistepScheduler\"", c => SchedulerFactory.FromConfig(c)),
    };

    /// <summary>The kind's smallest valid config with <paramref name="extra"/> keys added (a later key wins).</summary>
    static void Read(string kind, string extra) =>
        Readers[kind].Read(JsonConfig.Parse("{" + Readers[kind].Base + (extra.Length > 0 ? "," + extra : "") + "}", Path));

    [Theory]
    [InlineData("pixart", "\"num_layers\":-1", "num_layers")]
    [InlineData("pixart", "\"patch_size\":0", "patch_size")]
    [InlineData("pixart", "\"num_attention_heads\":0", "num_attention_heads")]
    [InlineData("pixart", "\"norm_eps\":0", "norm_eps")]
    [InlineData("sd3", "\"patch_size\":0", "patch_size")]
    [InlineData("sd3", "\"num_layers\":100000", "num_layers")]
    [InlineData("sd3", "\"sample_size\":-5", "sample_size")]
    [InlineData("flux", "\"num_attention_heads\":-24", "num_attention_heads")]
    [InlineData("flux", "\"in_channels\":0", "in_channels")]
    [InlineData("t5", "\"d_model\":0", "d_model")]
    [InlineData("t5", "\"num_heads\":2147483647", "num_heads")]
    [InlineData("t5", "\"layer_norm_epsilon\":NaN", "layer_norm_epsilon")]
    [InlineData("clip", "\"num_hidden_layers\":0", "num_hidden_layers")]
    [InlineData("clip", "\"vocab_size\":-1", "vocab_size")]
    [InlineData("vae", "\"scaling_factor\":0", "scaling_factor")]
    [InlineData("vae", "\"scaling_factor\":Infinity", "scaling_factor")]
    [InlineData("vae", "\"shift_factor\":NaN", "shift_factor")]
    [InlineData("vae", "\"latent_channels\":0", "latent_channels")]
    [InlineData("vae", "\"layers_per_block\":-1", "layers_per_block")]
    [InlineData("dpm", "\"num_train_timesteps\":0", "num_train_timesteps")]
    [InlineData("dpm", "\"solver_order\":9", "solver_order")]
    [InlineData("dpm", "\"beta_end\":-0.02", "beta_end")]
    [InlineData("ddim", "\"num_train_timesteps\":-1000", "num_train_timesteps")]
    [InlineData("unipc", "\"solver_order\":4", "solver_order")]
    [InlineData("unipc", "\"flow_shift\":0", "flow_shift")]
    [InlineData("unipc", "\"flow_shift\":NaN", "flow_shift")]
    [InlineData("flow", "\"num_train_timesteps\":0", "num_train_timesteps")]
    [InlineData("flow", "\"shift\":0", "shift")]
    [InlineData("ddpm", "\"num_train_timesteps\":0", "num_train_timesteps")]
    [InlineData("ddpm", "\"beta_start\":-0.0001", "beta_start")]
    [InlineData("ddpm", "\"steps_offset\":-1", "steps_offset")]
    [InlineData("euler", "\"num_train_timesteps\":-1000", "num_train_timesteps")]
    [InlineData("euler", "\"beta_end\":0", "beta_end")]
    public void ABadNumberNamesTheFileAndKey(string kind, string extra, string key)
    {
        var e = Assert.Throws<FormatException>(() => Read(kind, extra));
        Assert.Contains(Path, e.Message);
        Assert.Contains($"'{key}'", e.Message);
    }

    [Theory]
    [InlineData("pixart")]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("t5")]
    [InlineData("clip")]
    [InlineData("vae")]
    [InlineData("dpm")]
    [InlineData("ddim")]
    [InlineData("flow")]
    [InlineData("ddpm")]
    [InlineData("euler")]
    [InlineData("unipc")]
    public void TheDefaultsPass(string kind) => Read(kind, "");

    [Fact]
    public void AWidthWhoseProductsWouldOverflowIsRefused()
    {
        var e = Assert.Throws<FormatException>(() => Read("flux", "\"num_attention_heads\":1024,\"attention_head_dim\":1024,\"axes_dims_rope\":[512,256,256]"));
        Assert.Contains("num_attention_heads × attention_head_dim = 1048576", e.Message);
    }

    [Fact]
    public void AMissingWidthKeyIsNamedWithTheDefaultThatWasTaken()
    {
        // the demo's widths (6 heads × 32) without num_attention_heads: diffusers' default 16 makes the inner dim 512
        var e = Assert.Throws<FormatException>(() => Read("pixart", "\"attention_head_dim\":32,\"cross_attention_dim\":192,\"caption_channels\":64"));
        Assert.Contains("num_attention_heads is not in the file: the default 16 was taken", e.Message);
        var sd3 = Assert.Throws<NotSupportedException>(() => Read("sd3", "\"attention_head_dim\":32"));
        Assert.Contains("num_attention_heads is not in the file: the default 18 was taken", sd3.Message);
    }
}

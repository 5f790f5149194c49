using System.Collections;
using System.Reflection;
using XDit.Engine.Bench;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models.Bert;
using XDit.Models.Clip;
using XDit.Models.Gemma2;
using XDit.Models.HunyuanDiT;
using XDit.Models.Sana;
using XDit.Models.Sdxl;
using XDit.Models.T5;
using XDit.Models.Tokenizers;
using XDit.Models.Vae;
using XDit.Models.Vae.Dc;
using XDit.Runtime;

namespace XDit.Tests.Pipelines;

/// <summary>
/// Issue 19: the published folders of HunyuanDiT-v1.2-Diffusers, Sana_1600M_1024px_diffusers,
/// Sana_Sprint_1.6B_1024px_diffusers and stable-diffusion-xl-base-1.0 load unchanged. No Hub download is possible
/// here, so their small JSON files are reconstructed in tests/fixtures/hub_configs (its README says where each came
/// from and which keys are inferred) and every one goes through the code the loaders run: model_index.json through
/// <see cref="ModelIndex"/> and <see cref="PipelineLoader"/> (which gets past the scheduler and the tokenizers and
/// stops, as it must, at the first folder without weights), scheduler_config.json through
/// <see cref="SchedulerFactory"/>, each config.json through its record's From (which validates), and the tokenizer
/// configs through <see cref="TokenizerLoader"/> beside the vocabulary files of tests/fixtures/tokenizers (the real
/// formats, smaller vocabularies). The architecture read must be the real-size record of
/// <see cref="RealSizeModels"/>, and the scheduler and VAE values the pipelines use must be the published ones.
/// </summary>
public class HubConfigConformanceTests
{
    const string Sdxl = "stable-diffusion-xl-base-1.0", Hunyuan = "HunyuanDiT-v1.2-Diffusers",
        Sana = "Sana_1600M_1024px_diffusers", Sprint = "Sana_Sprint_1.6B_1024px_diffusers";

    /// <summary>A pipeline folder of the repository's JSON files (no weights), with the vocabulary files its
    /// tokenizer loaders need taken from tests/fixtures/tokenizers.</summary>
    static string Folder(string repo)
    {
        var dir = TestPaths.TempDir();
        var src = Path.Combine(TestPaths.Fixture("hub_configs"), repo);
        foreach (var f in Directory.GetFiles(src, "*.json", SearchOption.AllDirectories))
        {
            var to = Path.Combine(dir, Path.GetRelativePath(src, f));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(f, to);
        }
        void Take(string fixture, string component, params string[] files)
        {
            foreach (var name in files) File.Copy(Path.Combine(TokenizerFixtures.Folder(fixture), name), Path.Combine(dir, component, name));
        }
        switch (repo)
        {
            case Sdxl:
                Take("clip", "tokenizer", "vocab.json", "merges.txt");
                Take("clip", "tokenizer_2", "vocab.json", "merges.txt");
                break;
            case Hunyuan:
                Take(Path.Combine("hunyuandit", "tokenizer"), "tokenizer", "vocab.txt");
                Take("t5_spm", "tokenizer_2", "spiece.model");
                break;
            default:
                // the Hub's GemmaTokenizerFast folder holds both, and the loader takes tokenizer.json then
                Take(Path.Combine("sana", "tokenizer"), "tokenizer", "tokenizer.json", "tokenizer.model");
                break;
        }
        return dir;
    }

    static JsonConfig Config(string dir, string component, string file = "config.json") => JsonConfig.Load(Path.Combine(dir, component, file));

    public static TheoryData<string, string, string[]> Repositories => new()
    {
        { Sdxl, "StableDiffusionXLPipeline", ["scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "unet", "vae"] },
        { Hunyuan, "HunyuanDiTPipeline", ["scheduler", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "transformer", "vae"] },
        { Sana, "SanaPipeline", ["scheduler", "text_encoder", "tokenizer", "transformer", "vae"] },
        { Sprint, "SanaSprintPipeline", ["scheduler", "text_encoder", "tokenizer", "transformer", "vae"] },
    };

    /// <summary>model_index.json names a supported pipeline and its components ([null, null] ones left out);
    /// <see cref="ModelIndex.Require"/> accepts the scheduler and tokenizer folders and, for each model folder, finds
    /// its config.json and misses only the weights.</summary>
    [Theory]
    [MemberData(nameof(Repositories))]
    public void ModelIndexNamesTheComponentsAndOnlyTheWeightsAreMissing(string repo, string pipeline, string[] components)
    {
        var index = ModelIndex.Load(Folder(repo));
        Assert.Equal(pipeline, index.PipelineClass);
        Assert.Contains(pipeline, PipelineLoader.Supported);
        Assert.Equal(components, index.Components.Keys.Order(StringComparer.Ordinal));
        foreach (var component in components)
        {
            if (component == "scheduler" || component.StartsWith("tokenizer", StringComparison.Ordinal))
            {
                Assert.Equal(Path.Combine(index.Dir, component), index.Require(component));
                continue;
            }
            var e = Assert.Throws<FileNotFoundException>(() => index.Require(component));
            Assert.Contains($"no weights (*.safetensors) in the '{component}' folder", e.Message);
        }
    }

    /// <summary>The pipeline's own constructor reads model_index.json, the scheduler and the tokenizers, and stops at
    /// text_encoder, the first folder that needs weights: nothing before it is refused.</summary>
    [Theory]
    [MemberData(nameof(Repositories))]
    public void PipelineLoaderGetsPastSchedulerAndTokenizersToTheFirstWeights(string repo, string pipeline, string[] components)
    {
        _ = pipeline;
        Assert.Contains("text_encoder", components);
        var e = Assert.Throws<FileNotFoundException>(() => PipelineLoader.Load(Folder(repo)));
        Assert.Contains("no weights (*.safetensors) in the 'text_encoder' folder", e.Message);
    }

    // ---- stable-diffusion-xl-base-1.0 ----

    [Fact]
    public void SdxlUNetIsTheRealSizeRecord()
    {
        var dir = Folder(Sdxl);
        var unet = SdxlUNetConfig.From(Config(dir, "unet"));
        AssertSameValues(RealSizeModels.SdxlBase, unet, nameof(SdxlUNetConfig.Path));
        Assert.Equal(1024, unet.SampleSize * 8);

        // the pipeline's load-time agreements (SdxlPipeline.CheckComponentsAgree) on the published widths
        var clipL = ClipTextConfig.From(Config(dir, "text_encoder"));
        var clipG = ClipTextConfig.From(Config(dir, "text_encoder_2"));
        Assert.False(clipL.HasProjection);
        Assert.True(clipG.HasProjection);
        Assert.Equal((768, 12, 12, Activation.QuickGelu), (clipL.HiddenSize, clipL.NumLayers, clipL.NumHeads, clipL.HiddenAct));
        Assert.Equal((1280, 32, 20, Activation.Gelu, 1280), (clipG.HiddenSize, clipG.NumLayers, clipG.NumHeads, clipG.HiddenAct, clipG.ProjectionDim));
        // eos_token_id 2 is transformers' legacy value: CLIP pools at the highest id (the EOS token 49407)
        Assert.Equal(2L, clipG.EosTokenId);
        Assert.Equal(unet.CrossAttentionDim, clipL.HiddenSize + clipG.HiddenSize);
        Assert.Equal(unet.ProjectionClassEmbeddingsInputDim, SdxlPipeline.TimeIdCount * unet.AdditionTimeEmbedDim + clipG.ProjectionDim);
        Assert.True(JsonConfig.Load(Path.Combine(dir, "model_index.json")).GetBool("force_zeros_for_empty_prompt", false));
    }

    [Fact]
    public void SdxlVaeAndSchedulerAreThePublishedOnes()
    {
        var dir = Folder(Sdxl);
        var vae = AutoencoderKLConfig.From(Config(dir, "vae"));
        Assert.Equal(0.13025, vae.ScalingFactor);
        Assert.Null(vae.ShiftFactor);
        Assert.True(vae.ForceUpcast);
        Assert.Equal((4, 8, 1024), (vae.LatentChannels, vae.SpatialFactor, vae.SampleSize));
        Assert.Equal(new[] { 128, 256, 512, 512 }, vae.BlockOutChannels);

        var scheduler = Assert.IsType<EulerDiscreteScheduler>(SchedulerFactory.Load(Path.Combine(dir, "scheduler")));
        var o = scheduler.Options;
        Assert.Equal(("scaled_linear", 0.00085, 0.012, 1000), (o.Training.BetaSchedule, o.Training.BetaStart, o.Training.BetaEnd, o.Training.NumTrainTimesteps));
        Assert.Equal(("epsilon", "leading", 1, "zero"), (o.PredictionType, o.TimestepSpacing, o.StepsOffset, o.FinalSigmasType));
        // diffusers' init_noise_sigma for this config at 8 steps (tests/fixtures/sched_euler_sdxl/meta.json)
        scheduler.SetTimesteps(8);
        Assert.Equal(7.439362049102783, scheduler.InitNoiseSigma, 1e-5);
    }

    [Fact]
    public void SdxlTokenizersPadAsPublished()
    {
        var dir = Folder(Sdxl);
        var clipL = TokenizerLoader.Load(Path.Combine(dir, "tokenizer"));
        var clipG = TokenizerLoader.Load(Path.Combine(dir, "tokenizer_2"));
        Assert.Equal(77, clipL.ModelMaxLength);
        Assert.Equal(77, clipG.ModelMaxLength);
        // CLIP-L pads with <|endoftext|> (49407), CLIP-G with "!" (0), as their special_tokens_map.json say
        Assert.Equal(new long[] { 49406, 49407, 49407, 49407 }, clipL.Encode([""], 4).Ids);
        Assert.Equal(new long[] { 49406, 49407, 0, 0 }, clipG.Encode([""], 4).Ids);
    }

    // ---- HunyuanDiT-v1.2-Diffusers ----

    [Fact]
    public void HunyuanDiTTransformerIsTheRealSizeRecord()
    {
        var dir = Folder(Hunyuan);
        var transformer = HunyuanDiTConfig.From(Config(dir, "transformer"));
        // RealSizeModels leaves sample_size at diffusers' default 32 (the bench passes its latent size); the
        // published 128 is what makes the pipeline's default size 1024 and turns resolution binning on
        AssertSameValues(RealSizeModels.HunyuanDiTV12, transformer);
        Assert.Equal(128, transformer.SampleSize);   // 1024 px, the pipeline's default size
        Assert.Equal(1408, transformer.InnerDim);     // the published hidden_size, which From checks against heads × dim
        Assert.Equal(6144, transformer.FeedForwardDim);

        var bert = BertConfig.From(Config(dir, "text_encoder"));
        var mt5 = T5Config.From(Config(dir, "text_encoder_2"));
        Assert.Equal((1024, 24, 16, 512), (bert.HiddenSize, bert.NumLayers, bert.NumHeads, bert.MaxPositions));
        Assert.Equal((2048, 5120, 24, 32, true, Activation.GeluTanh), (mt5.DModel, mt5.DFf, mt5.NumLayers, mt5.NumHeads, mt5.IsGatedAct, mt5.DenseActivation));
        // HunyuanDiTPipeline.CheckComponentsAgree
        Assert.Equal(transformer.CrossAttentionDim, bert.HiddenSize);
        Assert.True(bert.MaxPositions >= transformer.TextLen);
        Assert.Equal(transformer.CrossAttentionDimT5, mt5.DModel);
    }

    [Fact]
    public void HunyuanDiTVaeAndSchedulerAreThePublishedOnes()
    {
        var dir = Folder(Hunyuan);
        var vae = AutoencoderKLConfig.From(Config(dir, "vae"));
        Assert.Equal(0.13025, vae.ScalingFactor);
        Assert.False(vae.ForceUpcast);    // sdxl-vae-fp16-fix
        Assert.Equal((4, 8), (vae.LatentChannels, vae.SpatialFactor));

        var scheduler = Assert.IsType<DDPMScheduler>(SchedulerFactory.Load(Path.Combine(dir, "scheduler")));
        var o = scheduler.Options;
        Assert.Equal(("scaled_linear", 0.00085, 0.03), (o.Training.BetaSchedule, o.Training.BetaStart, o.Training.BetaEnd));
        Assert.Equal(("v_prediction", "fixed_small", false, "leading", 1), (o.PredictionType, o.VarianceType, o.ClipSample, o.TimestepSpacing, o.StepsOffset));
    }

    [Fact]
    public void HunyuanDiTTokenizersReadTheirConfigs()
    {
        var dir = Folder(Hunyuan);
        var bert = TokenizerLoader.Load(Path.Combine(dir, "tokenizer"));
        Assert.Equal(77, bert.ModelMaxLength);
        Assert.Equal(new long[] { 4, 5, 0, 0 }, bert.Encode([""], 4).Ids);     // [CLS] [SEP] [PAD] [PAD] of this vocab.txt
        var mt5 = TokenizerLoader.Load(Path.Combine(dir, "tokenizer_2"));
        Assert.Null(mt5.ModelMaxLength);                         // transformers' 1e30 "no limit"
        Assert.Equal(new long[] { 1, 0, 0, 0 }, mt5.Encode([""], 4).Ids);       // </s>, then <pad>
    }

    // ---- Sana_1600M_1024px_diffusers and Sana_Sprint_1.6B_1024px_diffusers ----

    [Theory]
    [InlineData(Sana)]
    [InlineData(Sprint)]
    public void SanaTransformerIsTheRealSizeRecord(string repo)
    {
        var dir = Folder(repo);
        var config = Config(dir, "transformer");
        var transformer = SanaConfig.From(config);
        var expected = repo == Sprint ? RealSizeModels.Sana1600M_1024 with { GuidanceEmbeds = true, QkNorm = true } : RealSizeModels.Sana1600M_1024;
        AssertSameValues(expected, transformer);
        Assert.Equal(0.1, transformer.GuidanceEmbedsScale);
        Assert.Equal(1.0, config.GetPositiveDouble("timestep_scale", 1.0));     // what SanaPipeline reads beside the record

        var gemma = Gemma2Config.From(Config(dir, "text_encoder"));
        Assert.Equal(transformer.CaptionChannels, gemma.HiddenSize);
        Assert.Equal((26, 8, 4, 256, 256.0), (gemma.NumLayers, gemma.NumHeads, gemma.NumKeyValueHeads, gemma.HeadDim, gemma.QueryPreAttnScalar));
        Assert.Equal(50.0, gemma.AttnLogitSoftcapping);
        Assert.Equal(4096, gemma.SlidingWindow);
        Assert.Equal(Enumerable.Range(0, 26).Select(i => i % 2 == 0), gemma.SlidingLayers);
        Assert.Equal(Activation.GeluTanh, gemma.HiddenActivation);
    }

    [Theory]
    [InlineData(Sana)]
    [InlineData(Sprint)]
    public void SanaDcAeIsThePublishedOne(string repo)
    {
        var vae = AutoencoderDCConfig.From(Config(Folder(repo), "vae"));
        Assert.Equal(0.41407, vae.ScalingFactor);
        Assert.Equal((32, 32, 3), (vae.LatentChannels, vae.SpatialFactor, vae.InChannels));
        Assert.True(vae.Interpolate);
        Assert.True(vae.InShortcut);
        Assert.Equal(new[] { 128, 256, 512, 512, 1024, 1024 }, vae.BlockOutChannels);
        Assert.Equal(new[] { 3, 3, 3, 3, 3, 3 }, vae.LayersPerBlock);
        Assert.Equal(new[] { DcBlockType.ResBlock, DcBlockType.ResBlock, DcBlockType.ResBlock, DcBlockType.EfficientViTBlock, DcBlockType.EfficientViTBlock, DcBlockType.EfficientViTBlock }, vae.BlockTypes);
        Assert.Equal(new[] { "", "", "", "5", "5", "5" }, vae.QkvMultiscales.Select(k => string.Join(",", k)));
        Assert.All(vae.ActFns, a => Assert.Equal(Activation.Silu, a));
        Assert.Equal(Activation.Relu, vae.ConvActFn);
    }

    [Fact]
    public void SanaSchedulerIsFlowDpmSolver()
    {
        var scheduler = Assert.IsType<DPMSolverMultistepScheduler>(SchedulerFactory.Load(Path.Combine(Folder(Sana), "scheduler")));
        var o = scheduler.Options;
        Assert.Equal(("flow_prediction", true, 3.0), (o.PredictionType, o.UseFlowSigmas, o.FlowShift));
        Assert.Equal((2, "dpmsolver++", "midpoint", true, "zero"), (o.SolverOrder, o.AlgorithmType, o.SolverType, o.LowerOrderFinal, o.FinalSigmasType));
        // Python's json writes the bare token -Infinity here
        Assert.Equal(double.NegativeInfinity, o.LambdaMinClipped);
        Assert.Equal(("linspace", 0), (o.TimestepSpacing, o.StepsOffset));
    }

    [Fact]
    public void SprintSchedulerIsScmWithTheSigmaDataTheTrigFlowUses()
    {
        var scheduler = Assert.IsType<SCMScheduler>(SchedulerFactory.Load(Path.Combine(Folder(Sprint), "scheduler")));
        Assert.Equal(("trigflow", 1000), (scheduler.Options.PredictionType, scheduler.Options.NumTrainTimesteps));
        Assert.Equal(0.5f, scheduler.SigmaData);
    }

    [Theory]
    [InlineData(Sana)]
    [InlineData(Sprint)]
    public void SanaTokenizerReadsGemmasConfig(string repo)
    {
        var tokenizer = TokenizerLoader.Load(Path.Combine(Folder(repo), "tokenizer"));
        Assert.Null(tokenizer.ModelMaxLength);                      // 1e30: SanaPipeline pads to its own 300
        Assert.Equal(new long[] { 2, 0, 0, 0 }, tokenizer.Encode([""], 4).Ids);     // <bos>, then <pad> on the right
    }

    /// <summary>Every public property of <paramref name="actual"/> equals <paramref name="expected"/>'s (arrays element
    /// by element), but <paramref name="ignored"/>: a property added to a record later is compared too.</summary>
    static void AssertSameValues<T>(T expected, T actual, params string[] ignored)
    {
        foreach (var p in typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (ignored.Contains(p.Name) || p.GetIndexParameters().Length > 0) continue;
            object? e = p.GetValue(expected), a = p.GetValue(actual);
            bool same = e is IEnumerable ee and not string && a is IEnumerable ae ? ee.Cast<object>().SequenceEqual(ae.Cast<object>()) : Equals(e, a);
            Assert.True(same, $"{typeof(T).Name}.{p.Name}: the real-size record has {Show(e)}, the published config gives {Show(a)}");
        }
    }

    static string Show(object? v) => v is IEnumerable e and not string ? $"[{string.Join(", ", e.Cast<object>())}]" : v?.ToString() ?? "null";
}

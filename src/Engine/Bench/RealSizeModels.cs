using XDit.Models.CogVideoX;
using XDit.Models.HunyuanDiT;
using XDit.Models.HunyuanVideo;
using XDit.Models.Mochi;
using XDit.Models.PixArt;
using XDit.Models.QwenImage;
using XDit.Models.ZImage;
using XDit.Models.SD3;
using XDit.Models.Flux;
using XDit.Models.Flux2;
using XDit.Models.Sana;
using XDit.Models.Sdxl;
using XDit.Models.Wan;
using XDit.Models.Ltx;
using XDit.Runtime;

namespace XDit.Engine.Bench;

/// <summary>
/// Transformers at their published sizes, with made-up weights (<see cref="RandomCheckpoint"/>), for timing one
/// forward pass against the numbers other runtimes publish (../shared/gpu/README.md has diffusers' on an H100:
/// PixArt-XL-2 at 1024 px, batch 2, 120 text tokens, 60.2 ms eager, 33.9 ms compiled; SD3-medium at 1024 px, batch
/// 2, 333 text tokens, 56.4 ms and 43.3 ms; FLUX.1-dev at 1024 px, batch 1, 512 text tokens, 185.7 ms and 135.9 ms).
/// The configs are those of the hub's config.json files.
/// </summary>
public static class RealSizeModels
{
    /// <summary>PixArt-alpha/PixArt-XL-2-1024-MS's transformer: 28 blocks of 16 heads × 72, T5-XXL captions.</summary>
    public static PixArtConfig PixArtXl2_1024 { get; } = new()
    {
        NumAttentionHeads = 16, AttentionHeadDim = 72, InChannels = 4, OutChannels = 8, NumLayers = 28, CrossAttentionDim = 1152,
        AttentionBias = true, SampleSize = 128, PatchSize = 2, ActivationFn = "gelu-approximate", NormEps = 1e-6,
        InterpolationScale = 2, UseAdditionalConditions = true, CaptionChannels = 4096,
    };

    /// <summary>The same architecture at toy size: what the tests run on the CPU.</summary>
    public static PixArtConfig PixArtTiny { get; } = PixArtXl2_1024 with { NumAttentionHeads = 2, AttentionHeadDim = 24, NumLayers = 2, CrossAttentionDim = 48, SampleSize = 8, CaptionChannels = 40 };

    /// <summary>stabilityai/stable-diffusion-3-medium's transformer: 24 joint blocks of 24 heads × 64, no qk-norm.</summary>
    public static SD3Config SD3Medium { get; } = new()
    {
        SampleSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 24, AttentionHeadDim = 64, NumAttentionHeads = 24,
        JointAttentionDim = 4096, CaptionProjectionDim = 1536, PooledProjectionDim = 2048, PosEmbedMaxSize = 192,
    };

    /// <summary>SD3's architecture at toy size.</summary>
    public static SD3Config SD3Tiny { get; } = SD3Medium with
    {
        SampleSize = 8, NumLayers = 2, AttentionHeadDim = 16, NumAttentionHeads = 2, JointAttentionDim = 24, CaptionProjectionDim = 32,
        PooledProjectionDim = 20, PosEmbedMaxSize = 8,
    };

    /// <summary>black-forest-labs/FLUX.1-dev's transformer: 19 double and 38 single blocks of 24 heads × 128, with the
    /// guidance embedder.</summary>
    public static FluxConfig FluxDev { get; } = new() { GuidanceEmbeds = true };

    /// <summary>Flux's architecture at toy size, with the real head dims' kernels: 2 heads × 64 (RoPE axes 16 + 24 + 24).</summary>
    public static FluxConfig FluxTiny { get; } = FluxDev with
    {
        InChannels = 16, OutChannels = 16, NumLayers = 1, NumSingleLayers = 1, AttentionHeadDim = 64, NumAttentionHeads = 2,
        JointAttentionDim = 24, PooledProjectionDim = 12, AxesDimsRope = [16, 24, 24],
    };

    /// <summary>black-forest-labs/FLUX.2-dev's transformer: 8 double and 48 single blocks of 48 heads × 128 (D 6144),
    /// Mistral-3 states 15360 wide, 128-channel tokens (32 latent channels packed 2×2), RoPE axes 4 × 32, theta 2000,
    /// the guidance embedder; diffusers' defaults are this config.</summary>
    public static Flux2Config Flux2Dev { get; } = new();

    /// <summary>Flux 2's architecture at toy size (the flux2 fixture's shape but 2 heads × 64, a head dim the fused q/k
    /// projection is built for, as the real 128 is).</summary>
    public static Flux2Config Flux2Tiny { get; } = Flux2Dev with
    {
        InChannels = 4, OutChannels = 4, NumLayers = 1, NumSingleLayers = 2, AttentionHeadDim = 64, NumAttentionHeads = 2,
        JointAttentionDim = 48, AxesDimsRope = [16, 16, 16, 16],
    };

    /// <summary>Tencent-Hunyuan/HunyuanDiT-v1.2-Diffusers' transformer: 40 blocks of 16 heads × 88 (hidden 1408, FFN
    /// int(1408 · 4.3637) = 6144) with long skips, BERT states 77 × 1024 and mT5 states 256 × 2048, learn_sigma; v1.2
    /// drops v1.1's size/style condition (use_style_cond_and_image_meta_size false in its config.json).</summary>
    public static HunyuanDiTConfig HunyuanDiTV12 { get; } = new()
    {
        NumAttentionHeads = 16, AttentionHeadDim = 88, InChannels = 4, PatchSize = 2, LearnSigma = true, MlpRatio = 4.3637, NumLayers = 40,
        CrossAttentionDim = 1024, CrossAttentionDimT5 = 2048, PooledProjectionDim = 1024, TextLen = 77, TextLenT5 = 256,
        UseStyleCondAndImageMetaSize = false, SampleSize = 128,
    };

    /// <summary>stabilityai/stable-diffusion-xl-base-1.0's unet: 320/640/1280 channels, transformer depths 1/2/10
    /// (heads of 64: 5, 10, 20), CLIP-L + CLIP-G states 2048 wide, text_embeds 1280 and six time ids × 256.</summary>
    public static SdxlUNetConfig SdxlBase { get; } = new()
    {
        Path = "<stable-diffusion-xl-base-1.0 unet>", InChannels = 4, OutChannels = 4, BlockOutChannels = [320, 640, 1280],
        DownBlockTypes = [SdxlUNetConfig.DownBlock, SdxlUNetConfig.CrossAttnDownBlock, SdxlUNetConfig.CrossAttnDownBlock],
        UpBlockTypes = [SdxlUNetConfig.CrossAttnUpBlock, SdxlUNetConfig.CrossAttnUpBlock, SdxlUNetConfig.UpBlock],
        LayersPerBlock = 2, NormNumGroups = 32, NormEps = 1e-5f, CrossAttentionDim = 2048, NumAttentionHeads = [5, 10, 20],
        TransformerLayersPerBlock = [1, 2, 10], FlipSinToCos = true, FreqShift = 0, AdditionEmbedType = "text_time",
        AdditionTimeEmbedDim = 256, ProjectionClassEmbeddingsInputDim = 2816, ConvInKernel = 3, ConvOutKernel = 3, SampleSize = 128,
    };

    /// <summary>SDXL's UNet at toy size (the sdxl_unet fixture's shape).</summary>
    public static SdxlUNetConfig SdxlTiny { get; } = SdxlBase with
    {
        BlockOutChannels = [16, 16, 32], NormNumGroups = 8, CrossAttentionDim = 32, NumAttentionHeads = [2, 2, 4],
        TransformerLayersPerBlock = [1, 1, 2], AdditionTimeEmbedDim = 8, ProjectionClassEmbeddingsInputDim = 72, SampleSize = 8,
    };

    /// <summary>HunyuanDiT's architecture at toy size.</summary>
    public static HunyuanDiTConfig HunyuanDiTTiny { get; } = HunyuanDiTV12 with
    {
        NumAttentionHeads = 2, AttentionHeadDim = 8, NumLayers = 4, CrossAttentionDim = 16, CrossAttentionDimT5 = 16, PooledProjectionDim = 8,
        TextLen = 4, TextLenT5 = 6, MlpRatio = 4.0, SampleSize = 8,
    };

    /// <summary>Efficient-Large-Model/Sana_1600M_1024px_diffusers' transformer: 20 blocks of 70 heads × 32 (ReLU linear
    /// attention), cross-attention 20 heads × 112, Mix-FFN 5600 wide, Gemma 2 captions (2304), DC-AE's 32-channel
    /// latent at 32×32 for 1024 px (diffusers' defaults are this model's).</summary>
    public static SanaConfig Sana1600M_1024 { get; } = new()
    {
        InChannels = 32, OutChannels = 32, NumAttentionHeads = 70, AttentionHeadDim = 32, NumLayers = 20, NumCrossAttentionHeads = 20,
        CrossAttentionHeadDim = 112, CrossAttentionDim = 2240, CaptionChannels = 2304, MlpRatio = 2.5, AttentionBias = false,
        SampleSize = 32, PatchSize = 1, NormEps = 1e-6,
    };

    /// <summary>SANA's architecture at toy size.</summary>
    public static SanaConfig SanaTiny { get; } = Sana1600M_1024 with
    {
        InChannels = 8, OutChannels = 8, NumAttentionHeads = 2, AttentionHeadDim = 8, NumLayers = 2, NumCrossAttentionHeads = 2,
        CrossAttentionHeadDim = 8, CrossAttentionDim = 16, CaptionChannels = 24, SampleSize = 4,
    };

    /// <summary>THUDM/CogVideoX-5b's transformer: 42 blocks of 48 heads × 64, RoPE (no position table), T5-XXL states
    /// 226 × 4096, time embedding 512; 49 frames of 480×720 are 13×60×90 latents of 16 channels (13·30·45 = 17550 video
    /// tokens).</summary>
    public static CogVideoXConfig CogVideoX5b { get; } = new()
    {
        NumAttentionHeads = 48, AttentionHeadDim = 64, InChannels = 16, OutChannels = 16, TimeEmbedDim = 512, TextEmbedDim = 4096,
        NumLayers = 42, SampleWidth = 90, SampleHeight = 60, SampleFrames = 49, PatchSize = 2, MaxTextSeqLength = 226,
        UseRotaryPositionalEmbeddings = true,
    };

    /// <summary>CogVideoX-5b's architecture at toy size (2 latent frames of 4×8: 16 tokens), 2 heads × 64: the real head
    /// dim, which the fused q/k projection is built for.</summary>
    public static CogVideoXConfig CogVideoXTiny { get; } = CogVideoX5b with
    {
        NumAttentionHeads = 2, AttentionHeadDim = 64, InChannels = 4, OutChannels = 4, TimeEmbedDim = 8, TextEmbedDim = 16, NumLayers = 2,
        SampleWidth = 8, SampleHeight = 4, SampleFrames = 5, MaxTextSeqLength = 8,
    };

    /// <summary>Qwen/Qwen-Image's transformer: 60 dual-stream blocks of 24 heads × 128 (D 3072), Qwen2.5-VL-7B states
    /// 3584 wide, packed 2×2 latent tokens of 16 channels (64 in, 64 out); RoPE axes 16 + 56 + 56.</summary>
    public static QwenImageConfig QwenImage { get; } = new()
    {
        PatchSize = 2, InChannels = 64, OutChannels = 16, NumLayers = 60, AttentionHeadDim = 128, NumAttentionHeads = 24,
        JointAttentionDim = 3584, AxesDimsRope = [16, 56, 56],
    };

    /// <summary>Qwen-Image's architecture at toy size (the qwenimage fixture's shape but 2 heads × 64, a head dim the
    /// fused q/k projection is built for, as the real 128 is).</summary>
    public static QwenImageConfig QwenImageTiny { get; } = QwenImage with
    {
        InChannels = 16, OutChannels = 4, NumLayers = 2, AttentionHeadDim = 64, NumAttentionHeads = 2, JointAttentionDim = 16, AxesDimsRope = [32, 16, 16],
    };

    /// <summary>hunyuanvideo-community/HunyuanVideo's transformer (T2V, guidance-distilled): 20 dual-stream and 40
    /// single-stream blocks of 24 heads × 128, 2 refiner blocks, Llama states 4096 wide, CLIP pooled 768, 3-D RoPE
    /// 16/56/56. Its 129 frames of 720×1280 do not fit one forward here; the bench runs 33 frames of 544×960: 9×68×120
    /// latents of 16 channels (9·34·60 = 18360 video tokens).</summary>
    public static HunyuanVideoConfig HunyuanVideo { get; } = new();

    /// <summary>The video latent of the bench: (frames, height, width) of 33 frames at 544×960.</summary>
    public static (int Frames, int Height, int Width) HunyuanVideoLatent { get; } = (9, 68, 120);

    /// <summary>HunyuanVideo's architecture at toy size (2 latent frames of 4×6: 12 tokens).</summary>
    public static HunyuanVideoConfig HunyuanVideoTiny { get; } = new()
    {
        InChannels = 4, OutChannels = 4, NumAttentionHeads = 2, AttentionHeadDim = 64, NumLayers = 2, NumSingleLayers = 2, NumRefinerLayers = 1,
        TextEmbedDim = 16, PooledProjectionDim = 8, RopeAxesDim = [16, 24, 24],
    };

    /// <summary>Wan-AI/Wan2.1-T2V-14B's transformer: 40 blocks of 40 heads × 128, ffn 13824, UMT5-XXL states 512 × 4096;
    /// 81 frames of 480×832 are 21×60×104 latents of 16 channels (21·30·52 = 32760 video tokens).</summary>
    public static WanConfig Wan21_14B { get; } = new()
    {
        NumAttentionHeads = 40, AttentionHeadDim = 128, InChannels = 16, OutChannels = 16, TextDim = 4096, FreqDim = 256,
        FfnDim = 13824, NumLayers = 40, CrossAttnNorm = true, Eps = 1e-6, RopeMaxSeqLen = 1024,
    };

    /// <summary>The latent of Wan2.1-T2V-14B's default video (81 frames of 480×832): frames, height, width.</summary>
    public static (int Frames, int Height, int Width) Wan21Latent => (21, 60, 104);

    /// <summary>Wan 2.1's architecture at toy size (2 latent frames of 4×8: 16 tokens).</summary>
    public static WanConfig WanTiny { get; } = Wan21_14B with
    {
        NumAttentionHeads = 2, AttentionHeadDim = 12, TextDim = 16, FfnDim = 32, NumLayers = 2, InChannels = 4, OutChannels = 4,
    };

    /// <summary>genmo/mochi-1-preview's transformer (Mochi 1): 48 blocks of 24 heads × 128 (D 3072), a text stream of
    /// 1536, T5-XXL states 4096 wide, patch 2 over 12 latent channels; 85 frames of 480×848 are 15×60×106 latents
    /// (15·30·53 = 23850 video tokens).</summary>
    public static MochiConfig Mochi1 { get; } = new();

    /// <summary>The latent of Mochi 1's default video (85 frames of 480×848): frames, height, width.</summary>
    public static (int Frames, int Height, int Width) Mochi1Latent => (15, 60, 106);

    /// <summary>Mochi's architecture at toy size (2 latent frames of 4×6: 12 tokens), 2 heads × 64: a head dim the fused
    /// q/k projection is built for, as the real 128 is.</summary>
    public static MochiConfig MochiTiny { get; } = new()
    {
        NumAttentionHeads = 2, AttentionHeadDim = 64, NumLayers = 2, PooledProjectionDim = 24, InChannels = 4, OutChannels = 4,
        TextEmbedDim = 16, TimeEmbedDim = 8,
    };

    /// <summary>Lightricks/LTX-Video 0.9's transformer: 28 blocks of 32 heads × 64, T5-XXL captions 128 × 4096, 128 latent
    /// channels, patch 1; 121 frames of 512×768 are 16×16×24 latents (6144 video tokens).</summary>
    public static LtxConfig LtxVideo { get; } = new();

    /// <summary>The latent of LTX-Video's default video (121 frames of 512×768): frames, height, width.</summary>
    public static (int Frames, int Height, int Width) LtxLatent => (16, 16, 24);

    /// <summary>LTX-Video's architecture at toy size (2 latent frames of 2×4: 16 tokens).</summary>
    public static LtxConfig LtxTiny { get; } = new()
    {
        NumAttentionHeads = 2, AttentionHeadDim = 8, CrossAttentionDim = 16, CaptionChannels = 16, NumLayers = 2, InChannels = 8, OutChannels = 8,
    };

    /// <summary>Tongyi-MAI/Z-Image-Turbo's transformer (6B): 2 noise- and 2 context-refiner blocks and 30 single-stream
    /// layers of 30 heads × 128 (dim 3840), Qwen3-4B caption states 2560 wide, 2×2 patches of 16 latent channels, RoPE
    /// axes 32 + 48 + 48 (diffusers' defaults).</summary>
    public static ZImageConfig ZImageTurbo { get; } = new();

    /// <summary>Z-Image's architecture at toy size (the zimage fixture's shape but 2 heads × 64, a head dim the fused
    /// q/k projection is built for, as the real 128 is).</summary>
    public static ZImageConfig ZImageTiny { get; } = ZImageTurbo with
    {
        Dim = 128, NLayers = 2, NRefinerLayers = 1, NHeads = 2, NKvHeads = 2, CapFeatDim = 16, AxesDims = [32, 16, 16], AxesLens = [256, 32, 32],
    };

    public static IReadOnlyList<string> Names { get; } = ["pixart-xl-2-1024", "sd3-medium", "flux-dev", "hunyuandit-v1.2", "sana-1600m", "sdxl-base", "cogvideox-5b", "qwen-image", "hunyuanvideo", "wan2.1-14b", "pixart-tiny", "sd3-tiny", "flux-tiny", "hunyuandit-tiny", "sana-tiny", "sdxl-tiny", "cogvideox-tiny", "qwenimage-tiny", "hunyuanvideo-tiny", "wan-tiny", "mochi-1", "mochi-tiny", "ltx-video", "ltx-tiny", "flux2-dev", "flux2-tiny", "z-image-turbo", "zimage-tiny"];

    /// <summary>Short names for the real sizes: pixart, sd3, flux, hunyuandit, sana, sdxl, cogvideox, qwenimage, wan,
    /// mochi, ltx, flux2 (hunyuanvideo is its own).</summary>
    public static string Resolve(string name) => name.Trim().ToLowerInvariant() switch
    {
        "pixart" => "pixart-xl-2-1024",
        "sd3" => "sd3-medium",
        "flux" => "flux-dev",
        "hunyuandit" => "hunyuandit-v1.2",
        "sana" => "sana-1600m",
        "sdxl" => "sdxl-base",
        "cogvideox" => "cogvideox-5b",
        "qwenimage" => "qwen-image",
        "wan" => "wan2.1-14b",
        "mochi" => "mochi-1",
        "ltx" => "ltx-video",
        "flux2" => "flux2-dev",
        var n => n,
    };

    /// <summary>The workload of <paramref name="name"/> with random <paramref name="weights"/>: unless told otherwise,
    /// a square latent of the model's trained size (1024 px) and the text tokens and batch rows of the published
    /// timings (PixArt 120 tokens and SD3 333, 2 rows; Flux 512 tokens, 1 row). <paramref name="shapeOnlyWeights"/>:
    /// weights with a shape and no values (<see cref="RandomCheckpoint.ShapeOnly"/>), for the emulator's no-exec device.</summary>
    public static IStepWorkload Workload(string name, DType weights, int? latentSize = null, int? textTokens = null, int? rows = null, bool shapeOnlyWeights = false)
    {
        name = Resolve(name);
        string source = $"{name} with {(shapeOnlyWeights ? "shape-only" : "random")} {OpBenchmarks.DTypeName(weights)} weights";
        switch (name)
        {
            case "pixart-xl-2-1024" or "pixart-tiny":
            {
                var config = name == "pixart-tiny" ? PixArtTiny : PixArtXl2_1024;
                return new PixArtStepWorkload(config, source, ops => PixArtTransformer.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    latentSize ?? config.SampleSize, textTokens ?? 120, rows ?? 2);
            }
            case "sd3-medium" or "sd3-tiny":
            {
                var config = name == "sd3-tiny" ? SD3Tiny : SD3Medium;
                // no qk-norm weights, as in SD3-medium's checkpoint (the loader probes for them)
                var checkpoint = new RandomCheckpoint(name, weights, contains: n => !n.Contains(".norm_q.") && !n.Contains(".norm_k.")
                    && !n.Contains(".norm_added_q.") && !n.Contains(".norm_added_k.")) { ShapeOnly = shapeOnlyWeights };
                return new SD3StepWorkload(config, source, ops => SD3Transformer.Load(config, checkpoint, ops), latentSize ?? config.SampleSize,
                    textTokens ?? 333, rows ?? 2);
            }
            case "flux-dev" or "flux-tiny":
            {
                var config = name == "flux-tiny" ? FluxTiny : FluxDev;
                return new FluxStepWorkload(config, source, ops => FluxTransformer.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    latentSize ?? (name == "flux-tiny" ? 8 : 128), textTokens ?? 512, rows ?? 1);
            }
            case "hunyuandit-v1.2" or "hunyuandit-tiny":
            {
                var config = name == "hunyuandit-tiny" ? HunyuanDiTTiny : HunyuanDiTV12;
                int text = config.TextLen + config.TextLenT5;
                if (textTokens is int t && t != text)
                    throw new ArgumentException($"{name}: the text is the config's text_len + text_len_t5 = {config.TextLen} + {config.TextLenT5} = {text} tokens (BERT and mT5 padded to their lengths), got {t}");
                return new HunyuanDiTStepWorkload(config, source, ops => HunyuanDiTTransformer.Load(config, new RandomCheckpoint(name, weights, contains: config.Holds) { ShapeOnly = shapeOnlyWeights }, ops),
                    latentSize ?? (name == "hunyuandit-tiny" ? 8 : 128), rows ?? 2);
            }
            case "sana-1600m" or "sana-tiny":
            {
                var config = name == "sana-tiny" ? SanaTiny : Sana1600M_1024;
                // 300 caption tokens: SanaPipeline's max_sequence_length (the last 299 Gemma states and the first)
                return new SanaStepWorkload(config, source, ops => SanaTransformer.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    latentSize ?? config.SampleSize, textTokens ?? 300, rows ?? 2);
            }
            case "sdxl-base" or "sdxl-tiny":
            {
                var config = name == "sdxl-tiny" ? SdxlTiny : SdxlBase;
                return new SdxlStepWorkload(config, source, ops => SdxlUNet.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    latentSize ?? config.SampleSize, textTokens ?? 77, rows ?? 2);
            }
            case "cogvideox-5b" or "cogvideox-tiny":
            {
                var config = name == "cogvideox-tiny" ? CogVideoXTiny : CogVideoX5b;
                if (latentSize is not null)
                    throw new ArgumentException($"{name}: the latent is the video's, {config.SampleLatentFrames}×{config.SampleHeight}×{config.SampleWidth} (frames × height × width); a square latent size does not apply");
                // no learned position table, as in CogVideoX-5b's checkpoint (the loader probes for it)
                var checkpoint = new RandomCheckpoint(name, weights, contains: n => n != "patch_embed.pos_embedding") { ShapeOnly = shapeOnlyWeights };
                return new CogVideoXStepWorkload(config, source, ops => CogVideoXTransformer.Load(config, checkpoint, ops), config.SampleLatentFrames,
                    config.SampleHeight, config.SampleWidth, textTokens ?? config.MaxTextSeqLength, rows ?? 2);
            }
            case "qwen-image" or "qwenimage-tiny":
            {
                var config = name == "qwenimage-tiny" ? QwenImageTiny : QwenImage;
                // 1024 px: 128×128 latents → 64×64 = 4096 tokens; ~256 prompt tokens (Qwen2.5-VL states after the
                // template's first 34 are dropped)
                // no Layered addition_t_embedding, as in Qwen-Image's checkpoint (the loader probes for it)
                var checkpoint = new RandomCheckpoint(name, weights, contains: n => !n.Contains("addition_t_embedding")) { ShapeOnly = shapeOnlyWeights };
                return new QwenImageStepWorkload(config, source, ops => QwenImageTransformer.Load(config, checkpoint, ops),
                    latentSize ?? (name == "qwenimage-tiny" ? 8 : 128), textTokens ?? 256, rows ?? 1);
            }
            case "hunyuanvideo" or "hunyuanvideo-tiny":
            {
                var config = name == "hunyuanvideo-tiny" ? HunyuanVideoTiny : HunyuanVideo;
                var (f, h, w) = name == "hunyuanvideo-tiny" ? (2, 4, 6) : HunyuanVideoLatent;
                if (latentSize is not null)
                    throw new ArgumentException($"{name}: the latent is the video's, {f}×{h}×{w} (frames × height × width); a square latent size does not apply");
                int text = textTokens ?? (name == "hunyuanvideo-tiny" ? 8 : 256);
                // the pipeline's max_sequence_length, all kept (the model drops a prompt's padding before its blocks)
                return new HunyuanVideoStepWorkload(config, source, ops => HunyuanVideoTransformer.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    f, h, w, text, rows ?? 1);
            }
            case "wan2.1-14b" or "wan-tiny":
            {
                var config = name == "wan-tiny" ? WanTiny : Wan21_14B;
                if (latentSize is not null)
                    throw new ArgumentException($"{name}: the latent is the video's, frames × height × width; a square latent size does not apply");
                var (f, h, w) = name == "wan-tiny" ? (2, 4, 8) : Wan21Latent;
                // no image-to-video projections, as in the text-to-video checkpoint (the loader probes for them)
                var checkpoint = new RandomCheckpoint(name, weights, contains: n => !n.Contains(".add_k_proj.")) { ShapeOnly = shapeOnlyWeights };
                return new WanStepWorkload(config, source, ops => WanTransformer.Load(config, checkpoint, ops),
                    f, h, w, textTokens ?? (name == "wan-tiny" ? 8 : 512), rows ?? 2);
            }
            case "mochi-1" or "mochi-tiny":
            {
                var config = name == "mochi-tiny" ? MochiTiny : Mochi1;
                if (latentSize is not null)
                    throw new ArgumentException($"{name}: the latent is the video's, frames × height × width; a square latent size does not apply");
                var (f, h, w) = name == "mochi-tiny" ? (2, 4, 6) : Mochi1Latent;
                return new MochiStepWorkload(config, source, ops => MochiTransformer.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    f, h, w, textTokens ?? (name == "mochi-tiny" ? 8 : 256), rows ?? 2);
            }
            case "ltx-video" or "ltx-tiny":
            {
                var config = name == "ltx-tiny" ? LtxTiny : LtxVideo;
                if (latentSize is not null)
                    throw new ArgumentException($"{name}: the latent is the video's, frames × height × width; a square latent size does not apply");
                var (f, h, w) = name == "ltx-tiny" ? (2, 2, 4) : LtxLatent;
                // 128 caption tokens: the pipeline's max_sequence_length
                return new LtxStepWorkload(config, source, ops => LtxTransformer.Load(config, new RandomCheckpoint(name, weights, contains: n => !n.EndsWith(".norm1.weight", StringComparison.Ordinal)) { ShapeOnly = shapeOnlyWeights }, ops),
                    f, h, w, textTokens ?? (name == "ltx-tiny" ? 8 : 128), rows ?? 2);
            }
            case "flux2-dev" or "flux2-tiny":
            {
                var config = name == "flux2-tiny" ? Flux2Tiny : Flux2Dev;
                // 1024 px: 128×128 latents of 32 channels → 64×64 = 4096 tokens of 128; 512 text tokens (the
                // pipeline's max_sequence_length)
                return new Flux2StepWorkload(config, source, ops => Flux2Transformer.Load(config, new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights }, ops),
                    latentSize ?? (name == "flux2-tiny" ? 8 : 128), textTokens ?? 512, rows ?? 1);
            }
            case "z-image-turbo" or "zimage-tiny":
            {
                var config = name == "zimage-tiny" ? ZImageTiny : ZImageTurbo;
                // 1024 px: 128×128 latents → 64×64 = 4096 tokens; the pipeline's max_sequence_length 512 caption tokens
                var checkpoint = new RandomCheckpoint(name, weights) { ShapeOnly = shapeOnlyWeights };
                return new ZImageStepWorkload(config, source, ops => ZImageTransformer.Load(config, checkpoint, ops),
                    latentSize ?? (name == "zimage-tiny" ? 8 : 128), textTokens ?? (name == "zimage-tiny" ? 12 : 512), rows ?? 1);
            }
            default: throw new ArgumentException($"unknown real-size model '{name}' (known: {string.Join(", ", Names)})");
        }
    }
}

using XDit.Engine.Backends;
using XDit.Kernels;
using XDit.Models;

namespace XDit.Engine.Pipelines;

/// <summary>Opens a diffusers pipeline folder as the pipeline its model_index.json names.</summary>
public static class PipelineLoader
{
    /// <summary>The model_index.json _class_name values this engine runs.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["PixArtAlphaPipeline", "PixArtSigmaPipeline", "StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "FluxPipeline", "FluxImg2ImgPipeline", "FluxKontextPipeline", "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "HunyuanDiTPipeline", "SanaPipeline", "SanaSprintPipeline", "CogVideoXPipeline", "LattePipeline", "WanPipeline", "QwenImagePipeline", "LTXPipeline"];

    /// <summary>The model_index.json _class_name values of video pipelines (<see cref="TextToVideoPipeline"/>).</summary>
    public static IReadOnlyList<string> VideoClasses { get; } = ["CogVideoXPipeline", "LattePipeline", "WanPipeline", "LTXPipeline"];

    /// <summary>Whether the folder's model_index.json names a video pipeline (read before anything is loaded, so that
    /// video options and outputs can be checked first). A folder without one is not (the load then says what is
    /// missing, in its turn).</summary>
    public static bool IsVideo(string dir)
        => File.Exists(Path.Combine(dir, "model_index.json")) && VideoClasses.Contains(ModelIndex.Load(dir).PipelineClass);

    public static TextToImagePipeline Load(string dir, PipelineOptions? options = null)
    {
        options ??= new PipelineOptions();
        var index = ModelIndex.Load(dir);
        return Load(index, BackendFactory.Create(options.Device, options.DType, options.AttentionBackend));
    }

    /// <summary>Loads onto a given backend. With <paramref name="ownsOps"/> the pipeline takes ownership of it (and a
    /// failed load disposes it); without, the caller keeps it (a parallel rank, whose communicator uses it to the end).</summary>
    public static TextToImagePipeline Load(string dir, IOps ops, bool ownsOps = true) => Load(ModelIndex.Load(dir), ops, ownsOps);

    static TextToImagePipeline Load(ModelIndex index, IOps ops, bool ownsOps = true)
    {
        var dir = index.Dir;
        try
        {
            using var notes = CheckpointNotes.Collect();
            long before = ops.Allocator.BytesInUse;
            TextToImagePipeline pipeline = index.PipelineClass switch
            {
                "PixArtAlphaPipeline" or "PixArtSigmaPipeline" => new PixArtPipeline(index, ops),
                // the image-to-image classes are the same pipelines (their weights are the same folders), held to an image
                "StableDiffusion3Pipeline" or "StableDiffusion3Img2ImgPipeline" => new SD3Pipeline(index, ops),
                "FluxPipeline" or "FluxImg2ImgPipeline" => new FluxPipeline(index, ops),
                "FluxKontextPipeline" => new FluxKontextPipeline(index, ops),
                "StableDiffusionXLPipeline" or "StableDiffusionXLImg2ImgPipeline" => new SdxlPipeline(index, ops),
                "HunyuanDiTPipeline" => new HunyuanDiTPipeline(index, ops),
                "SanaPipeline" => new SanaPipeline(index, ops),
                "SanaSprintPipeline" => new SanaSprintPipeline(index, ops),
                "CogVideoXPipeline" => new CogVideoXPipeline(index, ops),
                "LattePipeline" => new LattePipeline(index, ops),
                "WanPipeline" => new WanPipeline(index, ops),
                "QwenImagePipeline" => new QwenImagePipeline(index, ops),
                "LTXPipeline" => new LtxPipeline(index, ops),
                var other => throw new NotSupportedException($"{dir}: pipeline class '{other}' is not supported (supported: {string.Join(", ", Supported)})"),
            };
            pipeline.OwnsOps = ownsOps;
            pipeline.ImageRequired = index.PipelineClass.EndsWith("Img2ImgPipeline", StringComparison.Ordinal);
            pipeline.AddLoadNotes(notes.Messages);
            pipeline.WeightBytes = ops.Allocator.BytesInUse - before;
            return pipeline;
        }
        catch
        {
            if (ownsOps) ops.Dispose();
            throw;
        }
    }
}

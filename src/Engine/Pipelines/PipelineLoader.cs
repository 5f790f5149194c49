using XDit.Engine.Backends;
using XDit.Kernels;

namespace XDit.Engine.Pipelines;

/// <summary>Opens a diffusers pipeline folder as the pipeline its model_index.json names.</summary>
public static class PipelineLoader
{
    /// <summary>The model_index.json _class_name values this engine runs.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["PixArtAlphaPipeline", "PixArtSigmaPipeline", "StableDiffusion3Pipeline", "FluxPipeline"];

    public static TextToImagePipeline Load(string dir, PipelineOptions? options = null)
    {
        options ??= new PipelineOptions();
        var index = ModelIndex.Load(dir);
        return Load(index, BackendFactory.Create(options.Device, options.DType));
    }

    /// <summary>Loads onto a given backend (one rank's, under in-process parallelism); the pipeline takes ownership of it.</summary>
    public static TextToImagePipeline Load(string dir, IOps ops) => Load(ModelIndex.Load(dir), ops);

    static TextToImagePipeline Load(ModelIndex index, IOps ops)
    {
        var dir = index.Dir;
        try
        {
            return index.PipelineClass switch
            {
                "PixArtAlphaPipeline" or "PixArtSigmaPipeline" => new PixArtPipeline(index, ops),
                "StableDiffusion3Pipeline" => new SD3Pipeline(index, ops),
                "FluxPipeline" => new FluxPipeline(index, ops),
                var other => throw new NotSupportedException($"{dir}: pipeline class '{other}' is not supported (supported: {string.Join(", ", Supported)})"),
            };
        }
        catch
        {
            ops.Dispose();
            throw;
        }
    }
}

using XDit.Engine.Backends;

namespace XDit.Engine.Pipelines;

/// <summary>Opens a diffusers pipeline folder as the pipeline its model_index.json names.</summary>
public static class PipelineLoader
{
    public static TextToImagePipeline Load(string dir, PipelineOptions? options = null)
    {
        options ??= new PipelineOptions();
        var index = ModelIndex.Load(dir);
        var ops = BackendFactory.Create(options.Device, options.DType);
        try
        {
            return index.PipelineClass switch
            {
                "PixArtAlphaPipeline" or "PixArtSigmaPipeline" => new PixArtPipeline(index, ops),
                var other => throw new NotSupportedException($"{dir}: pipeline class '{other}' is not supported (supported: PixArtAlphaPipeline, PixArtSigmaPipeline)"),
            };
        }
        catch
        {
            ops.Dispose();
            throw;
        }
    }
}

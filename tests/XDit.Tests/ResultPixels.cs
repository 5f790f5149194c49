global using static XDit.Tests.ResultPixels;
using XDit.Engine.Pipelines;

namespace XDit.Tests;

/// <summary>All pixels of a generation's images, in order: what the pipeline tests compare between runs.</summary>
public static class ResultPixels
{
    public static float[] Pixels(GenerationResult r) => r.Images.SelectMany(i => i.Pixels).ToArray();
}

namespace XDit.Engine.Pipelines;

/// <summary>
/// A video: <see cref="FrameCount"/> RGB frames with float channels in [0, 1], stored as the pipelines' output tensor
/// [F, 3, H, W] (each frame planar, as <see cref="GeneratedImage"/>). Written by <see cref="Video.VideoOutput"/>.
/// </summary>
public sealed class GeneratedVideo
{
    public GeneratedVideo(float[] fchw, int frames, int height, int width)
    {
        if (frames < 1 || height < 1 || width < 1) throw new ArgumentException($"a video needs at least one frame of at least 1x1 pixels, got {frames} frames of {width}x{height}");
        if (fchw.Length != (long)frames * 3 * height * width)
            throw new ArgumentException($"expected {frames}x3x{height}x{width} values, got {fchw.Length}");
        Pixels = fchw; FrameCount = frames; Height = height; Width = width;
    }

    public float[] Pixels { get; }
    public int FrameCount { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Frame <paramref name="index"/> as an image (a copy of its values).</summary>
    public GeneratedImage Frame(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, FrameCount);
        int n = 3 * Height * Width;
        return new GeneratedImage(Pixels.AsSpan(index * n, n).ToArray(), Height, Width);
    }

    /// <summary>Every frame as interleaved 8-bit RGB, rounded as <see cref="GeneratedImage.ToRgb8"/>.</summary>
    public IEnumerable<byte[]> Rgb8Frames()
    {
        for (int f = 0; f < FrameCount; f++) yield return Frame(f).ToRgb8();
    }
}

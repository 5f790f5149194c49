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

    /// <summary>The videos of a video VAE's output [B, C, T, H, W] in [−1, 1] (host values; the first 3 channels),
    /// mapped by x/2 + 0.5 and clamped into [0, 1] as diffusers' postprocess_video does: one [T, 3, H, W] per row.</summary>
    public static List<GeneratedVideo> FromVaeOutput(float[] px, int batch, int channels, int frames, int height, int width)
    {
        if (channels < 3 || px.Length != (long)batch * channels * frames * height * width)
            throw new ArgumentException($"a video VAE output [{batch}, {channels}, {frames}, {height}, {width}] needs 3 or more channels and as many values, got {channels} channels and {px.Length} values");
        int hw = height * width;
        var videos = new List<GeneratedVideo>(batch);
        for (int b = 0; b < batch; b++)
        {
            var fchw = new float[frames * 3 * hw];
            for (int t = 0; t < frames; t++)
                for (int ch = 0; ch < 3; ch++)
                {
                    int src = ((b * channels + ch) * frames + t) * hw, dst = (t * 3 + ch) * hw;
                    for (int i = 0; i < hw; i++) fchw[dst + i] = Math.Clamp(px[src + i] / 2f + 0.5f, 0f, 1f);
                }
            videos.Add(new GeneratedVideo(fchw, frames, height, width));
        }
        return videos;
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

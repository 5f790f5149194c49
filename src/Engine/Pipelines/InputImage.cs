namespace XDit.Engine.Pipelines;

/// <summary>
/// An image given to a pipeline (Flux Kontext's image to edit): 8-bit RGB, interleaved, row-major from the top-left,
/// as a PNG or JPEG reads. Pipelines resize it as diffusers' image processor does and map it to [−1, 1].
/// </summary>
public sealed record InputImage
{
    public InputImage(int width, int height, byte[] rgb)
    {
        if (width < 1 || height < 1) throw new ArgumentException($"an image needs a positive size, got {width}x{height}");
        ArgumentNullException.ThrowIfNull(rgb);
        if (rgb.Length != (long)width * height * 3)
            throw new ArgumentException($"an RGB image of {width}x{height} holds {(long)width * height * 3} bytes, got {rgb.Length}");
        Width = width;
        Height = height;
        Rgb = rgb;
    }

    public int Width { get; }
    public int Height { get; }
    /// <summary>width·height·3 bytes: R, G, B of each pixel.</summary>
    public byte[] Rgb { get; }

    /// <summary>The planes [3, H, W] as diffusers' preprocess makes them: v / 255 · 2 − 1 in float32.</summary>
    public float[] ToPlanes()
    {
        int plane = Width * Height;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                chw[c * plane + i] = 2f * (Rgb[i * 3 + c] / 255f) - 1f;
        return chw;
    }
}

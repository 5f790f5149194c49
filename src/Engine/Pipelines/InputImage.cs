namespace XDit.Engine.Pipelines;

/// <summary>
/// An image given to a pipeline (Flux Kontext's image to edit): 8-bit RGB, interleaved, row-major [H, W, 3].
/// <see cref="ToVaeInput"/> does what diffusers' VaeImageProcessor.preprocess does before the VAE encodes it.
/// </summary>
public sealed class InputImage
{
    public InputImage(byte[] rgb, int height, int width)
    {
        if (height < 1 || width < 1 || rgb.Length != 3L * height * width)
            throw new ArgumentException($"expected 3x{height}x{width} bytes of interleaved RGB, got {rgb.Length}");
        Rgb = rgb; Height = height; Width = width;
    }

    /// <summary>Interleaved 8-bit RGB, row-major [H, W, 3].</summary>
    public byte[] Rgb { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Reads an image file (the reader comes with the VAE encoder's branch, hk-vaeenc).</summary>
    public static InputImage Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image file not found", path);
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>Decodes an image held in memory; <paramref name="name"/> names it in errors.</summary>
    public static InputImage Decode(byte[] bytes, string name)
        => throw new NotSupportedException($"{name}: this build reads no image files yet (the reader comes with the VAE encoder)");

    /// <summary>Pillow's resize to (width, height) with LANCZOS; this picture itself when the size already matches.</summary>
    public InputImage Resize(int height, int width)
        => height == Height && width == Width ? this : new InputImage(LanczosResize.Rgb(Rgb, Width, Height, width, height), height, width);

    /// <summary>diffusers' preprocess of a PIL picture: resized, value / 255, then 2x − 1, planar [3, height, width].</summary>
    public float[] ToVaeInput(int height, int width)
    {
        var r = Resize(height, width);
        int plane = height * width;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                chw[c * plane + i] = 2f * (r.Rgb[i * 3 + c] / 255f) - 1f;
        return chw;
    }
}

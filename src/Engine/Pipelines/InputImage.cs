using StbImageSharp;
using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// A picture a pipeline takes as input (Flux Kontext's reference image, an img2img start image), as 8-bit RGB:
/// read from a PNG, JPEG (or BMP, GIF, TGA, PSD, HDR) file with StbImageSharp, the stb_image port of the same family
/// as the StbImageWriteSharp that writes the outputs. Grey and alpha pictures are converted to RGB (grey repeated
/// in the three channels, alpha dropped), as PIL's convert("RGB") does. <see cref="ToVaeInput"/> then does what
/// diffusers' VaeImageProcessor.preprocess does before the VAE encodes it: resize (PIL LANCZOS) and scale to [−1, 1].
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

    /// <summary>Reads an image file. Throws naming the file when it is missing or not an image the reader decodes.</summary>
    public static InputImage Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: image file not found", path);
        byte[] bytes = File.ReadAllBytes(path);
        return Decode(bytes, path);
    }

    /// <summary>Decodes an image held in memory; <paramref name="name"/> names it in errors (a file path, "upload").</summary>
    public static InputImage Decode(byte[] bytes, string name)
    {
        if (bytes.Length == 0) throw new InvalidDataException($"{name}: the image file is empty");
        ImageResult result;
        try { result = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{name}: not an image this reader decodes (PNG, JPEG, BMP, GIF, TGA, PSD, HDR): {e.Message}", e);
        }
        if (result is null || result.Data is null || result.Width < 1 || result.Height < 1)
            throw new InvalidDataException($"{name}: not an image this reader decodes (PNG, JPEG, BMP, GIF, TGA, PSD, HDR)");
        return new InputImage(result.Data, result.Height, result.Width);
    }

    /// <summary>PIL's resize to (width, height) with LANCZOS (<see cref="ImageResize.LanczosRgb8"/>), as diffusers'
    /// VaeImageProcessor.resize with its default resample; this picture itself when the size already matches.</summary>
    public InputImage Resize(int height, int width)
        => height == Height && width == Width ? this : new InputImage(ImageResize.LanczosRgb8(Rgb, Height, Width, height, width), height, width);

    /// <summary>Planar float RGB [3, H, W] in [0, 1] (value / 255, diffusers' pil_to_numpy).</summary>
    public float[] ToPlanar()
    {
        int plane = Height * Width;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                chw[c * plane + i] = Rgb[i * 3 + c] / 255f;
        return chw;
    }

    /// <summary>
    /// diffusers' VaeImageProcessor.preprocess(image, height, width) of a PIL picture: resized to height × width
    /// (<see cref="Resize"/>), scaled to [0, 1], then normalised to [−1, 1] (2x − 1): planar [3, height, width],
    /// what the VAE encoder takes. Choosing the size (a multiple of the VAE's factor, Kontext's preferred
    /// resolutions) is the pipeline's.
    /// </summary>
    public float[] ToVaeInput(int height, int width)
    {
        var chw = Resize(height, width).ToPlanar();
        for (int i = 0; i < chw.Length; i++) chw[i] = 2f * chw[i] - 1f;
        return chw;
    }

    /// <summary><see cref="ToVaeInput"/> as a tensor [1, 3, height, width] on the backend, in its activation dtype.</summary>
    public Tensor ToVaeTensor(IOps ops, int height, int width) => ops.FromHost(ToVaeInput(height, width), 1, 3, height, width);

    /// <summary>diffusers' VaeImageProcessor.get_default_height_width: the picture's own size rounded down to a
    /// multiple of <paramref name="multiple"/> (the VAE's scale factor), used when the caller gives no size.</summary>
    public (int Height, int Width) DefaultSize(int multiple)
    {
        if (multiple < 1) throw new ArgumentException($"multiple must be positive, got {multiple}");
        int h = Height - Height % multiple, w = Width - Width % multiple;
        if (h < 1 || w < 1) throw new ArgumentException($"a {Height}x{Width} picture is smaller than one {multiple}x{multiple} block");
        return (h, w);
    }
}

using StbImageWriteSharp;

namespace XDit.Engine.Pipelines;

/// <summary>An RGB image with float channels in [0, 1], stored planar (C, H, W) like the pipelines' output tensors.</summary>
public sealed class GeneratedImage
{
    public GeneratedImage(float[] chw, int height, int width)
    {
        if (chw.Length != 3 * height * width) throw new ArgumentException($"expected 3x{height}x{width} values, got {chw.Length}");
        Pixels = chw; Height = height; Width = width;
    }

    public float[] Pixels { get; }
    public int Height { get; }
    public int Width { get; }

    /// <summary>Value of channel c (0 = R) at (y, x).</summary>
    public float this[int c, int y, int x] => Pixels[(c * Height + y) * Width + x];

    /// <summary>Interleaved 8-bit RGB, rounded as diffusers' numpy_to_pil does ((x·255).round()).</summary>
    public byte[] ToRgb8()
    {
        var rgb = new byte[3 * Height * Width];
        int plane = Height * Width;
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                rgb[i * 3 + c] = (byte)Math.Clamp(MathF.Round(Pixels[c * plane + i] * 255f), 0f, 255f);
        return rgb;
    }

    /// <summary>Writes a PNG. The file appears whole or not at all: it is written beside the target, then moved.</summary>
    public void SavePng(string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"{path}: the folder {dir} does not exist");
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var fs = File.Create(tmp))
                new ImageWriter().WritePng(ToRgb8(), Width, Height, ColorComponents.RedGreenBlue, fs);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new IOException($"{path}: cannot write the image: {e.Message}", e);
        }
    }
}

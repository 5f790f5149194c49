using System.IO.Compression;

namespace XDit.Tests;

/// <summary>A minimal PNG reader for the 8-bit RGB, non-interlaced files xdit writes (tests only).</summary>
public static class PngPixels
{
    public static byte[] ReadRgb(string path, out int width, out int height)
    {
        var d = File.ReadAllBytes(path);
        using var idat = new MemoryStream();
        width = height = 0;
        for (int i = 8; i < d.Length;)
        {
            int n = (d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3];
            var type = System.Text.Encoding.ASCII.GetString(d, i + 4, 4);
            if (type == "IHDR")
            {
                width = (d[i + 8] << 24) | (d[i + 9] << 16) | (d[i + 10] << 8) | d[i + 11];
                height = (d[i + 12] << 24) | (d[i + 13] << 16) | (d[i + 14] << 8) | d[i + 15];
                if (d[i + 16] != 8 || d[i + 17] != 2) throw new NotSupportedException("only 8-bit RGB PNGs");
            }
            if (type == "IDAT") idat.Write(d, i + 8, n);
            i += 12 + n;
        }
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        var r = raw.ToArray();
        int stride = width * 3;
        var pixels = new byte[height * stride];
        for (int y = 0; y < height; y++)
        {
            int filter = r[y * (stride + 1)];
            for (int x = 0; x < stride; x++)
            {
                int a = x >= 3 ? pixels[y * stride + x - 3] : 0, b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
                int c = x >= 3 && y > 0 ? pixels[(y - 1) * stride + x - 3] : 0;
                int v = r[y * (stride + 1) + 1 + x];
                v += filter switch
                {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => (a + b) / 2,
                    4 => Paeth(a, b, c),
                    _ => throw new InvalidDataException($"PNG filter {filter}"),
                };
                pixels[y * stride + x] = (byte)v;
            }
        }
        return pixels;
    }

    static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}

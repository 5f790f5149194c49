using StbImageWriteSharp;
using XDit.Engine.Pipelines;
using XDit.Kernels.Cpu;

namespace XDit.Tests.Pipelines;

public class InputImageTests
{
    /// <summary>An 8-bit RGB PNG written by StbImageWriteSharp reads back byte for byte; grey is repeated into the
    /// three channels and alpha is dropped.</summary>
    [Fact]
    public void PngRoundTripIsExactAndGreyAndAlphaBecomeRgb()
    {
        var dir = TestPaths.TempDir();
        try
        {
            const int h = 5, w = 7;
            var rgb = Pattern(h, w, 3);
            var image = InputImage.Load(WritePng(dir, "rgb.png", rgb, w, h, ColorComponents.RedGreenBlue));
            Assert.Equal((h, w), (image.Height, image.Width));
            Assert.Equal(rgb, image.Rgb);

            var grey = Pattern(h, w, 1);
            var fromGrey = InputImage.Load(WritePng(dir, "grey.png", grey, w, h, ColorComponents.Grey));
            Assert.Equal(grey.SelectMany(v => new[] { v, v, v }).ToArray(), fromGrey.Rgb);

            var rgba = Pattern(h, w, 4);
            var fromRgba = InputImage.Load(WritePng(dir, "rgba.png", rgba, w, h, ColorComponents.RedGreenBlueAlpha));
            Assert.Equal(rgba.Where((_, i) => i % 4 != 3).ToArray(), fromRgba.Rgb);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A JPEG decodes to its size and, a flat colour being what JPEG keeps best, close to that colour.</summary>
    [Fact]
    public void JpegDecodes()
    {
        var dir = TestPaths.TempDir();
        try
        {
            const int h = 16, w = 24;
            var rgb = new byte[3 * h * w];
            for (int i = 0; i < rgb.Length; i += 3) (rgb[i], rgb[i + 1], rgb[i + 2]) = (200, 40, 90);
            var path = Path.Combine(dir, "flat.jpg");
            using (var fs = File.Create(path))
                new ImageWriter().WriteJpg(rgb, w, h, ColorComponents.RedGreenBlue, fs, 95);
            var image = InputImage.Load(path);
            Assert.Equal((h, w), (image.Height, image.Width));
            for (int i = 0; i < rgb.Length; i++) Assert.InRange(Math.Abs(image.Rgb[i] - rgb[i]), 0, 4);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void MissingEmptyAndNonImageFilesAreRefusedNamingTheFile()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var missing = Path.Combine(dir, "nope.png");
            var e1 = Assert.Throws<FileNotFoundException>(() => InputImage.Load(missing));
            Assert.Contains(missing, e1.Message);

            var empty = Path.Combine(dir, "empty.png");
            File.WriteAllBytes(empty, []);
            Assert.Contains(empty, Assert.Throws<InvalidDataException>(() => InputImage.Load(empty)).Message);

            var text = Path.Combine(dir, "notes.png");
            File.WriteAllText(text, "this is not a picture, only text with a .png name");
            var e3 = Assert.Throws<InvalidDataException>(() => InputImage.Load(text));
            Assert.Contains(text, e3.Message);
            Assert.Contains("not an image", e3.Message);

            // a PNG cut short after its header
            var png = File.ReadAllBytes(WritePng(dir, "whole.png", Pattern(8, 8, 3), 8, 8, ColorComponents.RedGreenBlue));
            var cut = Path.Combine(dir, "cut.png");
            File.WriteAllBytes(cut, png[..40]);
            Assert.Contains(cut, Assert.Throws<InvalidDataException>(() => InputImage.Load(cut)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>PIL 9.4's Image.resize(LANCZOS) of the same pattern, byte for byte: shrinking both axes, enlarging both
    /// (the negative lobes clip at 0 and 255), and one axis only.</summary>
    [Theory]
    [InlineData(7, 9, 4, 5, "1e81b065c163a59b4b7c5a968f617b8ec4409863806d84a97c9f818c87817861ac4195b7907972977c94809a7b43a3bc967a764c87879aa2945c7e84")]
    [InlineData(5, 6, 8, 11, "0055a5025eb6146fda267fff3488ff45938653a7015cc8006beb2f7cfc3e85ff430f6ae6176ec42a7f8b3d9d9349bea556de676bde208aa822ab8446bf9759c5ac603690f8409daa57b72370c30084cf289af84aabf15eb57173c50f8bdd25a2e84bac5aa25b5fcf4874ff299abd2cc7534bfd5268ef78898956b33e3ede5857f87a6dff6ee1098dea23b6cd56ab6c798c148db10ab7b642cb527cae07b19e23ceba47d4d08cff49bacb58df4c798a1d940f52b00771f03e89ec50aa7365d21984f13793fd60ce817aaf6a866f42a42e4ed81a8ce829c5c255c579818244af5a43d27c63de9d7df61289992d950f66b8008cff4ca2ff7be08d8ed81ba55536c7008eec19b0fd47b9")]
    [InlineData(6, 4, 6, 3, "0560b72c87f252ad463b96b36bc6119bf65571e527ab8661e4269ac0c45d6a35a0148ce39f388f1a85f07ad16a136ae369d49fbf585b")]
    public void LanczosResizeMatchesPil(int h, int w, int newH, int newW, string expectedHex)
    {
        // the pattern the reference was made from: (53y + 29x + 91c + 7xy) mod 256
        var rgb = new byte[3 * h * w];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                    rgb[(y * w + x) * 3 + c] = (byte)((y * 53 + x * 29 + c * 91 + x * y * 7) % 256);
        var resized = new InputImage(rgb, h, w).Resize(newH, newW);
        Assert.Equal((newH, newW), (resized.Height, resized.Width));
        Assert.Equal(expectedHex, Convert.ToHexStringLower(resized.Rgb));
    }

    /// <summary>VaeImageProcessor.preprocess: 0 → −1, 255 → 1, planar channels; the tensor form has the batch axis.</summary>
    [Fact]
    public void VaeInputIsPlanarInMinusOneToOne()
    {
        var image = new InputImage([0, 255, 51, 255, 0, 102], 1, 2);
        Assert.Equal(new[] { -1f, 1f, 1f, -1f, 0.2f * 2 - 1, 0.4f * 2 - 1 }, image.ToVaeInput(1, 2));
        Assert.Same(image, image.Resize(1, 2));
        Assert.Equal((16, 24), new InputImage(new byte[3 * 17 * 31], 17, 31).DefaultSize(8));
        using var ops = new CpuOps();
        using var t = image.ToVaeTensor(ops, 1, 2);
        Assert.Equal([1, 3, 1, 2], t.Dims);
    }

    static byte[] Pattern(int h, int w, int channels)
    {
        var b = new byte[h * w * channels];
        for (int i = 0; i < b.Length; i++) b[i] = (byte)(i * 37 + i / 5);
        return b;
    }

    static string WritePng(string dir, string name, byte[] data, int w, int h, ColorComponents components)
    {
        var path = Path.Combine(dir, name);
        using var fs = File.Create(path);
        new ImageWriter().WritePng(data, w, h, components, fs);
        return path;
    }
}

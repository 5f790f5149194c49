using System.Diagnostics;
using StbImageSharp;
using XDit.Engine.Pipelines;
using XDit.Engine.Video;

namespace XDit.Tests.Video;

/// <summary>Video output: the animated GIF decodes back (with a reader of the test's own) to the frames' colours, the PNG frame folder to the frames, the MP4 (where ffmpeg exists) to frames close to them; the path's
/// extension chooses the format.</summary>
public class VideoOutputTests
{
    /// <summary>A video whose 8-bit colours are exactly <paramref name="colours"/> (k/255 values), picked at random.</summary>
    static (GeneratedVideo Video, List<byte[]> Rgb) Video(int frames, int height, int width, IReadOnlyList<(byte R, byte G, byte B)> colours, int seed)
    {
        var rng = new Random(seed);
        var pixels = new float[frames * 3 * height * width];
        var rgb = new List<byte[]>();
        int plane = height * width;
        for (int f = 0; f < frames; f++)
        {
            var frame = new byte[3 * plane];
            for (int i = 0; i < plane; i++)
            {
                var c = colours[rng.Next(colours.Count)];
                frame[3 * i] = c.R; frame[3 * i + 1] = c.G; frame[3 * i + 2] = c.B;
                pixels[(f * 3 + 0) * plane + i] = c.R / 255f;
                pixels[(f * 3 + 1) * plane + i] = c.G / 255f;
                pixels[(f * 3 + 2) * plane + i] = c.B / 255f;
            }
            rgb.Add(frame);
        }
        return (new GeneratedVideo(pixels, frames, height, width), rgb);
    }

    static List<(byte, byte, byte)> RandomColours(int n, int seed)
    {
        var rng = new Random(seed);
        var set = new HashSet<(byte, byte, byte)>();
        while (set.Count < n) set.Add(((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)));
        return set.ToList();
    }

    /// <summary>One decoded GIF frame: RGB bytes and the delay in hundredths of a second.</summary>
    sealed record GifFrame(int Width, int Height, byte[] Data, int Delay);

    /// <summary>A small GIF reader of its own, written from the GIF89a specification (StbImageSharp's animated reader
    /// returns its frames with a stray alpha channel): the global colour table, graphic control delays, and
    /// full-screen frames without local tables or interlacing, which is what the writer makes.</summary>
    static List<GifFrame> DecodeGif(byte[] gif)
    {
        Assert.Equal("GIF89a"u8.ToArray(), gif[..6]);
        int pos = 6;
        int U16() { int v = gif[pos] | (gif[pos + 1] << 8); pos += 2; return v; }
        int width = U16(), height = U16();
        byte flags = gif[pos]; pos += 3;
        Assert.True((flags & 0x80) != 0, "no global colour table");
        int tableSize = 2 << (flags & 7);
        var table = gif.AsSpan(pos, 3 * tableSize).ToArray();
        pos += 3 * tableSize;
        var frames = new List<GifFrame>();
        int delay = 0;
        while (true)
        {
            byte block = gif[pos++];
            if (block == 0x3B) return frames;
            if (block == 0x21)
            {
                byte label = gif[pos++];
                if (label == 0xF9) { pos += 2; delay = U16(); pos -= 4; }
                while (gif[pos] != 0) pos += gif[pos] + 1;
                pos++;
                continue;
            }
            Assert.Equal(0x2C, block);
            pos += 4;
            Assert.Equal((width, height), (U16(), U16()));
            Assert.Equal(0, gif[pos++]); // no local table, not interlaced
            int minCode = gif[pos++];
            var data = new List<byte>();
            while (gif[pos] != 0) { data.AddRange(gif.AsSpan(pos + 1, gif[pos]).ToArray()); pos += gif[pos] + 1; }
            pos++;
            var indices = Lzw(data.ToArray(), minCode, width * height);
            var rgb = new byte[3 * width * height];
            for (int i = 0; i < indices.Count; i++)
                for (int c = 0; c < 3; c++) rgb[3 * i + c] = table[3 * indices[i] + c];
            frames.Add(new GifFrame(width, height, rgb, delay));
        }
    }

    /// <summary>GIF's LZW decoding: codes LSB first, widened when the table reaches the code width, reset on clear.</summary>
    static List<byte> Lzw(byte[] data, int minCode, int pixels)
    {
        int clear = 1 << minCode, end = clear + 1;
        var table = new List<byte[]>();
        void Reset() { table.Clear(); for (int i = 0; i < clear + 2; i++) table.Add([(byte)i]); }
        Reset();
        int size = minCode + 1, bit = 0;
        byte[]? prev = null;
        var output = new List<byte>();
        while (true)
        {
            int code = 0;
            for (int i = 0; i < size; i++, bit++) code |= ((data[bit >> 3] >> (bit & 7)) & 1) << i;
            if (code == clear) { Reset(); size = minCode + 1; prev = null; continue; }
            if (code == end) break;
            byte[] entry = code < table.Count ? table[code] : code == table.Count && prev is not null ? [.. prev, prev[0]] : throw new InvalidDataException($"bad LZW code {code}");
            output.AddRange(entry);
            if (prev is not null && table.Count < 4096) table.Add([.. prev, entry[0]]);
            if (table.Count == 1 << size && size < 12) size++;
            prev = entry;
        }
        Assert.Equal(pixels, output.Count);
        return output;
    }

    [Fact]
    public void GifWithAtMost256ColoursDecodesToTheSameFrames()
    {
        // 256 colours at random over 3 frames of 64x48: random indices fill the 4096-code LZW table several times, so
        // the clear-and-restart path and every code width (9 to 12 bits) are decoded too
        var (video, rgb) = Video(3, 48, 64, RandomColours(256, 1), seed: 2);
        using var ms = new MemoryStream();
        GifWriter.Write(video, ms, fps: 8);
        var bytes = ms.ToArray();
        Assert.Equal("GIF89a"u8.ToArray(), bytes[..6]);
        var frames = DecodeGif(bytes);
        Assert.Equal(3, frames.Count);
        for (int f = 0; f < 3; f++)
        {
            Assert.Equal((64, 48), (frames[f].Width, frames[f].Height));
            Assert.Equal(rgb[f], frames[f].Data);
            Assert.Equal(12, frames[f].Delay); // 1000 // 8 = 125 ms, stored as 12 hundredths (as Pillow)
        }
    }

    [Fact]
    public void GifOfASmoothVideoKeepsItsColoursClose()
    {
        // a gradient that moves: thousands of colours, reduced by the median cut to 256
        int frames = 4, h = 40, w = 56, plane = h * w;
        var pixels = new float[frames * 3 * plane];
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    int i = y * w + x;
                    pixels[(f * 3 + 0) * plane + i] = (x + 3 * f) / (float)(w + 12);
                    pixels[(f * 3 + 1) * plane + i] = y / (float)(h - 1);
                    pixels[(f * 3 + 2) * plane + i] = 0.5f + 0.5f * MathF.Sin((x + y + f) * 0.2f);
                }
        var video = new GeneratedVideo(pixels, frames, h, w);
        using var ms = new MemoryStream();
        GifWriter.Write(video, ms, fps: 10);
        var decoded = DecodeGif(ms.ToArray());
        Assert.Equal(frames, decoded.Count);
        var original = video.Rgb8Frames().ToList();
        Assert.True(original.SelectMany(f => Enumerable.Range(0, plane).Select(i => (f[3 * i], f[3 * i + 1], f[3 * i + 2]))).Distinct().Count() > 256);
        double worstMean = 0;
        var palette = new HashSet<(byte, byte, byte)>();
        for (int f = 0; f < frames; f++)
        {
            double sum = 0;
            for (int i = 0; i < original[f].Length; i++) sum += Math.Abs(original[f][i] - decoded[f].Data[i]);
            worstMean = Math.Max(worstMean, sum / original[f].Length);
            for (int i = 0; i < plane; i++) palette.Add((decoded[f].Data[3 * i], decoded[f].Data[3 * i + 1], decoded[f].Data[3 * i + 2]));
            Assert.Equal(10, decoded[f].Delay);
        }
        Assert.True(palette.Count <= 256, $"{palette.Count} colours decoded");
        // Pillow's own median cut (quantize(256, MEDIANCUT)) of these frames is off by 8.2 on average, its octree by 10.7
        Assert.True(worstMean < 10, $"mean absolute error per channel {worstMean:F2} of 255");
    }

    [Fact]
    public void FrameFolderHoldsOnePngPerFrame()
    {
        var (video, rgb) = Video(3, 5, 7, RandomColours(20, 3), seed: 4);
        var dir = Path.Combine(Path.GetTempPath(), $"xdit-frames-{Guid.NewGuid():N}");
        try
        {
            Assert.Equal(VideoFormat.Frames, VideoOutput.Save(video, dir));
            var files = Directory.GetFiles(dir).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(new[] { "frame_0000.png", "frame_0001.png", "frame_0002.png" }, files.Select(Path.GetFileName));
            for (int f = 0; f < 3; f++)
            {
                var img = ImageResult.FromMemory(File.ReadAllBytes(files[f]), ColorComponents.RedGreenBlue);
                Assert.Equal(rgb[f], img.Data);
            }
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void ExtensionChoosesTheFormat()
    {
        Assert.Equal(VideoFormat.Gif, VideoOutput.FormatOf("out.gif"));
        Assert.Equal(VideoFormat.Gif, VideoOutput.FormatOf("out.GIF"));
        Assert.Equal(VideoFormat.Mp4, VideoOutput.FormatOf("a/b/out.mp4"));
        Assert.Equal(VideoFormat.Frames, VideoOutput.FormatOf("frames"));
        Assert.Equal(VideoFormat.Frames, VideoOutput.FormatOf(Path.GetTempPath()));
        var e = Assert.Throws<ArgumentException>(() => VideoOutput.FormatOf("out.png"));
        Assert.Contains("out.png", e.Message);
        Assert.Contains(".mp4, .gif or a folder of PNG frames", e.Message);
    }

    [Fact]
    public void Mp4WithoutFfmpegIsRefusedNamingTheAlternatives()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Mp4VideoWriter.RequireFfmpeg("out.mp4", searchPath: ""));
        Assert.Contains("ffmpeg", e.Message);
        Assert.Contains(".gif", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public async Task Mp4DecodesBackCloseToTheFrames()
    {
        var ffmpeg = Mp4VideoWriter.FindFfmpeg();
        Assert.SkipWhen(ffmpeg is null, "no ffmpeg on PATH: MP4 output needs it (apt-get install ffmpeg)");
        // 9 frames of a moving gradient at 40x24: not a multiple of 16 wide, so the writer scales it to 48x32 as imageio
        int frames = 9, h = 24, w = 40, plane = h * w;
        var pixels = new float[frames * 3 * plane];
        for (int f = 0; f < frames; f++)
            for (int i = 0; i < plane; i++)
            {
                int y = i / w, x = i % w;
                pixels[(f * 3 + 0) * plane + i] = (x + f) / (float)(w + frames);
                pixels[(f * 3 + 1) * plane + i] = y / (float)h;
                pixels[(f * 3 + 2) * plane + i] = 0.3f;
            }
        var video = new GeneratedVideo(pixels, frames, h, w);
        var file = Path.Combine(Path.GetTempPath(), $"xdit-video-{Guid.NewGuid():N}.mp4");
        try
        {
            Assert.Equal(VideoFormat.Mp4, VideoOutput.Save(video, file, fps: 8));
            var head = File.ReadAllBytes(file)[4..8];
            Assert.Equal("ftyp"u8.ToArray(), head);
            // decode back at the original size and compare
            var psi = new ProcessStartInfo(ffmpeg!, $"-v error -i \"{file}\" -vf scale={w}:{h} -f rawvideo -pix_fmt rgb24 -")
            { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            using var raw = new MemoryStream();
            var ct = TestContext.Current.CancellationToken;
            var err = p.StandardError.ReadToEndAsync(ct);
            await p.StandardOutput.BaseStream.CopyToAsync(raw, ct);
            await p.WaitForExitAsync(ct);
            Assert.True(p.ExitCode == 0, await err);
            var bytes = raw.ToArray();
            Assert.Equal(frames * plane * 3, bytes.Length);
            var original = video.Rgb8Frames().SelectMany(b => b).ToArray();
            double mean = original.Zip(bytes, (a, b) => (double)Math.Abs(a - b)).Average();
            Assert.True(mean < 8, $"mean absolute error {mean:F2} of 255 after H.264");
            // the codec and pixel format diffusers' export_to_video writes
            var probe = new ProcessStartInfo(ffmpeg!, $"-hide_banner -i \"{file}\"") { RedirectStandardError = true, UseShellExecute = false };
            using var q = Process.Start(probe)!;
            var info = await q.StandardError.ReadToEndAsync(ct);
            await q.WaitForExitAsync(ct);
            Assert.Contains("h264", info);
            Assert.Contains("yuv420p", info);
            Assert.Contains("48x32", info);
        }
        finally { File.Delete(file); }
    }
}

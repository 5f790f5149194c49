using XDit.Engine.Pipelines;

namespace XDit.Engine.Video;

/// <summary>
/// Writes a video as an animated GIF89a that loops forever, as diffusers' export_to_gif (Pillow, loop=0, a frame
/// delay of 1000 // fps ms, stored in GIF's hundredths of a second).
/// Why our own writer: no well-kept NuGet package writes animated GIFs here (SkiaSharp encodes no GIF, ImageSharp 2.x
/// carries known vulnerabilities and 3.x a licence this project does not take), and the format is small: one global
/// palette, the NETSCAPE2.0 loop block, and per frame a graphic control block and the LZW-coded palette indices.
/// Palette: when all frames together hold at most 256 colours, exactly those (the frames come back unchanged);
/// otherwise a median cut (Heckbert 1982) of the frames' colours, counted on a 5-5-5-bit grid and split at the
/// weighted median of the widest channel, into 256 boxes whose weighted means are the colours; each pixel takes the
/// palette colour nearest to its grid cell's. No dithering, so a still region stays still from frame to frame.
/// </summary>
public static class GifWriter
{
    /// <summary>Writes <paramref name="video"/> to <paramref name="stream"/> at <paramref name="fps"/> frames per second.</summary>
    public static void Write(GeneratedVideo video, Stream stream, int fps)
    {
        if (fps < 1) throw new ArgumentOutOfRangeException(nameof(fps), fps, "frames per second must be at least 1");
        if (video.Width > ushort.MaxValue || video.Height > ushort.MaxValue)
            throw new ArgumentException($"a GIF is at most 65535 pixels on a side, the video is {video.Width}x{video.Height}");
        var frames = video.Rgb8Frames().ToList();
        var palette = Palette.For(frames);
        // Pillow stores duration // 10 hundredths (int(1000 // fps / 10))
        int delay = 1000 / fps / 10;
        using var w = new BinaryWriter(stream, System.Text.Encoding.ASCII, leaveOpen: true);
        w.Write("GIF89a"u8);
        w.Write((ushort)video.Width);
        w.Write((ushort)video.Height);
        w.Write((byte)0xF7); // global colour table of 2^(7+1) = 256 entries, 8 bits per primary
        w.Write((byte)0);    // background colour index
        w.Write((byte)0);    // square pixels
        w.Write(palette.Table);
        // NETSCAPE2.0: loop forever (count 0)
        w.Write((byte)0x21); w.Write((byte)0xFF); w.Write((byte)11); w.Write("NETSCAPE2.0"u8);
        w.Write((byte)3); w.Write((byte)1); w.Write((ushort)0); w.Write((byte)0);
        var indices = new byte[video.Width * video.Height];
        foreach (var rgb in frames)
        {
            // graphic control: leave the frame in place (disposal 1), no transparency
            w.Write((byte)0x21); w.Write((byte)0xF9); w.Write((byte)4);
            w.Write((byte)0x04); w.Write((ushort)delay); w.Write((byte)0); w.Write((byte)0);
            // image descriptor: the whole screen, no local colour table, not interlaced
            w.Write((byte)0x2C); w.Write((ushort)0); w.Write((ushort)0);
            w.Write((ushort)video.Width); w.Write((ushort)video.Height); w.Write((byte)0);
            for (int i = 0; i < indices.Length; i++) indices[i] = palette.Index(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
            Lzw.Write(w, indices);
        }
        w.Write((byte)0x3B);
    }

    /// <summary>Writes the GIF to <paramref name="path"/>.</summary>
    public static void Save(GeneratedVideo video, string path, int fps) => VideoOutput.WriteWhole(path, s => Write(video, s, fps));

    /// <summary>The global colour table (256 RGB entries) and the pixel → index map.</summary>
    internal sealed class Palette
    {
        public byte[] Table { get; } = new byte[256 * 3];
        Dictionary<int, byte>? _exact;
        byte[]? _cell;

        public byte Index(byte r, byte g, byte b)
            => _exact is { } exact ? exact[(r << 16) | (g << 8) | b] : _cell![((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)];

        public static Palette For(IReadOnlyList<byte[]> frames)
        {
            var p = new Palette();
            var distinct = new Dictionary<int, byte>();
            bool tooMany = false;
            foreach (var rgb in frames)
            {
                for (int i = 0; i < rgb.Length && !tooMany; i += 3)
                {
                    int key = (rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2];
                    if (distinct.ContainsKey(key)) continue;
                    if (distinct.Count == 256) tooMany = true;
                    else distinct[key] = (byte)distinct.Count;
                }
                if (tooMany) break;
            }
            if (!tooMany)
            {
                foreach (var (key, index) in distinct)
                {
                    p.Table[3 * index] = (byte)(key >> 16); p.Table[3 * index + 1] = (byte)(key >> 8); p.Table[3 * index + 2] = (byte)key;
                }
                p._exact = distinct;
                return p;
            }
            p.MedianCut(frames);
            return p;
        }

        /// <summary>Counts per 5-5-5 cell (and the sums of the exact values, for the means), cuts the occupied cells
        /// into up to 256 boxes, and maps every cell to the nearest box mean.</summary>
        void MedianCut(IReadOnlyList<byte[]> frames)
        {
            const int Cells = 1 << 15;
            var count = new long[Cells];
            var sum = new long[Cells * 3];
            foreach (var rgb in frames)
                for (int i = 0; i < rgb.Length; i += 3)
                {
                    int c = ((rgb[i] >> 3) << 10) | ((rgb[i + 1] >> 3) << 5) | (rgb[i + 2] >> 3);
                    count[c]++;
                    sum[3 * c] += rgb[i]; sum[3 * c + 1] += rgb[i + 1]; sum[3 * c + 2] += rgb[i + 2];
                }
            var occupied = Enumerable.Range(0, Cells).Where(c => count[c] > 0).ToArray();
            var boxes = new List<int[]> { occupied };
            while (boxes.Count < 256)
            {
                // split the box whose widest channel spans the most, weighted by its pixels (span² · count)
                int best = -1, bestAxis = 0;
                double bestScore = 0;
                for (int b = 0; b < boxes.Count; b++)
                {
                    if (boxes[b].Length < 2) continue;
                    var (axis, span) = WidestAxis(boxes[b]);
                    double score = (double)span * span * boxes[b].Sum(c => (double)count[c]);
                    if (span > 0 && score > bestScore) { bestScore = score; best = b; bestAxis = axis; }
                }
                if (best < 0) break;
                var box = boxes[best].OrderBy(c => Channel(c, bestAxis)).ToArray();
                long half = box.Sum(c => count[c]) / 2, acc = 0;
                int cut = 1;
                for (int i = 0; i < box.Length - 1; i++)
                {
                    acc += count[box[i]];
                    cut = i + 1;
                    if (acc >= half) break;
                }
                boxes[best] = box[..cut];
                boxes.Add(box[cut..]);
            }
            var colours = new (int R, int G, int B)[boxes.Count];
            for (int b = 0; b < boxes.Count; b++)
            {
                long n = 0, r = 0, g = 0, bl = 0;
                foreach (var c in boxes[b]) { n += count[c]; r += sum[3 * c]; g += sum[3 * c + 1]; bl += sum[3 * c + 2]; }
                colours[b] = ((int)((r + n / 2) / n), (int)((g + n / 2) / n), (int)((bl + n / 2) / n));
                Table[3 * b] = (byte)colours[b].R; Table[3 * b + 1] = (byte)colours[b].G; Table[3 * b + 2] = (byte)colours[b].B;
            }
            _cell = new byte[Cells];
            foreach (var c in occupied)
            {
                // the cell's own mean colour, matched to the nearest palette entry
                int r = (int)(sum[3 * c] / count[c]), g = (int)(sum[3 * c + 1] / count[c]), bl = (int)(sum[3 * c + 2] / count[c]);
                int nearest = 0, bestD = int.MaxValue;
                for (int k = 0; k < colours.Length; k++)
                {
                    int dr = r - colours[k].R, dg = g - colours[k].G, db = bl - colours[k].B, d = dr * dr + dg * dg + db * db;
                    if (d < bestD) { bestD = d; nearest = k; }
                }
                _cell[c] = (byte)nearest;
            }
        }

        static int Channel(int cell, int axis) => (cell >> (10 - 5 * axis)) & 31;

        static (int Axis, int Span) WidestAxis(int[] box)
        {
            int bestAxis = 0, bestSpan = -1;
            for (int axis = 0; axis < 3; axis++)
            {
                int lo = 31, hi = 0;
                foreach (var c in box) { int v = Channel(c, axis); lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
                if (hi - lo > bestSpan) { bestSpan = hi - lo; bestAxis = axis; }
            }
            return (bestAxis, bestSpan);
        }
    }

    /// <summary>GIF's variable-length LZW (8-bit minimum code size: clear 256, end 257, codes up to 12 bits, a clear
    /// code and a fresh table when the table is full), packed least significant bit first into sub-blocks of at most
    /// 255 bytes.</summary>
    internal static class Lzw
    {
        const int MinCodeSize = 8, Clear = 1 << MinCodeSize, End = Clear + 1, MaxCode = 4096;

        public static void Write(BinaryWriter w, ReadOnlySpan<byte> indices)
        {
            w.Write((byte)MinCodeSize);
            var output = new SubBlocks(w);
            var table = new Dictionary<int, int>();
            int codeSize = MinCodeSize + 1, next = End + 1;
            output.Put(Clear, codeSize);
            int prefix = indices[0];
            for (int i = 1; i < indices.Length; i++)
            {
                int k = indices[i], key = (prefix << 8) | k;
                if (table.TryGetValue(key, out int code)) { prefix = code; continue; }
                output.Put(prefix, codeSize);
                if (next < MaxCode)
                {
                    table[key] = next++;
                    // the decoder widens its codes once its table outgrows them (it adds each entry one code later)
                    if (next > (1 << codeSize) && codeSize < 12) codeSize++;
                }
                else
                {
                    output.Put(Clear, codeSize);
                    table.Clear();
                    codeSize = MinCodeSize + 1;
                    next = End + 1;
                }
                prefix = k;
            }
            output.Put(prefix, codeSize);
            output.Put(End, codeSize);
            output.Flush();
            w.Write((byte)0); // block terminator
        }

        /// <summary>Bits packed LSB first, written out in sub-blocks of up to 255 bytes.</summary>
        sealed class SubBlocks(BinaryWriter w)
        {
            readonly byte[] _block = new byte[255];
            int _used, _bits;
            uint _acc;

            public void Put(int code, int size)
            {
                _acc |= (uint)code << _bits;
                _bits += size;
                while (_bits >= 8) { Byte((byte)_acc); _acc >>= 8; _bits -= 8; }
            }

            void Byte(byte b)
            {
                _block[_used++] = b;
                if (_used == 255) Emit();
            }

            void Emit()
            {
                if (_used == 0) return;
                w.Write((byte)_used);
                w.Write(_block, 0, _used);
                _used = 0;
            }

            public void Flush()
            {
                if (_bits > 0) { Byte((byte)_acc); _acc = 0; _bits = 0; }
                Emit();
            }
        }
    }
}

namespace XDit.Engine.Pipelines;

/// <summary>
/// Image resampling as the reference pipelines do it. <see cref="ResizeAndCrop"/>: diffusers' resize_and_crop_tensor,
/// which PixArt's resolution binning uses to bring the picture generated at the binned size back to the asked one:
/// scale by the larger of the two ratios (so the asked size fits inside), with torch's bilinear interpolation
/// (align_corners=False, no antialiasing), then crop the centre. <see cref="LanczosRgb8"/>: PIL's
/// Image.resize(size, LANCZOS) of an 8-bit RGB picture, which diffusers' VaeImageProcessor.resize uses (its default
/// resample "lanczos") before an input image is encoded.
/// </summary>
public static class ImageResize
{
    /// <summary>Images [B, C, H, W] (row-major) → [B, C, newHeight, newWidth]; returned as they are when the size
    /// already matches.</summary>
    public static float[] ResizeAndCrop(float[] images, int batchTimesChannels, int height, int width, int newHeight, int newWidth)
    {
        if (images.Length != (long)batchTimesChannels * height * width)
            throw new ArgumentException($"{images.Length} values are not {batchTimesChannels} planes of {height}x{width}");
        if (newHeight < 1 || newWidth < 1) throw new ArgumentException($"the new size must be positive, got {newHeight}x{newWidth}");
        if (height == newHeight && width == newWidth) return images;
        double ratio = Math.Max((double)newHeight / height, (double)newWidth / width);
        int rw = (int)(width * ratio), rh = (int)(height * ratio);   // Python's int(): toward zero
        var (ys, yl) = SourceIndices(height, rh);
        var (xs, xl) = SourceIndices(width, rw);
        int top = (rh - newHeight) / 2, left = (rw - newWidth) / 2;
        var result = new float[(long)batchTimesChannels * newHeight * newWidth];
        for (int p = 0; p < batchTimesChannels; p++)
        {
            var src = images.AsSpan(p * height * width, height * width);
            var dst = result.AsSpan(p * newHeight * newWidth, newHeight * newWidth);
            for (int y = 0; y < newHeight; y++)
            {
                int sy = top + y;
                int y0 = ys[sy], y1 = y0 + (y0 < height - 1 ? 1 : 0);
                float ly1 = yl[sy], ly0 = 1f - ly1;
                for (int x = 0; x < newWidth; x++)
                {
                    int sx = left + x;
                    int x0 = xs[sx], x1 = x0 + (x0 < width - 1 ? 1 : 0);
                    float lx1 = xl[sx], lx0 = 1f - lx1;
                    dst[y * newWidth + x] = ly0 * (lx0 * src[y0 * width + x0] + lx1 * src[y0 * width + x1])
                                          + ly1 * (lx0 * src[y1 * width + x0] + lx1 * src[y1 * width + x1]);
                }
            }
        }
        return result;
    }

    /// <summary>torch's source index for each output position (align_corners=False, in float32 as its CPU kernel):
    /// s = (in/out)·(d + ½) − ½, clamped at 0; the lower index and the weight of the upper one.</summary>
    static (int[] Index, float[] Lambda) SourceIndices(int input, int output)
    {
        float scale = (float)input / output;
        var index = new int[output];
        var lambda = new float[output];
        for (int d = 0; d < output; d++)
        {
            float s = Math.Max(scale * (d + 0.5f) - 0.5f, 0f);
            index[d] = (int)s;
            lambda[d] = Math.Clamp(s - index[d], 0f, 1f);
        }
        return (index, lambda);
    }

    /// <summary>Fixed-point fraction bits of PIL's 8-bit resampling (32 − 8 − 2: a weighted sum of 8-bit values
    /// stays inside an int).</summary>
    const int PrecisionBits = 32 - 8 - 2;

    /// <summary>
    /// PIL's Image.resize((newWidth, newHeight), Image.LANCZOS) of interleaved 8-bit RGB [H, W, 3], to the byte: the
    /// separable Lanczos-3 filter widened by the scale when shrinking (antialiasing), its weights normalised per output
    /// pixel and rounded to <see cref="PrecisionBits"/>-bit fixed point, a horizontal pass rounded back to 8 bits, then
    /// a vertical pass; an axis whose size does not change is not resampled. Returns the input when the size matches.
    /// </summary>
    public static byte[] LanczosRgb8(byte[] rgb, int height, int width, int newHeight, int newWidth)
    {
        if (height < 1 || width < 1 || rgb.Length != 3L * height * width)
            throw new ArgumentException($"{rgb.Length} bytes are not an RGB picture of {height}x{width}");
        if (newHeight < 1 || newWidth < 1) throw new ArgumentException($"the new size must be positive, got {newHeight}x{newWidth}");
        if (height == newHeight && width == newWidth) return rgb;
        var pixels = rgb;
        if (width != newWidth)
        {
            var (bounds, weights, taps) = LanczosWeights(width, newWidth);
            var next = new byte[3L * height * newWidth];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < newWidth; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        int acc = 1 << (PrecisionBits - 1);
                        int first = bounds[2 * x], count = bounds[2 * x + 1];
                        for (int k = 0; k < count; k++)
                            acc += pixels[(y * width + first + k) * 3 + c] * weights[x * taps + k];
                        next[(y * newWidth + x) * 3 + c] = Clip8(acc);
                    }
            pixels = next;
            width = newWidth;
        }
        if (height != newHeight)
        {
            var (bounds, weights, taps) = LanczosWeights(height, newHeight);
            var next = new byte[3L * newHeight * width];
            for (int y = 0; y < newHeight; y++)
            {
                int first = bounds[2 * y], count = bounds[2 * y + 1];
                for (int x = 0; x < width; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        int acc = 1 << (PrecisionBits - 1);
                        for (int k = 0; k < count; k++)
                            acc += pixels[((first + k) * width + x) * 3 + c] * weights[y * taps + k];
                        next[(y * width + x) * 3 + c] = Clip8(acc);
                    }
            }
            pixels = next;
        }
        return pixels;
    }

    /// <summary>A fixed-point sum back to a byte: clamped to [0, 255], the fraction dropped (the half was added
    /// up front, so this rounds).</summary>
    static byte Clip8(int acc) => acc >= 255 << PrecisionBits ? (byte)255 : acc <= 0 ? (byte)0 : (byte)(acc >> PrecisionBits);

    /// <summary>For each output position along one axis: the first input index and the count it reads
    /// (<c>bounds[2o]</c>, <c>bounds[2o + 1]</c>), and its fixed-point weights (row o of <c>weights</c>, <c>taps</c>
    /// wide), as PIL computes them: centre (o + ½)·scale, support 3·max(scale, 1), ends rounded half up and clamped to
    /// the axis, weights Lanczos((i − centre + ½)/max(scale, 1)) normalised to sum 1 in double, then rounded half away
    /// from zero.</summary>
    static (int[] Bounds, int[] Weights, int Taps) LanczosWeights(int input, int output)
    {
        const double radius = 3.0;
        double scale = (double)input / output;
        double filterScale = Math.Max(scale, 1.0);
        double support = radius * filterScale;
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[2 * output];
        var weights = new int[output * taps];
        var k = new double[taps];
        for (int o = 0; o < output; o++)
        {
            double center = (o + 0.5) * scale;
            int first = Math.Max((int)(center - support + 0.5), 0);
            int last = Math.Min((int)(center + support + 0.5), input);
            int count = last - first;
            double sum = 0;
            for (int i = 0; i < count; i++)
            {
                k[i] = Lanczos((i + first - center + 0.5) / filterScale);
                sum += k[i];
            }
            for (int i = 0; i < count; i++)
            {
                double w = sum != 0 ? k[i] / sum : k[i];
                weights[o * taps + i] = (int)(w < 0 ? -0.5 + w * (1 << PrecisionBits) : 0.5 + w * (1 << PrecisionBits));
            }
            bounds[2 * o] = first;
            bounds[2 * o + 1] = count;
        }
        return (bounds, weights, taps);
    }

    /// <summary>sinc(x)·sinc(x/3) on [−3, 3), zero outside.</summary>
    static double Lanczos(double x) => x >= -3.0 && x < 3.0 ? Sinc(x) * Sinc(x / 3.0) : 0.0;

    static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }
}

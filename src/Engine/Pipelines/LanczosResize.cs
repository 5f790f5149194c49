namespace XDit.Engine.Pipelines;

/// <summary>
/// Pillow's Image.resize with LANCZOS on 8-bit RGB, which diffusers' VaeImageProcessor uses (resample "lanczos") to
/// bring an input image to the size a pipeline encodes: separable, the horizontal pass first into an 8-bit image,
/// then the vertical; each output pixel's taps are the source pixels within 3 × max(scale, 1) of its centre,
/// weighted by sinc(x)·sinc(x/3), normalised, turned into 22-bit fixed point and summed from a rounding bias, the
/// result clamped to 0..255 (Pillow's resample.c). Done this way the resized bytes equal Pillow's exactly.
/// </summary>
public static class LanczosResize
{
    const int PrecisionBits = 32 - 8 - 2;
    const double Support = 3.0;

    /// <summary>Interleaved RGB bytes (row-major, 3 per pixel) of <paramref name="width"/>×<paramref name="height"/>
    /// → the same at <paramref name="newWidth"/>×<paramref name="newHeight"/>; the input itself when the size matches.</summary>
    public static byte[] Rgb(byte[] rgb, int width, int height, int newWidth, int newHeight)
    {
        if (width < 1 || height < 1 || newWidth < 1 || newHeight < 1)
            throw new ArgumentException($"sizes must be positive, got {width}x{height} → {newWidth}x{newHeight}");
        if (rgb.Length != (long)width * height * 3)
            throw new ArgumentException($"an RGB image of {width}x{height} holds {(long)width * height * 3} bytes, got {rgb.Length}");
        if (width == newWidth && height == newHeight) return rgb;
        var (vBounds, vKernel, vSize) = Coefficients(height, newHeight);
        // Pillow's horizontal pass only covers the source rows the vertical pass reads.
        int firstRow = vBounds[0], lastRow = vBounds[2 * (newHeight - 1)] + vBounds[2 * (newHeight - 1) + 1];
        byte[] rows = rgb;
        int rowsHeight = height, rowOffset = 0;
        if (newWidth != width)
        {
            var (hBounds, hKernel, hSize) = Coefficients(width, newWidth);
            rowsHeight = lastRow - firstRow;
            rows = new byte[(long)newWidth * rowsHeight * 3];
            for (int y = 0; y < rowsHeight; y++)
                for (int x = 0; x < newWidth; x++)
                {
                    int start = hBounds[2 * x], count = hBounds[2 * x + 1];
                    for (int ch = 0; ch < 3; ch++)
                    {
                        int sum = 1 << (PrecisionBits - 1);
                        for (int k = 0; k < count; k++)
                            sum += rgb[((long)(y + firstRow) * width + start + k) * 3 + ch] * hKernel[x * hSize + k];
                        rows[((long)y * newWidth + x) * 3 + ch] = Clip8(sum);
                    }
                }
            rowOffset = firstRow;
        }
        if (newHeight == height) return rows;
        var result = new byte[(long)newWidth * newHeight * 3];
        for (int y = 0; y < newHeight; y++)
        {
            int start = vBounds[2 * y] - rowOffset, count = vBounds[2 * y + 1];
            for (int x = 0; x < newWidth; x++)
                for (int ch = 0; ch < 3; ch++)
                {
                    int sum = 1 << (PrecisionBits - 1);
                    for (int k = 0; k < count; k++)
                        sum += rows[((long)(start + k) * newWidth + x) * 3 + ch] * vKernel[y * vSize + k];
                    result[((long)y * newWidth + x) * 3 + ch] = Clip8(sum);
                }
        }
        return result;
    }

    static byte Clip8(int sum)
    {
        int v = sum >> PrecisionBits;
        return (byte)(v < 0 ? 0 : v > 255 ? 255 : v);
    }

    /// <summary>Per output pixel: the first source pixel and the number of taps (bounds, two per pixel) and the
    /// fixed-point weights (kernelSize per pixel), as Pillow's precompute_coeffs and normalize_coeffs_8bpc.</summary>
    static (int[] Bounds, int[] Kernel, int KernelSize) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = Support * filterScale;
        int kernelSize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var kernel = new int[outSize * kernelSize];
        var weights = new double[kernelSize];
        for (int x = 0; x < outSize; x++)
        {
            double center = (x + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int min = (int)(center - support + 0.5);
            if (min < 0) min = 0;
            int max = (int)(center + support + 0.5);
            if (max > inSize) max = inSize;
            max -= min;
            double total = 0;
            for (int k = 0; k < max; k++)
            {
                double wgt = Lanczos((k + min - center + 0.5) * ss);
                weights[k] = wgt;
                total += wgt;
            }
            for (int k = 0; k < max; k++)
            {
                double v = total != 0 ? weights[k] / total : weights[k];
                kernel[x * kernelSize + k] = (int)(v < 0 ? -0.5 + v * (1 << PrecisionBits) : 0.5 + v * (1 << PrecisionBits));
            }
            bounds[2 * x] = min;
            bounds[2 * x + 1] = max;
        }
        return (bounds, kernel, kernelSize);
    }

    static double Lanczos(double x) => x >= -Support && x < Support ? Sinc(x) * Sinc(x / Support) : 0.0;

    static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }
}

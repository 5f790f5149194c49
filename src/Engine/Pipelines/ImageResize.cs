namespace XDit.Engine.Pipelines;

/// <summary>
/// diffusers' resize_and_crop_tensor, which PixArt's resolution binning uses to bring the picture generated at the
/// binned size back to the asked one: scale by the larger of the two ratios (so the asked size fits inside), with
/// torch's bilinear interpolation (align_corners=False, no antialiasing), then crop the centre.
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
}

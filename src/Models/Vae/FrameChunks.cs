using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// The frame loop the causal Conv3d's share (CogVideoX's and Wan's, LTX-Video's, HunyuanVideo's): with no 3-D
/// convolution op each gathers its output frames' time windows and runs one Conv2d over them, and since the gathered
/// copy is kt times the frames it holds, it does so a chunk of frames at a time within a budget of elements.
/// </summary>
static class FrameChunks
{
    /// <summary>Output frames per chunk: as many as fit <paramref name="gatherElements"/> at
    /// <paramref name="perFrame"/> gathered elements each, at least one (a frame's window is never split).</summary>
    public static int Size(long gatherElements, long perFrame, int frames) => (int)Math.Clamp(gatherElements / Math.Max(perFrame, 1), 1, frames);

    /// <summary>Output [B, O, frames, H, W] of <paramref name="dtype"/>, made <paramref name="chunk"/> frames at a
    /// time: <paramref name="convolve"/>(t0, tc) returns output frames t0 … t0 + tc − 1 frame-major [tc·B, O, H, W],
    /// written channel-major into the output with the frames of <paramref name="residual"/> ([B, O, frames, H, W],
    /// any strides) added where given.</summary>
    public static Tensor Convolve(IOps ops, DType dtype, int b, int outChannels, int frames, int h, int w, int chunk, Tensor? residual,
        Func<int, int, Tensor> convolve)
    {
        var output = ops.Empty(dtype, b, outChannels, frames, h, w);
        try
        {
            for (int t0 = 0; t0 < frames; t0 += chunk)
            {
                int tc = Math.Min(chunk, frames - t0);
                using var y = convolve(t0, tc);
                var channelsFirst = y.Reshape(tc, b, outChannels, h, w).Permute(1, 2, 0, 3, 4);
                var target = output.Slice(2, t0, tc);
                if (residual is null) ops.Copy(target, channelsFirst);
                else
                {
                    using var sum = ops.Add(channelsFirst, residual.Slice(2, t0, tc));
                    ops.Copy(target, sum);
                }
            }
        }
        catch { output.Dispose(); throw; }
        return output;
    }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.CogVideoX;

/// <summary>
/// diffusers' CogVideoXSpatialNorm3D: GroupNorm(f) (affine, eps 1e-6, statistics over the channels of a group and
/// every frame and pixel of this batch) · conv_y(zq) + conv_b(zq), where zq is the latent z resized by nearest
/// neighbour to f's frames, height and width; when f has an odd number of frames above one, z's first frame goes to
/// f's first frame alone and z's other frames are resized to f's other frames.
///
/// conv_y and conv_b are 1×1×1 convolutions, which commute with nearest resizing (each output pixel is the
/// convolution of the latent pixel it copies), so they run on z at the latent's size and only their outputs are
/// resized: in time by copying frames (few, small), in height and width not at all, because every feature map is
/// the latent's size times a power of two s, so f viewed as [B, C, T, h, s, w, s] takes the [B, C, T, h, 1, w, 1]
/// scale and shift by broadcasting (PyTorch's nearest index ⌊i/s⌋).
/// </summary>
public sealed class CogVideoXSpatialNorm3D
{
    public CogVideoXSpatialNorm3D(WeightScope w, int channels, int latentChannels, int groups)
    {
        Name = w.Prefix;
        NormWeight = w.Pp("norm_layer").Get("weight", channels);
        NormBias = w.Pp("norm_layer").Get("bias", channels);
        Groups = groups;
        ConvY = PointwiseWeight(w.Pp("conv_y"), latentChannels, channels, out var by);
        BiasY = by;
        ConvB = PointwiseWeight(w.Pp("conv_b"), latentChannels, channels, out var bb);
        BiasB = bb;
    }

    public string Name { get; }
    public Tensor NormWeight { get; }
    public Tensor NormBias { get; }
    public int Groups { get; }
    /// <summary>conv_y and conv_b as 1×1 Conv2d weights [C, C_lat, 1, 1] and their biases.</summary>
    public Tensor ConvY { get; }
    public Tensor BiasY { get; }
    public Tensor ConvB { get; }
    public Tensor BiasB { get; }

    static Tensor PointwiseWeight(WeightScope w, int inChannels, int outChannels, out Tensor bias)
    {
        var conv = w.Pp("conv");
        bias = conv.GetOperand("bias", outChannels);
        return conv.GetOperand("weight", outChannels, inChannels, 1, 1, 1).Reshape(outChannels, inChannels, 1, 1);
    }

    /// <summary>act(GroupNorm(f)·conv_y(zq) + conv_b(zq)) for f [B, C, T, H, W] and the batch's latent z
    /// [B, C_lat, Tz, h, w] (H = s·h, W = s·w). The act is the SiLU that follows every use of this norm.</summary>
    public Tensor Forward(IOps ops, Tensor f, Tensor z, Activation act)
    {
        int b = f.Dim(0), c = f.Dim(1), t = f.Dim(2), hf = f.Dim(3), wf = f.Dim(4);
        int h = z.Dim(3), w = z.Dim(4);
        if (hf % h != 0 || wf % w != 0 || hf / h != wf / w || !IsPowerOfTwo(hf / h))
            throw new ArgumentException($"{Name}: feature map {Shape.Format(f.ShapeSpan)} is not the latent {Shape.Format(z.ShapeSpan)} scaled by a power of two");
        int s = hf / h;
        // each full-size map is freed as soon as the next is made: at most two live at once
        Tensor scaled, shifted;
        using (var scale = Modulation(ops, z, ConvY, BiasY, t))
        using (var normed = ops.GroupNorm(f, Groups, NormWeight, NormBias, CogVideoXVaeConfig.NormEps))
            scaled = ops.Mul(normed.Reshape(b, c, t, h, s, w, s), scale.Reshape(b, c, t, h, 1, w, 1));
        using (scaled)
        using (var shift = Modulation(ops, z, ConvB, BiasB, t))
            shifted = ops.Add(scaled, shift.Reshape(b, c, t, h, 1, w, 1));
        if (act == Activation.None) return shifted.TakeReshaped(b, c, t, hf, wf);
        using (shifted) return ops.Activate(shifted, act).TakeReshaped(b, c, t, hf, wf);
    }

    /// <summary>The 1×1×1 convolution of z at the latent's size, its frames resized to <paramref name="frames"/>
    /// (first frame apart when that count is odd and above one): [B, C, frames, h, w].</summary>
    static Tensor Modulation(IOps ops, Tensor z, Tensor weight, Tensor bias, int frames)
    {
        int b = z.Dim(0), cz = z.Dim(1), tz = z.Dim(2), h = z.Dim(3), w = z.Dim(4), c = weight.Dim(0);
        // a pointwise conv over [B, Cz, Tz·h, w] is the 1×1×1 conv over [B, Cz, Tz, h, w]
        var y = ops.Conv2d(z.Reshape(b, cz, tz * h, w), weight, bias).TakeReshaped(b, c, tz, h, w);
        var sources = FrameSources(tz, frames);
        if (sources is null) return y;
        using (y)
        {
            var resized = ops.Empty(y.DType, b, c, frames, h, w);
            try
            {
                for (int i = 0; i < frames; i++) ops.Copy(resized.Select(2, i), y.Select(2, sources[i]));
            }
            catch { resized.Dispose(); throw; }
            return resized;
        }
    }

    /// <summary>Which latent frame each of <paramref name="frames"/> frames copies (null: the same frames), as
    /// diffusers resizes zq: first frame apart when the count is odd and above one, nearest otherwise.</summary>
    internal static int[]? FrameSources(int latentFrames, int frames)
    {
        if (frames == latentFrames) return null;
        var src = new int[frames];
        if (frames > 1 && frames % 2 == 1)
        {
            if (latentFrames < 2) throw new ArgumentException($"{frames} frames with the first apart need at least 2 latent frames, got {latentFrames}");
            for (int i = 1; i < frames; i++) src[i] = 1 + CogVideoXFrames.NearestSource(i - 1, latentFrames - 1, frames - 1);
        }
        else
            for (int i = 0; i < frames; i++) src[i] = CogVideoXFrames.NearestSource(i, latentFrames, frames);
        return src;
    }

    static bool IsPowerOfTwo(int n) => n > 0 && (n & (n - 1)) == 0;
}

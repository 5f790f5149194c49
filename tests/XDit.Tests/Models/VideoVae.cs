using XDit.Kernels;
using XDit.Models.Vae.CogVideoX;
using XDit.Models.Vae.HunyuanVideo;
using XDit.Models.Vae.Ltx;
using XDit.Models.Vae.Wan;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>What <see cref="VideoVaeChecks"/> needs of a video VAE: its decode, its convolutions' gather budget and
/// its memory estimate. The VAE classes have these by the same names but share no type (nothing in src treats them
/// alike), so the tests view them through this; it does not own the VAE.</summary>
internal sealed record VideoVae(
    Func<IOps, Tensor, Tensor> Decode,
    Action<long> SetConvGatherElements,
    int LatentChannels,
    Func<int, int, int, int, bool, long>? EstimateDecodeBytes = null)
{
    public static VideoVae Of(AutoencoderKLWan vae) =>
        new(vae.Decode, n => vae.ConvGatherElements = n, vae.Config.ZDim, vae.EstimateDecodeBytes);

    public static VideoVae Of(AutoencoderKLCogVideoX vae) =>
        new(vae.Decode, n => vae.ConvGatherElements = n, vae.Config.LatentChannels, vae.EstimateDecodeBytes);

    public static VideoVae Of(AutoencoderKLHunyuanVideo vae) =>
        new(vae.Decode, n => vae.ConvGatherElements = n, vae.Config.LatentChannels, vae.EstimateDecodeBytes);

    /// <summary>LTX's decode without a timestep (a decoder that is not timestep-conditioned); it has no estimate.</summary>
    public static VideoVae Of(AutoencoderKLLTXVideo vae) =>
        new((ops, z) => vae.Decode(ops, z), n => vae.ConvGatherElements = n, vae.Config.LatentChannels);

    /// <summary>Every convolution and upsampler one frame per Conv2d call (a gather budget of one element): the
    /// chunked path real sizes take at full resolution.</summary>
    public void OneFramePerCall() => SetConvGatherElements(1);
}

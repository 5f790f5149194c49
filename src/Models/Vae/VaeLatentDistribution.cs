using XDit.Runtime;

namespace XDit.Models.Vae;

/// <summary>
/// What diffusers' <c>AutoencoderKL.encode(x).latent_dist</c> holds (DiagonalGaussianDistribution): the mean and the
/// log-variance [B, latent_channels, H/f, W/f] of the latent, logvar clamped to [−30, 20] as diffusers clamps it.
/// Both tensors belong to this object.
/// </summary>
public sealed class VaeLatentDistribution(Tensor mean, Tensor logVar) : IDisposable
{
    /// <summary>diffusers' clamp of the log-variance.</summary>
    public const float MinLogVar = -30f, MaxLogVar = 20f;

    public Tensor Mean { get; } = mean;
    public Tensor LogVar { get; } = logVar;

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
    }
}

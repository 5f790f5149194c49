using XDit.Models.Vae.Wan;

namespace XDit.Models.Vae.QwenImage;

/// <summary>
/// What diffusers' Qwen-Image pipelines do to latents around the VAE (AutoencoderKLQwenImage, which XDit runs as
/// <see cref="AutoencoderKLWan"/> / <see cref="WanVaeEncoder"/> from a <see cref="WanVaeConfig"/>), on host arrays in
/// the VAE's layout [B, z_dim, 1, h, w] (one frame: an image is a video of one frame, so [B, z_dim, h, w] is the same
/// memory). Before decoding, QwenImagePipeline maps its latents to z = latents / (1 / latents_std) + latents_mean per
/// channel and keeps frame 0 of the decoded video; after encoding, the img2img and edit pipelines map the latent
/// (the distribution's mean, or a sample of it) back with (latent − latents_mean) · (1 / latents_std). Both run in
/// float32 with 1 / latents_std rounded to float32 first, as there, so they invert each other up to rounding.
/// The transformer's packed 2×2 tokens [B, (h/2)(w/2), 4·z_dim] are Flux's layout on the same memory
/// (XDit.Engine.Pipelines.FluxLatents.Pack / Unpack with channels z_dim): the pipeline's business, not the VAE's.
/// </summary>
public static class QwenImageVaeLatents
{
    /// <summary>z = latents / (1/std) + mean per channel of latents [B, z_dim, 1, h, w] (any frames: the channel is
    /// the second axis), the input of <see cref="AutoencoderKLWan.Decode"/>.</summary>
    public static float[] ToDecoderInput(WanVaeConfig config, float[] latents, int batch)
    {
        int plane = Plane(config, latents.Length, batch, "latents");
        var z = new float[latents.Length];
        for (int b = 0, at = 0; b < batch; b++)
            for (int c = 0; c < config.ZDim; c++)
            {
                float inv = 1f / (float)config.LatentsStd[c], mean = (float)config.LatentsMean[c];
                for (int i = 0; i < plane; i++, at++) z[at] = latents[at] / inv + mean;
            }
        return z;
    }

    /// <summary>The inverse: (latent − mean) · (1/std) per channel of an encoder's latent [B, z_dim, 1, h, w] (its
    /// <see cref="VaeLatentDistribution.Mean"/> or a sample), the pipeline's image latents.</summary>
    public static float[] FromEncoderOutput(WanVaeConfig config, float[] latent, int batch)
    {
        int plane = Plane(config, latent.Length, batch, "latent");
        var x = new float[latent.Length];
        for (int b = 0, at = 0; b < batch; b++)
            for (int c = 0; c < config.ZDim; c++)
            {
                float inv = 1f / (float)config.LatentsStd[c], mean = (float)config.LatentsMean[c];
                for (int i = 0; i < plane; i++, at++) x[at] = (latent[at] - mean) * inv;
            }
        return x;
    }

    static int Plane(WanVaeConfig config, int length, int batch, string what)
    {
        config.RequireLatentStats();
        long per = (long)batch * config.ZDim;
        if (batch < 1 || length == 0 || length % per != 0)
            throw new ArgumentException($"{config.Path}: {what} hold {length} values, expected {batch} × z_dim {config.ZDim} × frames × h × w");
        return (int)(length / per);
    }
}

using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// What one request will take, estimated from its sizes before any work: the weights already loaded, the largest
/// set of activations alive at once (the VAE encode of an input image, a denoising forward over every model row, or
/// the VAE decode of every image, whichever is largest), and the transformer's arithmetic over all steps. The
/// activation figure is an upper-bound style estimate (a few times the measured peak on the test models, never below
/// it), meant to refuse what cannot fit with a clear line instead of failing mid-run;
/// <see cref="TextToImagePipeline.Estimate"/> computes it.
/// </summary>
/// <param name="WeightBytes">the pipeline's weights on the backend (all components)</param>
/// <param name="EncodeBytes">activations of the VAE encode of the input image (image-to-image, Flux Kontext; 0 without
/// one): its pixels × the encoder's full-resolution channels, counted as the decode's</param>
/// <param name="DenoiseBytes">activations of one denoising forward: rows × (image + text tokens) × width × 16 values</param>
/// <param name="DecodeBytes">activations of the decode: images × pixels × the decoder's full-resolution channels × 6
/// values (14 on the CPU, plus its im2col buffer for one image)</param>
/// <param name="Teraflops">the transformer's multiply-adds over all steps (×2), from its weights and the attention</param>
public sealed record WorkEstimate(long WeightBytes, long EncodeBytes, long DenoiseBytes, long DecodeBytes, double Teraflops)
{
    public long ActivationBytes => Math.Max(EncodeBytes, Math.Max(DenoiseBytes, DecodeBytes));
    public long TotalBytes => WeightBytes + ActivationBytes;

    public override string ToString() =>
        $"about {ByteSize.Format(TotalBytes)} (weights {ByteSize.Format(WeightBytes)} + activations {ByteSize.Format(ActivationBytes)}: " +
        $"{(EncodeBytes > Math.Max(DenoiseBytes, DecodeBytes) ? "encoding the image" : DenoiseBytes >= DecodeBytes ? "denoising" : "decoding")}), {Teraflops:G4} TFLOP";
}

using XDit.Models;
using XDit.Models.Flux;
using XDit.Models.HunyuanVideo;
using XDit.Models.Ltx;

namespace XDit.Engine.Caches;

/// <summary>
/// TeaCache's rescaling polynomial est = c0·rel⁴ + c1·rel³ + c2·rel² + c3·rel + c4 (highest power first, numpy
/// poly1d), fitted offline per model family on (input change, output change) pairs (methods.md §5).
/// FLUX, HunyuanVideo and LTX-Video have published coefficients fitted on the first block's modulated input, the
/// indicator this engine uses; the other models use the identity (est = rel), so their threshold is in plain relative-L1 units of
/// the modulated input (CogVideoX's and Wan's published fits use the timestep embedding as the indicator instead).
/// </summary>
public sealed record TeaCacheCoefficients(string Family, double[] Coefficients)
{
    public static readonly TeaCacheCoefficients Flux = new("flux", [4.98651651e+02, -2.83781631e+02, 5.58554382e+01, -3.82021401e+00, 2.64230861e-01]);
    public static readonly TeaCacheCoefficients HunyuanVideo = new("hunyuanvideo", [7.33226126e+02, -4.01131952e+02, 6.75869174e+01, -3.14987800e+00, 9.61237896e-02]);
    /// <summary>TeaCache4LTX-Video's fit, on block 0's norm1(x)·(1 + scale_msa) + shift_msa (LtxTransformer's indicator).</summary>
    public static readonly TeaCacheCoefficients Ltx = new("ltx", [2.14700694e+01, -1.28016453e+01, 2.31279151e+00, 7.92487521e-01, 9.69274326e-03]);
    public static readonly TeaCacheCoefficients Identity = new("identity", [1.0, 0.0]);

    public static TeaCacheCoefficients For(DiffusionTransformer model) => model switch
    {
        FluxTransformer => Flux,
        HunyuanVideoTransformer => HunyuanVideo,
        LtxTransformer => Ltx,
        _ => Identity,
    };

    public double Rescale(double rel)
    {
        double y = 0;
        foreach (var c in Coefficients) y = y * rel + c;
        return y;
    }
}

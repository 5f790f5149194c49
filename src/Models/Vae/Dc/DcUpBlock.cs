using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Models.Vae.Dc;

/// <summary>
/// DC-AE's DCUpBlock2d with its shortcut, from a stage of <c>inChannels</c> to the next (2× larger) one of
/// <c>outChannels</c>: "interpolate" upsamples nearest 2× then convolves 3×3 to out channels; "pixel_shuffle"
/// convolves to 4·out channels then pixel-shuffles. The shortcut repeats each input channel 4·out/in times and
/// pixel-shuffles the result, and is added.
/// </summary>
public sealed class DcUpBlock : IDcLayer
{
    public DcUpBlock(WeightScope w, int inChannels, int outChannels, bool interpolate)
    {
        Name = w.Prefix;
        Interpolate = interpolate;
        Conv = DcConv.Load(w.Pp("conv"), inChannels, interpolate ? outChannels : 4 * outChannels, 3);
        ShortcutRepeats = 4 * outChannels / inChannels;
    }

    public string Name { get; }
    public bool Interpolate { get; }
    public DcConv Conv { get; }
    public int ShortcutRepeats { get; }

    public Tensor Forward(IOps ops, Tensor x, DcSpatialOps spatial)
    {
        Tensor main;
        if (Interpolate)
        {
            using var up = ops.Upsample2x(x);
            main = spatial.Conv(ops, up, Conv);
        }
        else
        {
            using var c = spatial.Conv(ops, x, Conv);
            main = DcChannelLayout.PixelShuffle2(ops, c);
        }
        using (main)
        {
            using var repeated = DcChannelLayout.RepeatChannels(ops, x, ShortcutRepeats);
            using var shortcut = DcChannelLayout.PixelShuffle2(ops, repeated);
            return ops.Add(main, shortcut);
        }
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Models.ZImage;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>Fixtures of ZImageTransformer2DModel: in.x [B, C, 1, H, W] (diffusers' list of (C, 1, H, W) stacked),
/// in.t [B] ((1000 − t)/1000), in.cap_feats_0 … cap_feats_{B−1} (L_i, cap_feat_dim), diffusers' caption list, here
/// padded to one [B, max L_i, cap_feat_dim] tensor with a mask of each row's first L_i tokens
/// (<see cref="ZImageTransformer"/>'s input form) → sample [B, C, 1, H, W].</summary>
public sealed class ZImageFixtureRunner : IFixtureRunner
{
    public bool Handles(JsonConfig meta) => meta.GetString("model", null) == ZImageConfig.ClassName;

    public IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops)
    {
        using var model = ZImageTransformer.Load(fixture.Dir, ops);
        using var up = new FixtureUploads(fixture, ops);
        var (captions, mask) = Captions(fixture, ops);
        using (captions)
        using (mask)
        {
            var inputs = new DitInputs
            {
                HiddenStates = up["x"],
                EncoderHiddenStates = captions,
                EncoderAttentionMask = mask,
                Timestep = fixture.InputFloats("t"),
            };
            return new Dictionary<string, Tensor> { ["sample"] = model.Forward(ops, inputs) };
        }
    }

    /// <summary>in.cap_feats_0 … as one padded [B, max L, D] tensor (zeros past a row's length) and the [B, max L]
    /// mask of 1 for its first L_i tokens.</summary>
    public static (Tensor Captions, Tensor Mask) Captions(FixtureCase fixture, IOps ops)
    {
        var rows = new List<float[]>();
        var lengths = new List<int>();
        int dim = -1;
        for (int i = 0; fixture.HasInput($"cap_feats_{i}"); i++)
        {
            using var t = fixture.Input($"cap_feats_{i}");
            if (t.Rank != 2 || (dim >= 0 && t.Dim(1) != dim))
                throw new FormatException($"{fixture.Dir}: in.cap_feats_{i} must be [L, {(dim >= 0 ? dim : "D")}], got {Shape.Format(t.ShapeSpan)}");
            dim = t.Dim(1);
            lengths.Add(t.Dim(0));
            rows.Add(t.ToFloatArray());
        }
        if (rows.Count == 0) throw new FormatException($"{fixture.Dir}: no in.cap_feats_0");
        int b = rows.Count, l = lengths.Max();
        var feats = new float[b * l * dim];
        var mask = new float[b * l];
        for (int r = 0; r < b; r++)
        {
            rows[r].CopyTo(feats, r * l * dim);
            for (int j = 0; j < lengths[r]; j++) mask[r * l + j] = 1f;
        }
        var captions = ops.FromHost(feats, b, l, dim);
        try { return (captions, ops.FromHost(mask, b, l)); }
        catch { captions.Dispose(); throw; }
    }
}

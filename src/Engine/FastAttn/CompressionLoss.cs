namespace XDit.Engine.FastAttn;

/// <summary>DiTFastAttn's calibration loss between the reference output a and a compressed one b:
/// mean(clip(|(a − b) / (max(a, b) + 1e−6)|, 0, 10)), with max elementwise, as xDiT's compression_loss.</summary>
public static class CompressionLoss
{
    public static double Of(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"compression loss of outputs of {a.Length} and {b.Length} values");
        if (a.Length == 0) return 0;
        double sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            float x = a[i], y = b[i];
            float rel = (x - y) / (MathF.Max(x, y) + 1e-6f);
            sum += float.IsNaN(rel) ? 10 : Math.Min(MathF.Abs(rel), 10f);
        }
        return sum / a.Length;
    }
}

using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>
/// SD3.5's skip-layer guidance as diffusers' StableDiffusion3Pipeline computes it: on steps i with
/// start·n &lt; i &lt; stop·n (n steps), after classifier-free guidance, the transformer runs once more on the
/// positive rows with the listed blocks left out, and noise += scale·(cond − skipped), where cond is the positive
/// half of the guided pass. Only with classifier-free guidance (diffusers applies it inside that branch).
/// </summary>
public sealed class SkipLayerGuidance
{
    readonly HashSet<int> _skip;

    public SkipLayerGuidance(IReadOnlyList<int> layers, float scale, double start, double stop, int numBlocks)
    {
        var outside = layers.Where(l => l < 0 || l >= numBlocks).ToList();
        if (outside.Count > 0)
            throw new ArgumentException($"skip_guidance_layers names block(s) {string.Join(", ", outside)}; the transformer has blocks 0..{numBlocks - 1}");
        _skip = layers.ToHashSet();
        Scale = scale;
        Start = start;
        Stop = stop;
    }

    public float Scale { get; }
    public double Start { get; }
    public double Stop { get; }
    public IReadOnlySet<int> Layers => _skip;

    /// <summary>Whether step <paramref name="i"/> of <paramref name="steps"/> runs the extra pass (strict bounds, in
    /// double precision as Python compares an int with a float product).</summary>
    public bool Applies(int i, int steps) => i > steps * Start && i < steps * Stop;

    /// <summary>The model's output with the skipped blocks left out (diffusers' transformer(..., skip_layers=)).</summary>
    public Tensor ForwardSkipping(IOps ops, DiffusionTransformer model, DitInputs inputs)
    {
        using var state = model.Embed(ops, inputs);
        for (int i = 0; i < model.NumBlocks; i++)
            if (!_skip.Contains(i)) model.RunBlock(ops, i, state, LocalAttention.Instance);
        using var tokens = model.Finish(ops, state);
        return model.Unpatchify(ops, tokens, state);
    }

    /// <summary>noise[b] += scale·(output[batch + b] − skipped[b]) over the first <paramref name="channels"/> of
    /// <paramref name="outChannels"/>: output holds the guided pass's [negative; positive] rows.</summary>
    public void Apply(float[] output, float[] skipped, float[] noise, int batch, int outChannels, int channels, int spatial)
    {
        int outRow = outChannels * spatial, noiseRow = channels * spatial;
        for (int b = 0; b < batch; b++)
            for (int ch = 0; ch < channels; ch++)
            {
                int o = (batch + b) * outRow + ch * spatial, s = b * outRow + ch * spatial, n = b * noiseRow + ch * spatial;
                for (int j = 0; j < spatial; j++) noise[n + j] += (output[o + j] - skipped[s + j]) * Scale;
            }
    }
}

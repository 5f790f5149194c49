using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>The outputs of a packed-token fixture whose hidden_states hold the noisy tokens followed by a reference
/// image's (Flux Kontext, Flux 2 with reference images: meta.json's "noisy_tokens").</summary>
public static class FixtureNoisyTokens
{
    /// <summary>Without "noisy_tokens", <paramref name="output"/> is the sample. With it, sample_full is the whole
    /// output and sample its first noisy_tokens rows, as the pipeline keeps them. Takes <paramref name="output"/>
    /// (disposed when this throws).</summary>
    public static IReadOnlyDictionary<string, Tensor> NoisyTokenOutputs(this FixtureCase fixture, IOps ops, Tensor output)
    {
        int noisy = fixture.Meta.GetInt("noisy_tokens", 0);
        if (noisy <= 0) return new Dictionary<string, Tensor> { ["sample"] = output };
        try
        {
            if (noisy > output.Dim(1))
                throw new FormatException($"{fixture.Dir}/meta.json: noisy_tokens {noisy} is more than the {output.Dim(1)} tokens of in.hidden_states");
            return new Dictionary<string, Tensor>
            {
                ["sample_full"] = output,
                ["sample"] = ops.Contiguous(output.Slice(1, 0, noisy)),
            };
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }
}

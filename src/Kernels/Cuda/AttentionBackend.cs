namespace XDit.Kernels.Cuda;

/// <summary>
/// Which implementation runs <see cref="IOps.Attention"/> on CUDA (`--attention-backend`, xDiT's
/// `--attention_backend`). Auto: cuDNN's fused attention where it can run (bf16/f16, no key bias, bias, causal mask
/// or band window, a head dim cuDNN takes, a plan cuDNN builds), our kernels everywhere else and wherever cuDNN
/// refuses. Cudnn: every call of the kind cuDNN's fused attention takes runs on cuDNN or is one clear error (the
/// others, such as the text encoders' masked attention and the VAE's 512-wide head, stay on our kernels). Native: our
/// kernels only (the portable path).
/// </summary>
public enum AttentionBackend { Auto, Cudnn, Native }

public static class AttentionBackends
{
    /// <summary>The names the command line takes, in the order `xdit info` lists them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["auto", "cudnn", "native"];

    /// <summary>auto, cudnn or native (any case); anything else is one line naming the flag and the choices.</summary>
    public static AttentionBackend Parse(string? name, string flag = "--attention-backend") => name?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => AttentionBackend.Auto,
        "cudnn" => AttentionBackend.Cudnn,
        "native" => AttentionBackend.Native,
        _ => throw new ArgumentException($"{flag}: unknown attention backend '{name}' (expected auto, cudnn or native)"),
    };

    public static string Name(this AttentionBackend b) => b.ToString().ToLowerInvariant();
}

using System.CommandLine;
using XDit.Kernels.Cuda;

namespace XDit.Cli.Commands;

/// <summary>`--attention-backend auto|cudnn|native` (xDiT spells it `--attention_backend`; both are taken) for
/// generate, bench and serve: which implementation runs attention on CUDA (<see cref="AttentionBackend"/>).</summary>
public sealed class AttentionBackendOption
{
    public Option<string?> Option { get; } = new("--attention-backend", "--attention_backend")
    {
        Description = "Attention on CUDA: auto (cuDNN's fused attention where it can run, our kernels elsewhere), cudnn or native [default: auto]",
    };

    public AttentionBackend Read(ParseResult parse) => AttentionBackends.Parse(parse.GetValue(Option));
}

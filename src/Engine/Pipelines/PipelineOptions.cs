using XDit.Runtime;

namespace XDit.Engine.Pipelines;

/// <summary>How a pipeline is loaded: on which device, in which activation dtype, and how it is split across ranks.</summary>
public sealed record PipelineOptions
{
    /// <summary>"cpu" or "cuda" ("cuda:N" for a given device).</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Activation dtype; null takes the backend's default (F32 on the CPU, BF16 on CUDA).</summary>
    public DType? DType { get; init; }
    /// <summary>Which implementation runs attention on CUDA (`--attention-backend`); Auto picks cuDNN's fused
    /// attention where it can run, our kernels elsewhere. The CPU has one attention: only Auto and Native apply.</summary>
    public XDit.Kernels.Cuda.AttentionBackend AttentionBackend { get; init; }
}

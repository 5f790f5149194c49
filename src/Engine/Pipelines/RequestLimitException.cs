namespace XDit.Engine.Pipelines;

/// <summary>A request asks for more work than the <see cref="GenerationLimits"/> allow. <see cref="Field"/> is the
/// request's parameter in diffusers' spelling (num_inference_steps, height, ...), which a service answers with.</summary>
public sealed class RequestLimitException(string field, string message) : ArgumentException(message)
{
    public string Field { get; } = field;
}

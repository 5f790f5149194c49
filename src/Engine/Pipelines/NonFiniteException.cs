namespace XDit.Engine.Pipelines;

/// <summary>
/// A NaN or infinity where a picture's numbers must be finite: in given latents, or in the final latents or decoded
/// pixels of a run. Without the check such a run "succeeds" with a black or white picture.
/// </summary>
public sealed class NonFiniteException(string message) : ArithmeticException(message);

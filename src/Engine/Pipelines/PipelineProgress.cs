namespace XDit.Engine.Pipelines;

/// <summary>A progress report: which stage, how far, and the wall time of the step just finished.</summary>
public readonly record struct PipelineProgress(string Stage, int Step, int TotalSteps, TimeSpan StepTime);

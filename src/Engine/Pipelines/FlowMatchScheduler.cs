using XDit.Engine.Samplers;

namespace XDit.Engine.Pipelines;

/// <summary>The scheduler of an SD3 or Flux folder, which must be a FlowMatchEulerDiscreteScheduler (their models
/// predict a flow velocity; another scheduler class would silently compute something else).</summary>
static class FlowMatchScheduler
{
    public static FlowMatchEulerDiscreteScheduler Load(ModelIndex index)
    {
        var dir = index.Require("scheduler");
        return SchedulerFactory.Load(dir) as FlowMatchEulerDiscreteScheduler
            ?? throw new NotSupportedException($"{Path.Combine(dir, "scheduler_config.json")}: a {index.PipelineClass} needs FlowMatchEulerDiscreteScheduler");
    }
}

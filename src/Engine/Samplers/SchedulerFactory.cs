using XDit.Runtime;

namespace XDit.Engine.Samplers;

/// <summary>Builds a scheduler from a diffusers scheduler folder or config, by its <c>_class_name</c>.</summary>
public static class SchedulerFactory
{
    /// <summary>The diffusers class names this engine can run.</summary>
    public static IReadOnlyList<string> Supported { get; } = ["DPMSolverMultistepScheduler", "DDIMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "FlowMatchEulerDiscreteScheduler", "SCMScheduler", "CogVideoXDDIMScheduler", "CogVideoXDPMScheduler", "UniPCMultistepScheduler"];

    /// <summary>Reads <c>scheduler_config.json</c> from a diffusers <c>scheduler/</c> folder (or the file itself).</summary>
    public static IScheduler Load(string schedulerDir)
    {
        string path = File.Exists(schedulerDir) ? schedulerDir : Path.Combine(schedulerDir, "scheduler_config.json");
        return FromConfig(JsonConfig.Load(path));
    }

    /// <summary>
    /// Builds the scheduler the config names. <paramref name="className"/> overrides (or supplies) <c>_class_name</c>,
    /// for configs stored without it (fixture meta.json).
    /// </summary>
    public static IScheduler FromConfig(JsonConfig config, string? className = null)
    {
        string name = className ?? config.ClassName
            ?? throw new FormatException($"{config.Path}: no '_class_name' key, so the scheduler class is unknown");
        return name switch
        {
            "DPMSolverMultistepScheduler" => new DPMSolverMultistepScheduler(DPMSolverMultistepOptions.FromConfig(config)),
            "DDIMScheduler" => new DDIMScheduler(DDIMOptions.FromConfig(config)),
            "DDPMScheduler" => new DDPMScheduler(DDPMOptions.FromConfig(config)),
            "EulerDiscreteScheduler" => new EulerDiscreteScheduler(EulerDiscreteOptions.FromConfig(config)),
            "FlowMatchEulerDiscreteScheduler" => new FlowMatchEulerDiscreteScheduler(FlowMatchEulerOptions.FromConfig(config)),
            "SCMScheduler" => new SCMScheduler(SCMOptions.FromConfig(config)),
            "CogVideoXDDIMScheduler" => new CogVideoXDDIMScheduler(CogVideoXScheduleOptions.FromConfig(config)),
            "CogVideoXDPMScheduler" => new CogVideoXDPMScheduler(CogVideoXScheduleOptions.FromConfig(config)),
            "UniPCMultistepScheduler" => new UniPCMultistepScheduler(UniPCMultistepOptions.FromConfig(config)),
            _ => throw new NotSupportedException($"{config.Path}: scheduler class \"{name}\" is not supported (supported: {string.Join(", ", Supported)})"),
        };
    }
}

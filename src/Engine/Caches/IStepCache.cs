using XDit.Engine.Execution;

namespace XDit.Engine.Caches;

/// <summary>A single-device executor that skips block computation on steps it judges redundant.</summary>
public interface IStepCache : IDenoiseExecutor, IDisposable
{
    /// <summary>"teacache" or "fbcache".</summary>
    string Method { get; }
    double Threshold { get; }
    StepCacheStats Stats { get; }
}

using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>The ways runners read a fixture input `in.NAME`: moved to the backend, or as host floats
/// (timesteps, guidance). One place so every runner (and the tests that feed a model a fixture's inputs) reads them
/// the same way.</summary>
public static class FixtureCaseInputs
{
    /// <summary>Input `in.NAME` moved to the backend; the host copy is released at once.</summary>
    public static Tensor UploadInput(this FixtureCase fixture, IOps ops, string name)
    {
        using var host = fixture.Input(name);
        return ops.Upload(host);
    }

    /// <summary>Input `in.NAME` as a host float array.</summary>
    public static float[] InputFloats(this FixtureCase fixture, string name)
    {
        using var host = fixture.Input(name);
        return host.ToFloatArray();
    }
}

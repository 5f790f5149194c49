using XDit.Kernels;
using XDit.Runtime;

namespace XDit.Engine.Verify;

/// <summary>
/// Runs one kind of golden fixture (format: tests/fixtures/README.md): reads the inputs `in.*` from io.safetensors,
/// loads the model or scheduler the meta.json names, and returns the outputs keyed by their io names (`out.sample`).
/// Implementations are found by reflection, so adding a model means adding a runner class, nothing else.
/// </summary>
public interface IFixtureRunner
{
    /// <summary>True when this runner handles the case meta.json describes (by its "model" or "scheduler").</summary>
    bool Handles(JsonConfig meta);
    /// <summary>The fixture's tensors this runner's results are compared with, in the order to report them (io names:
    /// `out.sample`, or an `in.` tensor the run reproduces, such as a pipeline's token ids).</summary>
    IEnumerable<string> Compared(FixtureCase fixture) => fixture.OutputNames.Select(n => "out." + n);
    /// <summary>Computes every compared tensor, keyed by its io name without `out.` (`sample`, `in.input_ids`).
    /// Returned tensors belong to the caller.</summary>
    IReadOnlyDictionary<string, Tensor> Run(FixtureCase fixture, IOps ops);
}

/// <summary>One fixture folder opened: its meta.json, its io.safetensors, and where its model files are.</summary>
public sealed class FixtureCase : IDisposable
{
    public FixtureCase(string dir)
    {
        Dir = Path.GetFullPath(dir);
        if (!Directory.Exists(Dir)) throw new DirectoryNotFoundException($"{dir}: fixture folder not found");
        Meta = JsonConfig.Load(Path.Combine(Dir, "meta.json"));
        Io = new SafetensorsFile(Path.Combine(Dir, "io.safetensors"));
    }

    public string Dir { get; }
    public JsonConfig Meta { get; }
    public ITensorSource Io { get; }
    public string Name => Path.GetFileName(Dir);

    /// <summary>An input `in.NAME` as float32 on the host.</summary>
    public Tensor Input(string name) => Io.ReadF32("in." + name);
    /// <summary>An input `in.NAME` in its stored dtype (token ids are I64).</summary>
    public Tensor RawInput(string name) => Io.Read("in." + name);
    public bool HasInput(string name) => Io.Contains("in." + name);
    /// <summary>Names of the expected outputs, without the `out.` prefix.</summary>
    public IEnumerable<string> OutputNames => Io.Names.Where(n => n.StartsWith("out.", StringComparison.Ordinal)).Select(n => n[4..]).OrderBy(n => n, StringComparer.Ordinal);
    public Tensor Expected(string name) => Io.ReadF32("out." + name);

    public void Dispose() => Io.Dispose();
}

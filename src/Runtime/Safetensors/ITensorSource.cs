namespace XDit.Runtime;

/// <summary>Where one tensor lives: its file, dtype, shape and byte range inside the data block.</summary>
public sealed record TensorInfo(string Name, string File, DType DType, int[] Shape, long Begin, long End)
{
    public long NumElements => XDit.Runtime.Shape.Product(Shape);
    /// <summary>Bytes the tensor takes in the file (End − Begin).</summary>
    public long ByteLength => End - Begin;
}

/// <summary>
/// A set of named tensors on disk: one safetensors file, or a sharded checkpoint through its index.
/// Reads copy into host memory; nothing else is loaded until asked for.
/// </summary>
public interface ITensorSource : IDisposable
{
    /// <summary>The file or folder this source was opened from (used in error messages).</summary>
    string Path { get; }
    IReadOnlyCollection<string> Names { get; }
    bool Contains(string name);
    /// <summary>Throws <see cref="MissingTensorException"/> naming the file and tensor when absent.</summary>
    TensorInfo Info(string name);
    /// <summary>Host tensor in the file's own dtype.</summary>
    Tensor Read(string name);
    /// <summary>Host float32 tensor (F16/BF16/F32 converted; integer dtypes converted by value).</summary>
    Tensor ReadF32(string name);

    /// <summary>
    /// The entry of tensor <paramref name="name"/> as a model expects it, in <paramref name="expectedShape"/>:
    /// a stored tensor of another shape throws <see cref="WeightShapeException"/> naming the file, the tensor,
    /// the expected and the found shape. A source that makes its tensors up (<see cref="RandomCheckpoint"/>)
    /// answers in any shape asked, which is why loaders ask through here rather than compare shapes themselves.
    /// </summary>
    TensorInfo Info(string name, int[] expectedShape)
    {
        var info = Info(name);
        if (!XDit.Runtime.Shape.Equal(info.Shape, expectedShape))
            throw new WeightShapeException(info.File, name, expectedShape, info.Shape);
        return info;
    }

    /// <summary><see cref="Read(string)"/> of a tensor checked (or made) as <see cref="Info(string, int[])"/> says.</summary>
    Tensor Read(string name, int[] expectedShape)
    {
        Info(name, expectedShape);
        return Read(name);
    }
}

/// <summary>A tensor's shape is not the one its model's config implies.</summary>
public sealed class WeightShapeException(string path, string name, int[] expected, int[] found)
    : Exception($"{path}: tensor '{name}' has shape {XDit.Runtime.Shape.Format(found)}, expected {XDit.Runtime.Shape.Format(expected)} from the config")
{
    public string CheckpointPath { get; } = path;
    public string TensorName { get; } = name;
    public int[] Expected { get; } = expected;
    public int[] Found { get; } = found;
}

/// <summary>A tensor asked for is not in the checkpoint.</summary>
public sealed class MissingTensorException(string path, string name)
    : Exception($"{path}: tensor '{name}' is not in the checkpoint")
{
    public string CheckpointPath { get; } = path;
    public string TensorName { get; } = name;
}

/// <summary>The file is not a valid safetensors file (or index); the message names the file, the tensor when
/// there is one, and what was expected and found.</summary>
public sealed class SafetensorsFormatException : Exception
{
    public SafetensorsFormatException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner) => FilePath = path;

    public SafetensorsFormatException(string path, string tensor, string problem, Exception? inner = null)
        : base($"{path}: tensor '{tensor}': {problem}", inner)
    {
        FilePath = path;
        TensorName = tensor;
    }

    public string FilePath { get; }
    /// <summary>The tensor whose entry is wrong; null when the problem is with the file as a whole.</summary>
    public string? TensorName { get; }
}

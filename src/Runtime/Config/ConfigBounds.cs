namespace XDit.Runtime;

/// <summary>
/// The widest values the model readers accept for a config.json number: far above every published checkpoint, and
/// low enough that products the code forms (heads × head_dim, a width squared, layers × a block's weights) stay inside
/// an int. A value outside is a FormatException naming the file and key (JsonConfig.GetInt with a range).
/// </summary>
public static class ConfigBounds
{
    public const int Layers = 1024;
    public const int Heads = 1024;
    public const int HeadDim = 1024;
    /// <summary>Hidden widths, feed-forward widths, channel counts.</summary>
    public const int Width = 32768;
    public const int PatchSize = 64;
    public const int SampleSize = 16384;
    public const int Vocab = 1 << 22;
    public const int Positions = 1 << 20;
    public const int TrainTimesteps = 100_000;
}

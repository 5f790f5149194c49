using XDit.Kernels.Cpu;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Tests.Robustness;

/// <summary>A checkpoint with more numbered blocks than its config.json gives is refused, naming the blocks (issue 22,
/// item 6): it loaded silently before and computed a shallower model.</summary>
public class CheckpointConfigTests
{
    /// <summary>The real checkpoint, with the names of one more block listed (never read: the load must refuse first).</summary>
    sealed class WithExtraBlock(ITensorSource inner, int block) : ITensorSource
    {
        readonly string[] _extra = [$"transformer_blocks.{block}.attn1.to_q.weight", $"transformer_blocks.{block}.ff.net.2.bias"];
        public string Path => inner.Path;
        public IReadOnlyCollection<string> Names => inner.Names.Concat(_extra).ToArray();
        public bool Contains(string name) => inner.Contains(name) || _extra.Contains(name);
        public TensorInfo Info(string name) => inner.Info(name);
        public Tensor Read(string name) => inner.Read(name);
        public Tensor ReadF32(string name) => inner.ReadF32(name);
        public void Dispose() => inner.Dispose();
    }

    /// <summary>The real checkpoint with one value of one tensor replaced by NaN.</summary>
    sealed class WithNaN(ITensorSource inner, string poisoned) : ITensorSource
    {
        public string Path => inner.Path;
        public IReadOnlyCollection<string> Names => inner.Names;
        public bool Contains(string name) => inner.Contains(name);
        public TensorInfo Info(string name) => inner.Info(name);
        public Tensor Read(string name)
        {
            var t = inner.Read(name);
            if (name != poisoned) return t;
            Assert.Equal(DType.F16, t.DType); // the demo model is fp16
            t.Span<ushort>()[3] = 0x7E00; // a half-precision NaN
            return t;
        }
        public Tensor ReadF32(string name) => inner.ReadF32(name);
        public void Dispose() => inner.Dispose();
    }

    static string Dir => Path.Combine(TestPaths.DemoModel, "transformer");

    [Fact]
    public void CheckWeightsNamesTheTensorThatHoldsNaN()
    {
        var config = PixArtConfig.Load(Path.Combine(Dir, "config.json"));
        using var ops = new CpuOps();
        const string poisoned = "transformer_blocks.0.attn1.to_k.weight";
        bool was = XDit.Models.ModelWeights.CheckFinite;
        XDit.Models.ModelWeights.CheckFinite = true;
        try
        {
            using var source = new WithNaN(Checkpoint.Open(Dir), poisoned);
            var e = Assert.Throws<FormatException>(() => PixArtTransformer.Load(config, source, ops));
            Assert.Contains($"tensor '{poisoned}' (F16, [", e.Message);
            Assert.Contains("holds NaN or infinity at index 3", e.Message);
        }
        finally { XDit.Models.ModelWeights.CheckFinite = was; }
    }

    [Fact]
    public void MoreLayersInTheCheckpointThanInTheConfigAreRefused()
    {
        var config = PixArtConfig.Load(Path.Combine(Dir, "config.json"));
        using var ops = new CpuOps();
        using var source = new WithExtraBlock(Checkpoint.Open(Dir), config.NumLayers);
        var e = Assert.Throws<FormatException>(() => PixArtTransformer.Load(config, source, ops));
        Assert.Contains($"transformer_blocks.{config.NumLayers}", e.Message);
        Assert.Contains($"the config gives {config.NumLayers}", e.Message);
    }

    [Fact]
    public void AConfigWithFewerLayersThanTheCheckpointIsRefused()
    {
        var config = PixArtConfig.Load(Path.Combine(Dir, "config.json"));
        Assert.True(config.NumLayers > 1);
        using var ops = new CpuOps();
        using var source = Checkpoint.Open(Dir);
        var e = Assert.Throws<FormatException>(() => PixArtTransformer.Load(config with { NumLayers = config.NumLayers - 1 }, source, ops));
        Assert.Contains($"transformer_blocks.{config.NumLayers - 1}", e.Message);
        using var whole = PixArtTransformer.Load(config, source, ops); // the matching config loads
    }
}

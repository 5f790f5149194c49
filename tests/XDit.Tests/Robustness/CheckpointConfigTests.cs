using XDit.Kernels.Cpu;
using XDit.Models.PixArt;
using XDit.Runtime;

namespace XDit.Tests.Robustness;

/// <summary>A checkpoint with more numbered blocks than its config.json gives, or with a tensor its config gives a
/// block no use for, is refused naming the tensors (issue 22, item 6): it loaded silently before and computed another
/// model. Other unread tensors become a warning.</summary>
public class CheckpointConfigTests
{
    /// <summary>The real checkpoint, with the names of more tensors listed (never read: the load must refuse first).</summary>
    sealed class WithExtra(ITensorSource inner, params string[] extra) : ITensorSource
    {
        readonly string[] _extra = extra;
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
        int n = config.NumLayers;
        using var source = new WithExtra(Checkpoint.Open(Dir), $"transformer_blocks.{n}.attn1.to_q.weight", $"transformer_blocks.{n}.ff.net.2.bias");
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

    [Fact]
    public void ATensorThatABlockTheModelRunsLeavesUnreadIsRefused()   // PixArt has no qk-norm
    {
        var config = PixArtConfig.Load(Path.Combine(Dir, "config.json"));
        using var ops = new CpuOps();
        using var source = new WithExtra(Checkpoint.Open(Dir), "transformer_blocks.1.attn1.norm_q.weight");
        var e = Assert.Throws<FormatException>(() => PixArtTransformer.Load(config, source, ops));
        Assert.Contains("tensor 'transformer_blocks.1.attn1.norm_q.weight'", e.Message);
        Assert.Contains("the checkpoint and its config disagree", e.Message);
    }

    [Fact]
    public void OtherUnreadTensorsAreReportedNotRefused()
    {
        var config = PixArtConfig.Load(Path.Combine(Dir, "config.json"));
        using var ops = new CpuOps();
        using var source = new WithExtra(Checkpoint.Open(Dir), "pos_embed.extra_buffer", "caption_norm.weight");
        using var notes = XDit.Models.CheckpointNotes.Collect();
        using (PixArtTransformer.Load(config, source, ops)) { }
        var note = Assert.Single(notes.Messages);
        Assert.Contains("2 tensors the model does not use (caption_norm.weight, pos_embed.extra_buffer)", note);
    }

    /// <summary>The note reaches a pipeline's Warning handlers, though it was made before any could subscribe.</summary>
    [Fact]
    public void APipelineWarnsOfUnreadTensorsToItsListeners()
    {
        var dir = TestPaths.TempDir();
        XDit.Tests.Cli.GenerateCommandTests.CopyDirectory(TestPaths.DemoModel, dir);
        var file = Path.Combine(dir, "transformer", "diffusion_pytorch_model.safetensors");
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var src = new SafetensorsFile(file))
            foreach (var name in src.Names.Order(StringComparer.Ordinal)) tensors.Add(new(name, src.ReadF32(name)));
        tensors.Add(new("extra_buffer", Tensor.FromArray(new float[] { 1, 2 }, 2)));
        SafetensorsWriter.Write(file, tensors);
        foreach (var (_, t) in tensors) t.Dispose();

        using var pipeline = XDit.Engine.Pipelines.PipelineLoader.Load(dir);
        var warnings = new List<string>();
        pipeline.Warning += (_, w) => warnings.Add(w);
        var warning = Assert.Single(warnings);
        Assert.Contains(file, warning);
        Assert.Contains("1 tensor the model does not use (extra_buffer)", warning);
        Directory.Delete(dir, recursive: true);
    }
}

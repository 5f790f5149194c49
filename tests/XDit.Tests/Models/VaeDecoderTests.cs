using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class VaeDecoderTests
{
    readonly ITestOutputHelper _out;
    public VaeDecoderTests(ITestOutputHelper output) => _out = output;

    [Theory]
    [InlineData("vae4")]
    [InlineData("vae16")]
    public void DecodeMatchesDiffusers(string fixture) => FixtureChecks.MatchOnCpu(fixture, _out);

    [Fact]
    public void ConfigReadsTheFixtureKeys()
    {
        var c = AutoencoderKLConfig.Load(Path.Combine(TestPaths.Fixture("vae16"), "config.json"));
        Assert.Equal(16, c.LatentChannels);
        Assert.Equal([32, 64], c.BlockOutChannels);
        Assert.Equal(2, c.SpatialFactor);
        Assert.Equal(8, c.NormNumGroups);
        Assert.Null(c.ShiftFactor);
        Assert.True(c.UsePostQuantConv);
        Assert.Equal(0.18215, c.ScalingFactor, 6);
    }

    [Fact]
    public void UnknownClassNameIsRefusedWithTheFileNamed()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var path = Path.Combine(dir, "config.json");
            File.WriteAllText(path, """{"_class_name": "AutoencoderTiny", "block_out_channels": [32, 64]}""");
            var e = Assert.Throws<NotSupportedException>(() => AutoencoderKLConfig.Load(path));
            Assert.Contains("AutoencoderTiny", e.Message);
            Assert.Contains(path, e.Message);
            File.WriteAllText(path, """{"_class_name": "AutoencoderKL", "block_out_channels": [32, 64, 64, 64], "shift_factor": 0.1159, "norm_num_groups": 32}""");
            var c = AutoencoderKLConfig.Load(path);
            Assert.Equal(8, c.SpatialFactor);
            Assert.Equal(0.1159, c.ShiftFactor!.Value, 6);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The demo model's fp16 VAE loads (converted to float32 on the CPU) and decodes a latent.</summary>
    [Fact]
    public void DemoVaeDecodesARandomLatent()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKL.Load(Path.Combine(TestPaths.DemoModel, "vae"), ops);
        Assert.Equal(4, vae.SpatialFactor);
        var latent = Numerics.Random(2 * 4 * 8 * 6, seed: 3);
        using var z = ops.FromHost(latent, 2, 4, 8, 6);
        using var image = vae.Decode(ops, z);
        Assert.Equal([2, 3, 32, 24], image.Dims);
        var pixels = ops.ToHost(image);
        Assert.All(pixels, p => Assert.True(float.IsFinite(p)));
        Assert.True(pixels.Select(Math.Abs).Max() > 1e-3f, "the decoded image is all zeros");
        // Batch rows are decoded independently: row 1 alone gives the same pixels.
        using var z1 = ops.FromHost(latent.AsSpan(4 * 8 * 6), 1, 4, 8, 6);
        using var image1 = vae.Decode(ops, z1);
        var p1 = ops.ToHost(image1);
        Assert.True(Numerics.RelativeError(pixels.AsSpan(3 * 32 * 24), p1) < 1e-5);
    }

    /// <summary>Every spatially coupled op goes through the hook a patch-parallel decoder overrides.</summary>
    [Fact]
    public void SpatialOpsHookSeesEveryCoupledOperation()
    {
        using var ops = new CpuOps();
        using var vae = AutoencoderKL.Load(TestPaths.Fixture("vae4"), ops);
        using var z = ops.FromHost(Numerics.Random(4 * 4 * 4, seed: 5), 1, 4, 4, 4);
        var counting = new CountingSpatialOps();
        using var a = vae.Decode(ops, z, counting);
        using var b = vae.Decode(ops, z);
        Assert.Equal(0, Numerics.MaxAbsError(ops.ToHost(a), ops.ToHost(b)));
        // post_quant_conv, conv_in, 2 mid resnets × 2, 2 up blocks × 2 resnets × 2 + 1 shortcut, 1 upsampler conv, conv_out
        Assert.Equal(1 + 1 + 4 + 8 + 1 + 1 + 1, counting.Convs);
        Assert.Equal(4 + 1 + 8 + 1, counting.Norms);
        Assert.Equal(1, counting.Attentions);
        Assert.Equal(1, counting.Upsamples);
    }

    /// <summary>Old diffusers files name the mid attention query/key/value/proj_attn and some store them as 1×1
    /// convolutions: a copy of vae4 written that way decodes exactly as the original.</summary>
    [Fact]
    public void OldAttentionNamesAndConvShapedWeightsLoad()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var src = TestPaths.Fixture("vae4");
            File.Copy(Path.Combine(src, "config.json"), Path.Combine(dir, "config.json"));
            const string prefix = "decoder.mid_block.attentions.0.";
            var renames = new Dictionary<string, string> { ["to_q"] = "query", ["to_k"] = "key", ["to_v"] = "value", ["to_out.0"] = "proj_attn" };
            using (var file = new SafetensorsFile(Path.Combine(src, "diffusion_pytorch_model.safetensors")))
            {
                var tensors = new List<(string, int[], float[])>();
                foreach (var name in file.Names)
                {
                    using var t = file.ReadF32(name);
                    string outName = name;
                    int[] shape = t.Dims;
                    foreach (var (now, old) in renames)
                        if (name.StartsWith(prefix + now + ".", StringComparison.Ordinal))
                        {
                            outName = prefix + old + name[(prefix + now).Length..];
                            if (shape.Length == 2) shape = [shape[0], shape[1], 1, 1];
                        }
                    tensors.Add((outName, shape, t.ToFloatArray()));
                }
                WriteSafetensors(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), tensors);
            }

            using var ops = new CpuOps();
            using var z = ops.FromHost(Numerics.Random(4 * 4 * 6, seed: 9), 1, 4, 4, 6);
            using var current = AutoencoderKL.Load(src, ops);
            using var renamed = AutoencoderKL.Load(dir, ops);
            Assert.Equal([64, 64], renamed.MidAttention!.Q.Weight.Dims);
            using var a = current.Decode(ops, z);
            using var b = renamed.Decode(ops, z);
            Assert.Equal(0, Numerics.MaxAbsError(ops.ToHost(b), ops.ToHost(a)));
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A minimal safetensors writer (F32 only) for test files.</summary>
    static void WriteSafetensors(string path, IReadOnlyList<(string Name, int[] Shape, float[] Data)> tensors)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, shape, data) in tensors)
        {
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + data.Length * 4L } };
            offset += data.Length * 4L;
        }
        var json = System.Text.Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(header));
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)json.Length));
        f.Write(json);
        foreach (var (_, _, data) in tensors) f.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
    }

    sealed class CountingSpatialOps : VaeSpatialOps
    {
        public int Convs, Norms, Attentions, Upsamples;
        public override Tensor Conv(XDit.Kernels.IOps ops, Tensor x, VaeConv conv, Tensor? residual = null) { Convs++; return base.Conv(ops, x, conv, residual); }
        public override Tensor GroupNorm(XDit.Kernels.IOps ops, Tensor x, VaeGroupNorm norm, XDit.Kernels.Activation act = XDit.Kernels.Activation.None) { Norms++; return base.GroupNorm(ops, x, norm, act); }
        public override Tensor Upsample(XDit.Kernels.IOps ops, Tensor x) { Upsamples++; return base.Upsample(ops, x); }
        public override Tensor MidAttention(XDit.Kernels.IOps ops, Tensor tokens, VaeAttentionBlock block) { Attentions++; return base.MidAttention(ops, tokens, block); }
    }
}

using System.Text.Json.Nodes;
using XDit.Comm;
using XDit.Engine.ParallelVae;
using XDit.Kernels.Cpu;
using XDit.Models.Vae;
using XDit.Runtime;
using Xunit;

namespace XDit.Tests.ParallelVae;

/// <summary>Patch-parallel encoding (row bands over in-process ranks) against the one-rank encoder of the same
/// weights: the diffusers fixture (factor 2), the same at a height whose latent rows do not split evenly, and a
/// synthetic three-block encoder (factor 4: two stride-2 downsamplers, so band boundaries must stay even at both).</summary>
public class ParallelVaeEncoderTests(ITestOutputHelper output)
{
    static float[] OneRank(string dir, float[] image, int[] shape)
    {
        using var ops = new CpuOps();
        using var encoder = VaeEncoder.Load(dir, ops);
        using var x = ops.FromHost(image, shape);
        using var moments = encoder.Moments(ops, x);
        return ops.ToHost(moments);
    }

    static float[][] Parallel(string dir, float[] image, int[] shape, int ranks)
        => InProcessWorld.Run(ranks, comm =>
        {
            var ops = (CpuOps)comm.Ops;
            using var encoder = VaeEncoder.Load(dir, ops);
            using var x = ops.FromHost(image, shape);
            using var moments = new ParallelVaeEncoder(comm).Moments(ops, encoder, x);
            return ops.ToHost(moments);
        });

    [Theory]
    [InlineData("fixture", 2)]
    [InlineData("fixture", 3)]
    [InlineData("uneven", 2)]
    [InlineData("uneven", 3)]
    [InlineData("deep", 2)]
    [InlineData("deep", 3)]
    [InlineData("too-few-rows", 2)]
    public void EqualsTheOneRankEncode(string which, int ranks)
    {
        var fixture = TestPaths.Fixture("vae16_encode");
        string dir = fixture;
        string? temp = null;
        float[] image;
        int[] shape;
        try
        {
            switch (which)
            {
                case "fixture":
                    using (var io = new SafetensorsFile(Path.Combine(fixture, "io.safetensors")))
                    using (var sample = io.ReadF32("in.sample"))
                    {
                        shape = sample.Dims;
                        image = sample.ToFloatArray();
                    }
                    break;
                case "uneven":      // 11 latent rows: bands 6/5 on two ranks, 4/4/3 on three
                    shape = [1, 3, 22, 12];
                    image = Numerics.Random(3 * 22 * 12, 5);
                    break;
                case "too-few-rows": // 1 latent row for 2 ranks: every rank encodes the whole image
                    shape = [1, 3, 2, 8];
                    image = Numerics.Random(3 * 2 * 8, 6);
                    break;
                default:            // factor 4, 11 latent rows: image bands 24/20 or 16/16/12 rows, even at both downsamplers
                    dir = temp = TestPaths.TempDir();
                    WriteDeepEncoder(fixture, dir);
                    shape = [2, 3, 44, 20];
                    image = Numerics.Random(2 * 3 * 44 * 20, 7);
                    break;
            }

            var want = OneRank(dir, image, shape);
            var got = Parallel(dir, image, shape, ranks);
            foreach (var moments in got)
            {
                Assert.Equal(want.Length, moments.Length);
                double err = Numerics.MaxAbsError(moments, want);
                Assert.True(err < 1e-5, $"{which} on {ranks} ranks: max abs error {err:G3} against one rank");
            }
            output.WriteLine($"{which} image [{string.Join(",", shape)}] on {ranks} ranks: max abs err {got.Max(g => Numerics.MaxAbsError(g, want)):G3}, rel err {got.Max(g => Numerics.RelativeError(g, want)):G3}");
            if (which == "fixture")
            {
                using var io = new SafetensorsFile(Path.Combine(fixture, "io.safetensors"));
                using var mean = io.ReadF32("out.mean");
                var m = mean.ToFloatArray();
                double rel = Numerics.RelativeError(got[^1].AsSpan(0, m.Length), m);
                Assert.True(rel < 1e-4, $"mean against the diffusers fixture: relative error {rel:G3}");
            }
        }
        finally { if (temp is not null) Directory.Delete(temp, true); }
    }

    /// <summary>The band split changes the result where the downsampler's bottom row were taken wrongly: a band that
    /// padded zeros at its own bottom (not the image's) differs from the whole-image encode, so the test above can fail.</summary>
    [Fact]
    public void ZeroPaddingEveryBandWouldDiffer()
    {
        var fixture = TestPaths.Fixture("vae16_encode");
        float[] image = Numerics.Random(3 * 8 * 8, 9);
        int[] shape = [1, 3, 8, 8];
        var want = OneRank(fixture, image, shape);
        var got = InProcessWorld.Run(2, comm =>
        {
            var ops = (CpuOps)comm.Ops;
            using var encoder = VaeEncoder.Load(fixture, ops);
            using var x = ops.FromHost(image, shape);
            using var band = ops.Contiguous(x.Slice(2, comm.Rank * 4, 4));
            using var moments = encoder.Moments(ops, band, new ZeroPadAtEveryBand(comm));
            return ops.ToHost(comm.AllGather(moments, 2));
        });
        Assert.True(Numerics.MaxAbsError(got[0], want) > 1e-3, "padding zeros at every band's bottom should change the moments");
    }

    /// <summary>Pooled norms and halo rows, but the plain downsampler (zeros below every band).</summary>
    sealed class ZeroPadAtEveryBand(ICommunicator group) : VaeSpatialOps
    {
        readonly PatchParallelVaeOps _inner = new(group);
        public override Tensor Conv(XDit.Kernels.IOps ops, Tensor x, VaeConv conv, Tensor? residual = null) => _inner.Conv(ops, x, conv, residual);
        public override Tensor GroupNorm(XDit.Kernels.IOps ops, Tensor x, VaeGroupNorm norm, XDit.Kernels.Activation act = XDit.Kernels.Activation.None) => _inner.GroupNorm(ops, x, norm, act);
        public override Tensor MidAttention(XDit.Kernels.IOps ops, Tensor tokens, VaeAttentionBlock block) => _inner.MidAttention(ops, tokens, block);
    }

    /// <summary>A three-block encoder (8, 16, 16 channels, 4 groups, 4 latent channels, attention in the mid block) with
    /// seeded random weights, on the fixture's config.</summary>
    static void WriteDeepEncoder(string fixture, string dir)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(fixture, "config.json")))!.AsObject();
        config["block_out_channels"] = new JsonArray(8, 16, 16);
        config["down_block_types"] = new JsonArray("DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D");
        config["up_block_types"] = new JsonArray("UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D");
        config["norm_num_groups"] = 4;
        config["latent_channels"] = 4;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());

        var tensors = new List<KeyValuePair<string, Tensor>>();
        int seed = 100;
        void Add(string name, float[] data, params int[] dims) => tensors.Add(new(name, Tensor.FromArray(data, dims)));
        void Conv(string name, int i, int o, int k)
        {
            Add(name + ".weight", Numerics.Random(o * i * k * k, seed++, 1f / MathF.Sqrt(i * k * k)), o, i, k, k);
            Add(name + ".bias", Numerics.Random(o, seed++, 0.1f), o);
        }
        void Norm(string name, int c)
        {
            Add(name + ".weight", Numerics.Random(c, seed++, 0.2f).Select(v => 1 + v).ToArray(), c);
            Add(name + ".bias", Numerics.Random(c, seed++, 0.1f), c);
        }
        void Linear(string name, int c)
        {
            Add(name + ".weight", Numerics.Random(c * c, seed++, 1f / MathF.Sqrt(c)), c, c);
            Add(name + ".bias", Numerics.Random(c, seed++, 0.1f), c);
        }
        void Resnet(string name, int i, int o)
        {
            Norm(name + ".norm1", i);
            Conv(name + ".conv1", i, o, 3);
            Norm(name + ".norm2", o);
            Conv(name + ".conv2", o, o, 3);
            if (i != o) Conv(name + ".conv_shortcut", i, o, 1);
        }
        int[] channels = [8, 16, 16];
        Conv("encoder.conv_in", 3, 8, 3);
        int prev = 8;
        for (int b = 0; b < channels.Length; b++)
        {
            Resnet($"encoder.down_blocks.{b}.resnets.0", prev, channels[b]);
            if (b < channels.Length - 1) Conv($"encoder.down_blocks.{b}.downsamplers.0.conv", channels[b], channels[b], 3);
            prev = channels[b];
        }
        Resnet("encoder.mid_block.resnets.0", 16, 16);
        Norm("encoder.mid_block.attentions.0.group_norm", 16);
        foreach (var proj in new[] { "to_q", "to_k", "to_v", "to_out.0" }) Linear($"encoder.mid_block.attentions.0.{proj}", 16);
        Resnet("encoder.mid_block.resnets.1", 16, 16);
        Norm("encoder.conv_norm_out", 16);
        Conv("encoder.conv_out", 16, 8, 3);
        Conv("quant_conv", 8, 8, 1);
        SafetensorsWriter.Write(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), tensors);
        foreach (var (_, t) in tensors) t.Dispose();
    }
}

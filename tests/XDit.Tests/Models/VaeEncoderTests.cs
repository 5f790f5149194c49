using System.Text.Json.Nodes;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models.Vae;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class VaeEncoderTests
{
    readonly ITestOutputHelper _out;
    public VaeEncoderTests(ITestOutputHelper output) => _out = output;

    /// <summary>vae.encode(x).latent_dist of diffusers: mean and clamped logvar of a 32×48 image (the fixture ships
    /// only encoder.* and quant_conv.*, so this also loads an encoder without a decoder).</summary>
    [Fact]
    public void EncodeMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture("vae16_encode"), ops);
        Assert.Equal(["logvar", "mean"], results.Select(r => r.Name).Order(StringComparer.Ordinal));
        foreach (var r in results)
        {
            _out.WriteLine($"vae16_encode {r.Name}: rel {r.RelativeError:E3}, max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"vae16_encode {r.Name}: relative error {r.RelativeError:E3} > {r.Tolerance:E1} {r.Problem}");
        }
    }

    /// <summary>A whole VAE (vae16's decoder with the encode fixture's encoder, shift and scale set) loads without its
    /// encoder, decodes, and loads the encoder on the first EncodeLatents, which gives (mean − shift)·scale of the
    /// fixture's reference mean.</summary>
    [Fact]
    public void EncodeLatentsLoadsTheEncoderOnFirstUseAndShiftsAndScalesTheMean()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var encodeCase = TestPaths.Fixture("vae16_encode");
            WriteConfig(encodeCase, dir, c => { c["shift_factor"] = 0.1159; c["scaling_factor"] = 0.3611; });
            WriteWeights(Path.Combine(dir, "diffusion_pytorch_model.safetensors"),
                (Path.Combine(TestPaths.Fixture("vae16"), "diffusion_pytorch_model.safetensors"), n => n.StartsWith("decoder.") || n.StartsWith("post_quant_conv.")),
                (Path.Combine(encodeCase, "diffusion_pytorch_model.safetensors"), n => n.StartsWith("encoder.") || n.StartsWith("quant_conv.")));

            using var ops = new CpuOps();
            using var vae = AutoencoderKL.Load(dir, ops);
            Assert.False(vae.EncoderLoaded);
            long decoderBytes = vae.WeightBytes;
            using (var z = ops.FromHost(Numerics.Random(16 * 4 * 6, seed: 2), 1, 16, 4, 6))
            using (var decoded = vae.Decode(ops, z))
                Assert.Equal([1, 3, 8, 12], decoded.Dims);
            Assert.False(vae.EncoderLoaded);

            using var io = new SafetensorsFile(Path.Combine(encodeCase, "io.safetensors"));
            using var hostImage = io.ReadF32("in.sample");
            using var image = ops.Upload(hostImage);
            using var latents = vae.EncodeLatents(ops, image);
            Assert.True(vae.EncoderLoaded);
            Assert.True(vae.WeightBytes > decoderBytes);
            Assert.Equal([1, 16, 16, 24], latents.Dims);
            using var mean = io.ReadF32("out.mean");
            var expected = mean.ToFloatArray().Select(m => (m - 0.1159f) * 0.3611f).ToArray();
            double rel = Numerics.RelativeError(ops.ToHost(latents), expected);
            _out.WriteLine($"EncodeLatents against (mean − shift)·scale: rel {rel:E3}");
            Assert.True(rel < 1e-4, $"rel {rel:E3}");

            using var odd = ops.FromHost(new float[3 * 5 * 6], 1, 3, 5, 6);
            var e = Assert.Throws<ArgumentException>(() => vae.EncodeLatents(ops, odd));
            Assert.Contains("multiples of 2", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A checkpoint holding only the decoder loads and decodes as before; encoding it names the file and the
    /// tensor it lacks. An encoder with one tensor missing names that tensor.</summary>
    [Fact]
    public void DecodeOnlyCheckpointDecodesAndRefusesToEncodeNamingFileAndTensor()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var vae4 = TestPaths.Fixture("vae4");
            WriteConfig(vae4, dir, _ => { });
            var weights = Path.Combine(dir, "diffusion_pytorch_model.safetensors");
            WriteWeights(weights, (Path.Combine(vae4, "diffusion_pytorch_model.safetensors"), n => !n.StartsWith("encoder.") && !n.StartsWith("quant_conv.")));

            using var ops = new CpuOps();
            using var vae = AutoencoderKL.Load(dir, ops);
            using (var z = ops.FromHost(Numerics.Random(4 * 4 * 4, seed: 4), 1, 4, 4, 4))
            using (var decoded = vae.Decode(ops, z))
                Assert.Equal(3, decoded.Dim(1));
            using var image = ops.FromHost(new float[3 * 8 * 8], 1, 3, 8, 8);
            var e = Assert.Throws<FormatException>(() => vae.Encode(ops, image));
            Assert.Contains(weights, e.Message);
            Assert.Contains("'encoder.conv_in.weight'", e.Message);
            Assert.False(vae.EncoderLoaded);

            var partial = TestPaths.TempDir();
            try
            {
                var encodeCase = TestPaths.Fixture("vae16_encode");
                WriteConfig(encodeCase, partial, _ => { });
                var partialWeights = Path.Combine(partial, "diffusion_pytorch_model.safetensors");
                WriteWeights(partialWeights, (Path.Combine(encodeCase, "diffusion_pytorch_model.safetensors"), n => n != "encoder.down_blocks.0.downsamplers.0.conv.weight"));
                var m = Assert.Throws<MissingTensorException>(() => VaeEncoder.Load(partial, ops));
                Assert.Contains(partialWeights, m.Message);
                Assert.Contains("'encoder.down_blocks.0.downsamplers.0.conv.weight'", m.Message);
            }
            finally { Directory.Delete(partial, true); }
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A config whose down blocks the encoder cannot run is refused when encoding, naming file and key, while
    /// the decoder still loads from it.</summary>
    [Fact]
    public void UnsupportedDownBlockIsRefusedOnlyByTheEncoder()
    {
        var dir = TestPaths.TempDir();
        try
        {
            var encodeCase = TestPaths.Fixture("vae16_encode");
            WriteConfig(encodeCase, dir, c => c["down_block_types"] = new JsonArray("DownEncoderBlock2D", "AttnDownEncoderBlock2D"));
            var config = AutoencoderKLConfig.Load(Path.Combine(dir, "config.json"));
            File.Copy(Path.Combine(encodeCase, "diffusion_pytorch_model.safetensors"), Path.Combine(dir, "diffusion_pytorch_model.safetensors"));
            using var ops = new CpuOps();
            var e = Assert.Throws<NotSupportedException>(() => VaeEncoder.Load(dir, ops));
            Assert.Contains("AttnDownEncoderBlock2D", e.Message);
            Assert.Contains(config.Path, e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    static void WriteConfig(string fromDir, string toDir, Action<JsonObject> edit)
    {
        var c = JsonNode.Parse(File.ReadAllText(Path.Combine(fromDir, "config.json")))!.AsObject();
        edit(c);
        File.WriteAllText(Path.Combine(toDir, "config.json"), c.ToJsonString());
    }

    /// <summary>One safetensors file holding the tensors of each source that its filter keeps, bytes unchanged.</summary>
    static void WriteWeights(string path, params (string File, Func<string, bool> Keep)[] sources)
    {
        var files = sources.Select(s => new SafetensorsFile(s.File)).ToList();
        var tensors = new List<Tensor>();
        try
        {
            var named = new List<KeyValuePair<string, Tensor>>();
            for (int i = 0; i < files.Count; i++)
                foreach (var name in files[i].Names.Where(sources[i].Keep).Order(StringComparer.Ordinal))
                {
                    var t = files[i].Read(name);
                    tensors.Add(t);
                    named.Add(new(name, t));
                }
            SafetensorsWriter.Write(path, named);
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
            foreach (var f in files) f.Dispose();
        }
    }
}

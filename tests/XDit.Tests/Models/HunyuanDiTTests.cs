using XDit.Engine.Verify;
using XDit.Kernels;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.HunyuanDiT;
using XDit.Runtime;

namespace XDit.Tests.Models;

public class HunyuanDiTTests(ITestOutputHelper output)
{
    const string Case = "hunyuandit";

    [Fact]
    public void FixtureMatchesDiffusers()
    {
        using var ops = new CpuOps();
        var results = FixtureVerifier.Verify(TestPaths.Fixture(Case), ops);
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            output.WriteLine($"{Case} {r.Name}: rel {r.RelativeError:E3} max abs {r.MaxAbsError:E3}");
            Assert.True(r.Passed, $"{Case} {r.Name}: {r.Problem} rel {r.RelativeError:E3}");
        }
    }

    /// <summary>The fixture's inputs on the CPU, with the BERT states optionally edited and the size/style condition optionally left out.</summary>
    static float[] Run(CpuOps ops, HunyuanDiTTransformer model, FixtureCase fx, Func<float[], float[]>? editBert = null, bool withStyle = true)
    {
        var bert = fx.InputFloats("encoder_hidden_states");
        if (editBert is not null) bert = editBert(bert);
        using var s = fx.RawInput("style");
        using var x = fx.UploadInput(ops, "hidden_states");
        using var y = ops.FromHost(bert, 2, 6, 32);
        using var m = fx.UploadInput(ops, "text_embedding_mask");
        using var y5 = fx.UploadInput(ops, "encoder_hidden_states_t5");
        using var m5 = fx.UploadInput(ops, "text_embedding_mask_t5");
        using var cos = fx.UploadInput(ops, "image_rotary_emb_cos");
        using var sin = fx.UploadInput(ops, "image_rotary_emb_sin");
        using var meta = fx.UploadInput(ops, "image_meta_size");
        using var outT = model.Forward(ops, new DitInputs
        {
            HiddenStates = x,
            Timestep = fx.InputFloats("timestep"),
            EncoderHiddenStates = y,
            EncoderAttentionMask = m,
            EncoderHiddenStatesT5 = y5,
            EncoderAttentionMaskT5 = m5,
            ImageRotaryCos = cos,
            ImageRotarySin = sin,
            ImageMetaSize = withStyle ? meta : null,
            Style = withStyle ? s.Span<long>().ToArray() : null,
        });
        return ops.ToHost(outT);
    }

    [Fact]
    public void PaddedTextTokensAreReplacedSoTheirContentDoesNotMatter()
    {
        // batch row 1 masks BERT tokens 3..5 (text_embedding_mask): whatever they hold, the output is the same,
        // while changing a kept token changes it
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture(Case));
        using var model = HunyuanDiTTransformer.Load(fx.Dir, ops);
        var mask = fx.InputFloats("text_embedding_mask");
        Assert.Equal(0f, mask[6 + 4]);
        Assert.Equal(1f, mask[6 + 0]);
        var baseline = Run(ops, model, fx);
        var paddedEdited = Run(ops, model, fx, b => { var c = (float[])b.Clone(); for (int k = 0; k < 32; k++) c[(6 + 4) * 32 + k] += 5f; return c; });
        var keptEdited = Run(ops, model, fx, b => { var c = (float[])b.Clone(); for (int k = 0; k < 32; k++) c[(6 + 0) * 32 + k] += 5f; return c; });
        Assert.Equal(baseline, paddedEdited);
        Assert.True(Numerics.RelativeError(keptEdited, baseline) > 1e-3, "a kept BERT token must change the output");
    }

    [Fact]
    public void WrongT5LengthIsRefusedWithTheExpectedShape()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture(Case));
        using var model = HunyuanDiTTransformer.Load(fx.Dir, ops);
        using var x = fx.UploadInput(ops, "hidden_states");
        using var y = fx.UploadInput(ops, "encoder_hidden_states");
        using var m = fx.UploadInput(ops, "text_embedding_mask");
        using var y5 = ops.Zeros(DType.F32, 2, 7, 32);
        using var m5 = ops.Zeros(DType.F32, 2, 7);
        using var cos = fx.UploadInput(ops, "image_rotary_emb_cos");
        using var sin = fx.UploadInput(ops, "image_rotary_emb_sin");
        using var meta = fx.UploadInput(ops, "image_meta_size");
        var e = Assert.Throws<ArgumentException>(() => model.Forward(ops, new DitInputs
        {
            HiddenStates = x, Timestep = [999f, 261f], EncoderHiddenStates = y, EncoderAttentionMask = m,
            EncoderHiddenStatesT5 = y5, EncoderAttentionMaskT5 = m5, ImageRotaryCos = cos, ImageRotarySin = sin,
            ImageMetaSize = meta, Style = [0, 0],
        }).Dispose());
        Assert.Contains("encoder_hidden_states_t5", e.Message);
        Assert.Contains("[2, 8, 32]", e.Message);
        Assert.Contains("[2, 7, 32]", e.Message);
    }

    [Fact]
    public void MissingRotaryTablesAreNamedWithTheirShape()
    {
        using var ops = new CpuOps();
        using var fx = new FixtureCase(TestPaths.Fixture(Case));
        using var model = HunyuanDiTTransformer.Load(fx.Dir, ops);
        using var x = fx.UploadInput(ops, "hidden_states");
        using var y = fx.UploadInput(ops, "encoder_hidden_states");
        using var m = fx.UploadInput(ops, "text_embedding_mask");
        using var y5 = fx.UploadInput(ops, "encoder_hidden_states_t5");
        using var m5 = fx.UploadInput(ops, "text_embedding_mask_t5");
        using var meta = fx.UploadInput(ops, "image_meta_size");
        var e = Assert.Throws<ArgumentException>(() => model.Forward(ops, new DitInputs
        {
            HiddenStates = x, Timestep = [999f, 261f], EncoderHiddenStates = y, EncoderAttentionMask = m,
            EncoderHiddenStatesT5 = y5, EncoderAttentionMaskT5 = m5, ImageMetaSize = meta, Style = [0, 0],
        }).Dispose());
        Assert.Contains("image_rotary_emb cos", e.Message);
        Assert.Contains("[24, 8]", e.Message);
    }

    [Fact]
    public void ItsLongSkipsPairBlockIWithTheMirrorBlock()
    {
        using var ops = new CpuOps();
        using var model = HunyuanDiTTransformer.Load(TestPaths.Fixture(Case), ops);
        Assert.Equal([(0, 3)], model.LongSkips);
        Assert.True(model.BlocksOnlyReadText);
    }

    [Fact]
    public void ConfigRefusesAnOddLayerCount()
    {
        var c = JsonConfig.Parse("""{"_class_name": "HunyuanDiT2DModel", "num_layers": 5, "num_attention_heads": 2, "attention_head_dim": 8, "hidden_size": 16}""", "x/config.json");
        var e = Assert.Throws<FormatException>(() => HunyuanDiTConfig.From(c));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains("num_layers 5", e.Message);
        var ok = HunyuanDiTConfig.From(JsonConfig.Parse("""{"num_layers": 4, "num_attention_heads": 2, "attention_head_dim": 8, "hidden_size": 16}"""));
        Assert.Equal(8, ok.OutChannels);   // learn_sigma by default
        Assert.Equal(64, ok.FeedForwardDim);
    }

    [Fact]
    public void RotaryTableMatchesThePipelinesTablesOfTheFixture()
    {
        // the fixture stores the tables the pipeline made for its 4×6 patch grid (crop region (6, 0)–(27, 32))
        using var fx = new FixtureCase(TestPaths.Fixture(Case));
        var wantCos = fx.InputFloats("image_rotary_emb_cos");
        var wantSin = fx.InputFloats("image_rotary_emb_sin");
        var (cos, sin) = HunyuanDiTRotaryTable.Build(8, 4, 6);
        Assert.Equal(wantCos.Length, cos.Length);
        double maxErr = 0;
        for (int k = 0; k < cos.Length; k++)
            maxErr = Math.Max(maxErr, Math.Max(Math.Abs(cos[k] - wantCos[k]), Math.Abs(sin[k] - wantSin[k])));
        Assert.True(maxErr < 1e-5, $"max abs error {maxErr:E3}");
        Assert.Equal(((6, 0), (27, 32)), HunyuanDiTRotaryTable.ResizeCropRegion(4, 6, 32));
    }

    [Theory]
    [InlineData(64, 64, 0, 0, 32, 32)]    // 1024×1024: the whole square
    [InlineData(48, 64, 4, 0, 28, 32)]    // wider: 32·48/64 = 24 rows, centred
    [InlineData(64, 40, 0, 6, 32, 26)]    // taller: round(32·40/64 = 20) columns, (32 − 20)/2 = 6
    [InlineData(4, 6, 6, 0, 27, 32)]      // 21.33 rows; (32 − 21)/2 = 5.5 rounds half to even: 6
    public void ResizeCropRegionFitsTheGridIntoTheBaseSquare(int gh, int gw, int top, int left, int bottom, int right)
        => Assert.Equal(((top, left), (bottom, right)), HunyuanDiTRotaryTable.ResizeCropRegion(gh, gw, 32));

    /// <summary>The fixture's transformer folder rewritten into <paramref name="dir"/>: config.json with
    /// use_style_cond_and_image_meta_size as given, extra_embedder.linear_1 cut to its first
    /// <paramref name="keepColumns"/> input columns (the pooled mT5 vector comes first) or with the rest zeroed.</summary>
    static void WriteVariant(string dir, bool useStyle, int keepColumns, bool cut)
    {
        Directory.CreateDirectory(dir);
        var src = TestPaths.Fixture(Case);
        var config = File.ReadAllText(Path.Combine(src, "config.json"));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace("\"use_style_cond_and_image_meta_size\": true", $"\"use_style_cond_and_image_meta_size\": {(useStyle ? "true" : "false")}"));
        using var file = new SafetensorsFile(Path.Combine(src, "diffusion_pytorch_model.safetensors"));
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var name in file.Names.Order(StringComparer.Ordinal))
        {
            if (!useStyle && name == "time_extra_emb.style_embedder.weight") continue;
            var t = file.ReadF32(name);
            if (name == "time_extra_emb.extra_embedder.linear_1.weight")
            {
                int rows = t.Dim(0), cols = t.Dim(1);
                var w = t.ToFloatArray();
                t.Dispose();
                var outW = new float[rows * (cut ? keepColumns : cols)];
                for (int r = 0; r < rows; r++)
                    for (int k = 0; k < keepColumns; k++) outW[r * (cut ? keepColumns : cols) + k] = w[r * cols + k];
                t = Tensor.FromArray(outW, rows, cut ? keepColumns : cols);
            }
            tensors.Add(new(name, t));
        }
        SafetensorsWriter.Write(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), tensors);
        foreach (var kv in tensors) kv.Value.Dispose();
    }

    [Fact]
    public void WithoutStyleAndMetaTheExtraEmbedderSeesThePooledVectorAlone()
    {
        // a model without the size/style condition equals the full one whose extra_embedder ignores the meta and
        // style columns: this checks the holdout layout (no style_embedder, linear_1 [4D, pooled]) and the order
        // cat[pooled, meta, style] of the full one
        var root = Path.Combine(Path.GetTempPath(), "xdit-hunyuandit-" + Guid.NewGuid().ToString("N"));
        try
        {
            WriteVariant(Path.Combine(root, "zeroed"), useStyle: true, keepColumns: 16, cut: false);
            WriteVariant(Path.Combine(root, "plain"), useStyle: false, keepColumns: 16, cut: true);
            using var ops = new CpuOps();
            using var fx = new FixtureCase(TestPaths.Fixture(Case));
            float[] full, zeroed, plain;
            using (var m = HunyuanDiTTransformer.Load(fx.Dir, ops)) full = Run(ops, m, fx);
            using (var m = HunyuanDiTTransformer.Load(Path.Combine(root, "zeroed"), ops)) zeroed = Run(ops, m, fx);
            using (var m = HunyuanDiTTransformer.Load(Path.Combine(root, "plain"), ops)) plain = Run(ops, m, fx, withStyle: false);
            Assert.True(Numerics.RelativeError(zeroed, full) > 1e-3, "the meta/style columns must matter in the fixture's model");
            double err = Numerics.RelativeError(plain, zeroed);
            output.WriteLine($"no style/meta vs zeroed columns: rel {err:E3}");
            Assert.True(err < 1e-6, $"rel {err:E3}");
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}

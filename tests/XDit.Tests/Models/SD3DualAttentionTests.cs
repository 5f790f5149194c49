using System.Text.Json.Nodes;
using XDit.Engine.Verify;
using XDit.Kernels.Cpu;
using XDit.Models;
using XDit.Models.SD3;
using XDit.Runtime;

namespace XDit.Tests.Models;

/// <summary>
/// SD3.5-medium's dual-attention blocks have no golden fixture; these check their wiring on the sd35 weights
/// extended with attn2 and the 9-chunk SD35AdaLayerNormZeroX: with a zero attn2 output projection the block must
/// equal the plain one exactly, and with a non-zero one it must differ and call attn2 as image-only self-attention.
/// </summary>
public class SD3DualAttentionTests
{
    [Fact]
    public void ZeroAttn2OutputReproducesThePlainBlock()
    {
        using var ops = new CpuOps();
        var dir = DualCheckpoint(zeroOut: true);
        using var dual = SD3Transformer.Load(dir, ops);
        using var plain = SD3Transformer.Load(TestPaths.Fixture("sd35"), ops);
        Assert.Equal(new[] { 0 }, dual.Config.DualAttentionLayers);
        using var fx = new FixtureCase(TestPaths.Fixture("sd35"));
        var inputs = Inputs(ops, fx);
        using var a = dual.Forward(ops, inputs);
        using var b = plain.Forward(ops, inputs);
        Assert.Equal(ops.ToHost(b), ops.ToHost(a));
        Dispose(inputs);
    }

    [Fact]
    public void NonZeroAttn2ChangesTheOutputThroughAnImageOnlyCall()
    {
        using var ops = new CpuOps();
        var dir = DualCheckpoint(zeroOut: false);
        using var dual = SD3Transformer.Load(dir, ops);
        using var plain = SD3Transformer.Load(TestPaths.Fixture("sd35"), ops);
        using var fx = new FixtureCase(TestPaths.Fixture("sd35"));
        var inputs = Inputs(ops, fx);
        var rec = new JointAttentionRecorder();
        using var a = dual.Forward(ops, inputs, rec);
        using var b = plain.Forward(ops, inputs);
        Assert.True(Numerics.RelativeError(ops.ToHost(a), ops.ToHost(b)) > 1e-3);

        var call = Assert.Single(rec.Calls, c => c.Layer == "transformer_blocks.0.attn2");
        Assert.Equal(AttentionKind.Self, call.Kind);
        Assert.Null(call.JointQ);
        int n = inputs.HiddenStates.Dim(2) / 2 * (inputs.HiddenStates.Dim(3) / 2);
        Assert.Equal(new[] { inputs.HiddenStates.Dim(0), n, dual.NumHeads, dual.HeadDim }, call.Q);
        Assert.Equal(dual.NumBlocks + 1, rec.Calls.Count);
        Dispose(inputs);
    }

    static string DualCheckpoint(bool zeroOut)
    {
        var src = TestPaths.Fixture("sd35");
        var dir = TestPaths.TempDir();
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(src, "config.json")))!.AsObject();
        cfg["dual_attention_layers"] = new JsonArray(0);
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());

        var tensors = new Dictionary<string, (int[], float[])>();
        using (var ck = Checkpoint.Open(Path.Combine(src, "diffusion_pytorch_model.safetensors")))
            foreach (var name in ck.Names)
            {
                using var t = ck.ReadF32(name);
                tensors[name] = (t.Dims, t.ToFloatArray());
            }
        int d = cfg["num_attention_heads"]!.GetValue<int>() * cfg["attention_head_dim"]!.GetValue<int>();
        int hd = cfg["attention_head_dim"]!.GetValue<int>();
        const string p = "transformer_blocks.0";
        int seed = 100;
        (int[], float[]) Rand(params int[] shape) => (shape, Numerics.Random((int)Shape.Product(shape), seed++, 0.3f));

        // SD35AdaLayerNormZeroX: the 6 chunks of the plain block followed by shift/scale/gate of attn2.
        var (_, w) = tensors[p + ".norm1.linear.weight"];
        var (_, bias) = tensors[p + ".norm1.linear.bias"];
        tensors[p + ".norm1.linear.weight"] = ([9 * d, d], [.. w, .. Rand(3 * d, d).Item2]);
        tensors[p + ".norm1.linear.bias"] = ([9 * d], [.. bias, .. Rand(3 * d).Item2]);
        foreach (var x in new[] { "to_q", "to_k", "to_v" })
        {
            tensors[$"{p}.attn2.{x}.weight"] = Rand(d, d);
            tensors[$"{p}.attn2.{x}.bias"] = Rand(d);
        }
        tensors[$"{p}.attn2.norm_q.weight"] = Rand(hd);
        tensors[$"{p}.attn2.norm_k.weight"] = Rand(hd);
        tensors[$"{p}.attn2.to_out.0.weight"] = zeroOut ? ([d, d], new float[d * d]) : Rand(d, d);
        tensors[$"{p}.attn2.to_out.0.bias"] = zeroOut ? ([d], new float[d]) : Rand(d);
        F32SafetensorsWriter.Write(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), tensors);
        return dir;
    }

    static DitInputs Inputs(CpuOps ops, FixtureCase fx)
    {
        Tensor Up(string name) => fx.UploadInput(ops, name);
        return new DitInputs
        {
            HiddenStates = Up("hidden_states"),
            EncoderHiddenStates = Up("encoder_hidden_states"),
            PooledProjections = Up("pooled_projections"),
            Timestep = fx.InputFloats("timestep"),
        };
    }

    static void Dispose(DitInputs i)
    {
        i.HiddenStates.Dispose(); i.EncoderHiddenStates.Dispose(); i.PooledProjections?.Dispose();
    }
}

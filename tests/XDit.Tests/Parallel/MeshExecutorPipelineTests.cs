using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Runtime;

namespace XDit.Tests.Parallel;

/// <summary>
/// The demo PixArt pipeline with its denoise loop on a <see cref="MeshExecutor"/>: every rank loads the pipeline,
/// generates from the reference latents, and must get the single-rank images (6 heads and 8×8 = 64 tokens allow
/// ulysses 2 or 3 and ring 2, 4, 8). Fewer steps than the reference run, to stay fast; the scheduler and the
/// guidance are the same code on every rank, so any difference comes from the executor.
/// </summary>
public class MeshExecutorPipelineTests
{
    const int Steps = 5;

    static readonly Lazy<(GenerationRequest Request, float[] Images)> Reference = new(() =>
    {
        using var reference = new SafetensorsFile(Path.Combine(TestPaths.DemoModel, "reference.safetensors"));
        var meta = JsonConfig.Load(Path.Combine(TestPaths.DemoModel, "reference.json"));
        using var latents = reference.ReadF32("initial_latents");
        var request = new GenerationRequest
        {
            Prompts = meta.Root.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!).ToArray(),
            NumInferenceSteps = Steps,
            GuidanceScale = (float)meta.GetDouble("guidance_scale"),
            Latents = latents.ToFloatArray(),
        };
        using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        return (request, Pixels(pipeline.Generate(request)));
    });

    [Theory]
    [InlineData(2, 2, 1)]
    [InlineData(1, 1, 2)]
    public void ImagesEqualTheSingleRankImages(int cfg, int ulysses, int ring)
    {
        var (request, want) = Reference.Value;
        int world = cfg * ulysses * ring;
        var mesh = new DeviceMesh(world, cfg: cfg, ulysses: ulysses, ring: ring);
        var images = InProcessWorld.Run(world, comm =>
        {
            using var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
            pipeline.Loop = new StandardDenoiseLoop(new MeshExecutor(mesh, comm));
            return (Pixels: Pixels(pipeline.Generate(request)), comm.Stats.BytesByOperation);
        });
        for (int r = 0; r < world; r++)
        {
            double err = Numerics.RelativeError(images[r].Pixels, want);
            // The executor really ran: the output all-gather (cfg), the all-to-alls (ulysses) or the ring sends.
            var sent = images[r].BytesByOperation;
            Assert.Equal(cfg > 1 || ulysses > 1 || ring > 1, sent.GetValueOrDefault("AllGather") > 0);
            Assert.Equal(ulysses > 1, sent.GetValueOrDefault("AllToAll") > 0);
            Assert.Equal(ring > 1, sent.GetValueOrDefault("Send") > 0);
            Assert.True(err < 1e-5, $"demo pipeline on {mesh}: rank {r} images differ from the single-rank ones by relative error {err:E2}");
            TestContext.Current.SendDiagnosticMessage($"demo cfg {cfg} × ulysses {ulysses} × ring {ring}: rank {r} relative error {err:E2}");
        }
    }
}

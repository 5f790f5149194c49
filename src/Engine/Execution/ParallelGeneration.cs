using XDit.Comm;
using XDit.Engine.ParallelVae;
using XDit.Engine.PipeFusion;
using XDit.Engine.Pipelines;
using XDit.Kernels;

namespace XDit.Engine.Execution;

/// <summary>
/// Runs one generation on N in-process ranks (threads of this process, each with its own backend and copy of the
/// pipeline): how CI tests every parallel method, and how one machine rehearses an N-GPU plan (--world-size N).
/// Data parallel gives each replica a slice of the prompts; inside a replica the executors split guidance rows,
/// tokens or blocks. Returns the images in prompt order and the traffic of every rank.
/// </summary>
public static class ParallelGeneration
{
    /// <param name="PeakBytesPerRank">the most activation memory each rank's arena held at once (weights excluded)</param>
    public sealed record Outcome(GenerationResult Result, DeviceMesh Mesh, long[] BytesSentPerRank, long StaleKvBytesPerRank, long[] PeakBytesPerRank);

    /// <param name="makeOps">the backend of a rank (one CPU op set per rank by default)</param>
    /// <param name="onRankPipeline">called on each rank's thread with the loaded pipeline and the rank (rank 0 reports progress)</param>
    /// <param name="limits">the bounds of the request (the library's defaults when null)</param>
    /// <param name="cancel">looked at by every rank between steps; the first rank that sees it fired aborts the world</param>
    public static Outcome Run(string modelDir, ParallelConfig config, GenerationRequest request,
        Func<int, IOps>? makeOps = null, Action<TextToImagePipeline, int>? onRankPipeline = null,
        GenerationLimits? limits = null, CancellationToken cancel = default)
    {
        request.Validate(limits);
        var mesh = config.Mesh();
        PromptsPerReplica(mesh, request); // refuse before starting any rank

        var world = new InProcessWorld(config.WorldSize);
        var results = world.Run(comm => RunRank(comm, modelDir, config, request, onRankPipeline, limits, cancel), makeOps);

        var replicas = results.Where(r => r.Leader).OrderBy(r => r.Replica).ToList();
        var first0 = replicas[0].Result;
        var images = replicas.SelectMany(r => r.Result.Images).ToList();
        var merged = first0 with { Images = images };
        return new Outcome(merged, mesh, world.BytesSentPerRank(), results.Max(r => r.StaleKvBytes), results.Select(r => r.PeakBytes).ToArray());
    }

    /// <summary>What one rank produced: whether it answers for its data-parallel replica, which replica, its
    /// result and the stale K/V bytes it held.</summary>
    public sealed record RankOutcome(bool Leader, int Replica, GenerationResult Result, long StaleKvBytes, long PeakBytes);

    /// <summary>What one rank of a video generation produced (see <see cref="RankOutcome"/>).</summary>
    public sealed record VideoRankOutcome(bool Leader, int Replica, VideoGenerationResult Result, long PeakBytes);

    /// <summary>
    /// The work of one rank, on its world communicator (in-process or across processes): loads the pipeline on the
    /// communicator's backend, installs the rank's parallel loop, and generates its replica's share of the prompts.
    /// </summary>
    public static RankOutcome RunRank(ICommunicator comm, string modelDir, ParallelConfig config, GenerationRequest request,
        Action<TextToImagePipeline, int>? onRankPipeline = null, GenerationLimits? limits = null, CancellationToken cancel = default)
    {
        var r = RunRankWith(comm, modelDir, config, request, onRankPipeline, limits,
            (pipeline, slice, load) => { var g = pipeline.Generate(slice, cancel); return g with { Timings = g.Timings.WithFirst("load", load) }; });
        return new RankOutcome(r.Leader, r.Replica, r.Result, r.StaleKv, r.PeakBytes);
    }

    /// <summary>
    /// Runs one video generation (a <see cref="TextToVideoPipeline"/>: CogVideoX, Latte, Wan) on N in-process ranks:
    /// CFG parallel, Ulysses and Ring split the transformer's rows and tokens as for images, data parallel the prompts;
    /// the video VAE decodes whole on every rank (patch-parallel VAE is for the image VAEs).
    /// </summary>
    public static VideoOutcome RunVideo(string modelDir, ParallelConfig config, GenerationRequest request,
        Func<int, IOps>? makeOps = null, Action<TextToVideoPipeline, int>? onRankPipeline = null,
        GenerationLimits? limits = null, CancellationToken cancel = default)
    {
        request.Validate(limits);
        var mesh = config.Mesh();
        PromptsPerReplica(mesh, request);
        RefuseForVideo(config);
        var world = new InProcessWorld(config.WorldSize);
        var results = world.Run(comm => RunVideoRank(comm, modelDir, config, request, onRankPipeline, limits, cancel), makeOps);
        var replicas = results.Where(r => r.Leader).OrderBy(r => r.Replica).ToList();
        var merged = replicas[0].Result with { Videos = replicas.SelectMany(r => r.Result.Videos).ToList() };
        return new VideoOutcome(merged, mesh, world.BytesSentPerRank(), results.Select(r => r.PeakBytes).ToArray());
    }

    /// <summary>What <see cref="RunVideo"/> returns: the videos in prompt order and the traffic and activation peak of every rank.</summary>
    public sealed record VideoOutcome(VideoGenerationResult Result, DeviceMesh Mesh, long[] BytesSentPerRank, long[] PeakBytesPerRank);

    /// <summary>One rank of a video generation (in-process or launched); see <see cref="RunRank"/>.</summary>
    public static VideoRankOutcome RunVideoRank(ICommunicator comm, string modelDir, ParallelConfig config, GenerationRequest request,
        Action<TextToVideoPipeline, int>? onRankPipeline = null, GenerationLimits? limits = null, CancellationToken cancel = default)
    {
        RefuseForVideo(config);
        var r = RunRankWith(comm, modelDir, config, request,
            (pipeline, rank) => onRankPipeline?.Invoke(AsVideo(pipeline, modelDir), rank), limits,
            (pipeline, slice, load) => { var v = AsVideo(pipeline, modelDir).GenerateVideo(slice, cancel); return v with { Timings = v.Timings.WithFirst("load", load) }; });
        return new VideoRankOutcome(r.Leader, r.Replica, r.Result, r.PeakBytes);
    }

    /// <summary>The parallel methods a video pipeline does not take, refused before any rank loads.</summary>
    public static void RefuseForVideo(ParallelConfig config)
    {
        if (config.UseParallelVae)
            throw new ArgumentException("--use-parallel-vae splits the image VAEs' decode into row bands; a video pipeline's VAE decodes whole on each rank: leave it out");
        if (config.PipeFusionParallelDegree > 1)
            throw new ArgumentException("PipeFusion (--pipefusion-parallel-degree) is not available for video pipelines: use --ulysses-degree, --ring-degree, --use-cfg-parallel or --data-parallel-degree");
    }

    static TextToVideoPipeline AsVideo(TextToImagePipeline pipeline, string modelDir) => pipeline as TextToVideoPipeline
        ?? throw new InvalidOperationException($"{modelDir}: {pipeline.Index.PipelineClass} makes images, not videos");

    /// <summary>What every rank does whatever it makes: loads the pipeline, installs the parallel loop, slices the
    /// replica's prompts and latents, and runs <paramref name="generate"/> (given the pipeline, the slice and the load time).</summary>
    static (bool Leader, int Replica, T Result, long StaleKv, long PeakBytes) RunRankWith<T>(ICommunicator comm, string modelDir,
        ParallelConfig config, GenerationRequest request, Action<TextToImagePipeline, int>? onRankPipeline, GenerationLimits? limits,
        Func<TextToImagePipeline, GenerationRequest, TimeSpan, T> generate)
    {
        var mesh = config.Mesh();
        int prompts = request.Prompts.Count, perReplica = PromptsPerReplica(mesh, request);
        int rank = comm.Rank;
        var coord = mesh.CoordOf(rank);
        var loadWatch = System.Diagnostics.Stopwatch.StartNew();
        // the communicator still needs the backend after the pipeline (NCCL's closing barrier allocates on it)
        using var pipeline = PipelineLoader.Load(modelDir, comm.Ops, ownsOps: false);
        var loadTime = loadWatch.Elapsed;
        long weightBytes = comm.Ops.Allocator.BytesInUse;
        onRankPipeline?.Invoke(pipeline, rank);
        var staleKv = Configure(pipeline, mesh, comm, config);

        int first = coord.Data * perReplica;
        var slice = request with
        {
            Prompts = request.Prompts.Skip(first).Take(perReplica).ToArray(),
            FirstRow = request.FirstRow + first * request.NumImagesPerPrompt,
            // the replica's rows draw their part of the whole batch's step noise (DDPM)
            TotalRows = request.TotalRows != 0 ? request.TotalRows : request.FirstRow + prompts * request.NumImagesPerPrompt,
            Latents = SliceLatents(request, first, perReplica, prompts),
            // [B, ...]: images [B, C, h, w], videos [B, F, C, h, w] or [B, C, F, h, w]
            LatentsShape = request.LatentsShape is { Length: >= 4 } s ? [perReplica * request.NumImagesPerPrompt, .. s[1..]] : request.LatentsShape,
        };
        if (limits is not null) pipeline.Limits = limits;
        // Every rank looks at the token between steps; the first that sees it fired aborts the world.
        var result = generate(pipeline, slice, loadTime);
        // Every rank of a replica ends with the same images; its first rank answers for it.
        bool leader = coord with { Data = 0 } == mesh.CoordOf(0);
        return (leader, coord.Data, result, staleKv(), comm.Ops.Allocator.PeakBytesInUse - weightBytes);
    }

    /// <summary>Puts the rank's parallel loop (and VAE decoder and encoder) into its pipeline; returns how to read the stale K/V
    /// bytes the rank held (known once the run is over).</summary>
    static Func<long> Configure(TextToImagePipeline pipeline, DeviceMesh mesh, ICommunicator world, ParallelConfig config)
    {
        Func<long> staleKv = () => 0;
        if (mesh.Pipe > 1)
        {
            var loop = new PipeFusionLoop(mesh, world, config.NumPipelinePatch ?? mesh.Pipe, config.WarmupSteps);
            pipeline.Loop = loop;
            staleKv = () => loop.StaleKvBytes;
        }
        else if (mesh.Cfg > 1 || mesh.Sp > 1)
            pipeline.Loop = new StandardDenoiseLoop(new MeshExecutor(mesh, world));

        if (config.UseParallelVae)
        {
            // Every rank of a data-parallel replica holds the same final latents: they decode together, in row bands.
            int replica = mesh.CoordOf(world.Rank).Data;
            var ranks = Enumerable.Range(0, mesh.WorldSize).Where(r => mesh.CoordOf(r).Data == replica).ToArray();
            var decoder = new ParallelVaeDecoder(world.Split(ranks));
            pipeline.DecodeOverride = (vae, z) => decoder.Decode(pipeline.Ops, vae, z);
            // the input image of img2img / Kontext is the same on every rank too: it encodes in the same bands
            var encoder = new ParallelVaeEncoder(decoder.Group);
            pipeline.EncodeMomentsOverride = (vae, image) => encoder.Moments(pipeline.Ops, vae.Encoder, image);
        }
        return staleKv;
    }

    static int PromptsPerReplica(DeviceMesh mesh, GenerationRequest request)
    {
        int prompts = request.Prompts.Count;
        if (prompts % mesh.Data != 0)
            throw new ArgumentException($"data parallel degree {mesh.Data} needs a number of prompts divisible by {mesh.Data}, got {prompts}");
        return prompts / mesh.Data;
    }

    static float[]? SliceLatents(GenerationRequest r, int firstPrompt, int count, int prompts)
    {
        if (r.Latents is null) return null;
        int perImage = r.Latents.Length / (prompts * r.NumImagesPerPrompt);
        int start = firstPrompt * r.NumImagesPerPrompt * perImage, length = count * r.NumImagesPerPrompt * perImage;
        return r.Latents.AsSpan(start, length).ToArray();
    }
}

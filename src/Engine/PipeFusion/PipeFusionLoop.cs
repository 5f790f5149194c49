using System.Diagnostics;
using XDit.Comm;
using XDit.Engine.Execution;
using XDit.Engine.Pipelines;
using XDit.Engine.Samplers;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.PipeFusion;

/// <summary>
/// PipeFusion (methods.md §1, xdit.md §3): the transformer's blocks split into consecutive stages along the mesh's
/// pipefusion axis, the image into row-band patches that stream through the stages with a stale K/V buffer per
/// attention layer (<see cref="StaleKvAttention"/>; for ReLU linear attention, each patch's key/value sums; for
/// SANA's Mix-FFN, the conv input's rows of the other patches). The first <see cref="WarmupSteps"/> steps send the whole
/// sequence through the stages one after another (fresh K/V everywhere); later steps stream patches: stage s
/// works on patch p while stage s+1 works on p−1, and the last stage combines guidance and steps the scheduler of
/// that patch, then returns the new latent band to stage 0, so consecutive diffusion steps overlap too.
/// Hybrids: each cfg rank (degree 2) runs its own pipeline on its half of the rows and the noise predictions are
/// all-gathered over the cfg group at the last stage; sequence parallelism inside a stage (Ulysses × Ring, as
/// xDiT) splits each patch into ulysses·ring strips of whole rows, sp rank = ulysses rank + U·ring rank; each ring
/// rank buffers its share of every patch and the ring passes whole buffers (<see cref="StaleKvAttention"/>).
/// Long skips (HunyuanDiT's block i → block L−1−i, <see cref="DiffusionTransformer.LongSkips"/>) go from the stage
/// that kept them straight to the stage that joins them, per patch (xDiT's stage r ↔ N−1−r).
/// Data parallelism is outside: every group this loop uses stays inside
/// the rank's data-parallel replica, so each replica runs its own loop on its own prompts.
/// One instance per rank (it holds this rank's buffers and counters); every rank ends with the final latents.
/// Sends are assumed buffered (InProcessWorld's are): the stages form a ring, which rendezvous sends would
/// deadlock.
/// </summary>
public sealed class PipeFusionLoop : IDenoiseLoop
{
    const int HiddenTag = 71, TextTag = 72, LatentTag = 73, SkipTag = 74;

    readonly DeviceMesh _mesh;
    readonly ICommunicator _world;
    readonly List<long> _bytesPerStep = new();

    public PipeFusionLoop(DeviceMesh mesh, ICommunicator world, int numPipelinePatch, int warmupSteps)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(world);
        if (world.Size != mesh.WorldSize)
            throw new ArgumentException($"PipeFusion: the mesh ({mesh}) needs a world communicator of {mesh.WorldSize} ranks, got {world.Size}");
        if (numPipelinePatch < 1) throw new ArgumentException($"PipeFusion: num_pipeline_patch must be at least 1, got {numPipelinePatch}");
        if (warmupSteps < 0) throw new ArgumentException($"PipeFusion: warmup steps cannot be negative, got {warmupSteps}");
        if (mesh.Cfg > 2) throw new ArgumentException($"PipeFusion: the cfg degree is 1 or 2 (negative and positive rows), got {mesh.Cfg}");
        _mesh = mesh;
        _world = world;
        NumPipelinePatch = numPipelinePatch;
        WarmupSteps = warmupSteps;
    }

    public int NumPipelinePatch { get; }
    /// <summary>Steps run on the whole sequence before patches stream (0 allowed: see <see cref="StaleKvAttention"/>).</summary>
    public int WarmupSteps { get; }
    /// <summary>The patch split of the last run (the count may be lower than asked: see its Warning).</summary>
    public PatchGeometry? Geometry { get; private set; }
    /// <summary>Blocks [Start, Start + Count) this rank's stage ran.</summary>
    public (int Start, int Count) Blocks { get; private set; }
    /// <summary>Bytes of this rank's stale buffers (K and V, linear attention's sums, token grids; all its layers)
    /// in the last run.</summary>
    public long StaleKvBytes { get; private set; }
    /// <summary>Bytes this rank sent during each diffusion step of the last run (its own step loop).</summary>
    public IReadOnlyList<long> BytesSentPerStep => _bytesPerStep;
    /// <summary>Bytes this rank sent to hand the final latents to every rank.</summary>
    public long FinalBroadcastBytes { get; private set; }

    public void Run(IOps ops, DenoiseJob job, IProgress<PipelineProgress>? progress)
    {
        // Every rank holds the same job, so all refuse together, before any communication.
        if (job.ExtraGuidance is not null)
            throw new NotSupportedException("PipeFusion steps patches of the latent, and this generation's extra guidance (skip-layer guidance) needs a pass over the whole latent each step: leave out --pipefusion-parallel-degree or --skip-guidance-layers");
        var run = new RunState(this, ops, job);
        run.Execute(progress);
    }

    /// <summary>Everything one run needs, checked before any communication.</summary>
    sealed class RunState
    {
        readonly PipeFusionLoop _loop;
        readonly IOps _ops;
        readonly DenoiseJob _job;
        readonly DiffusionTransformer _model;
        readonly MeshCoord _coord;
        readonly int _stages, _stage, _steps, _warmup;
        readonly bool _first, _last, _carriesText;
        readonly int _rowStart, _rowCount, _hidden, _U, _sp, _spRank;
        readonly int[]? _textShape;
        readonly PatchGeometry _geo;
        readonly LatentBands _bands;
        readonly ICommunicator? _pipe, _cfg, _ulysses, _ring, _spGroup;
        readonly float[] _zeros;
        readonly (int From, int To)[] _skipsIn, _skipsOut;

        public RunState(PipeFusionLoop loop, IOps ops, DenoiseJob job)
        {
            _loop = loop; _ops = ops; _job = job; _model = job.Model;
            var mesh = loop._mesh;
            _coord = mesh.CoordOf(loop._world.Rank);
            _stages = mesh.Pipe; _stage = _coord.Pipe;
            _first = _stage == 0; _last = _stage == _stages - 1;
            _steps = job.Scheduler.Timesteps.Length;
            _warmup = loop.WarmupSteps;
            if (_warmup > _steps)
                throw new ArgumentException($"PipeFusion: {_warmup} warmup steps is more than the {_steps} denoising steps this run takes " +
                    "(image-to-image runs only the last strength x steps of the schedule); lower --warmup-steps");
            loop.Blocks = PatchGeometry.StageBlocks(_model.NumBlocks, _stages, _stage);
            // long skips made before this stage and joined here; made here and joined by a later stage (both in
            // ascending From, the state's stack order)
            var (b0, nb) = loop.Blocks;
            _skipsIn = _model.LongSkips.Where(p => p.From < b0 && p.To >= b0 && p.To < b0 + nb).OrderBy(p => p.From).ToArray();
            _skipsOut = _model.LongSkips.Where(p => p.From >= b0 && p.From < b0 + nb && p.To >= b0 + nb).OrderBy(p => p.From).ToArray();

            if (mesh.Cfg == 2 && !job.Cfg)
                throw new ArgumentException("PipeFusion: cfg parallel degree 2 needs classifier-free guidance (guidance scale > 1), which splits the rows into negative and positive halves");
            _rowStart = mesh.Cfg == 2 ? _coord.Cfg * job.Batch : 0;
            _rowCount = mesh.Cfg == 2 ? job.Batch : job.Rows;
            _U = mesh.Ulysses;
            _sp = mesh.Sp;
            _spRank = _coord.Ulysses + _U * _coord.Ring;
            if (_model.NumHeads % _U != 0)
                throw new ArgumentException($"PipeFusion: the transformer's {_model.NumHeads} attention heads do not divide by the ulysses degree {_U}");

            // The token grid comes from the model itself: embed the first step once (no communication yet).
            int gh, gw;
            using (var probe = Embed(0, job.Latents))
            {
                gh = probe.GridH; gw = probe.GridW;
                _hidden = probe.Image.Dim(2);
                _textShape = probe.Text?.Dims;
            }
            // PixArt's and HunyuanDiT's text is a cross-attention context the blocks never change; a joint text
            // stream (SD3, Flux) changes in every block, so it travels with the image tokens between stages.
            _carriesText = !_model.BlocksOnlyReadText && _textShape is not null;

            var ls = job.LatentShape;
            if (ls.Length == 3)
            {
                if (ls[1] % gh != 0 || ls[2] % gw != 0)
                    throw new ArgumentException($"PipeFusion: latent {ls[1]}x{ls[2]} is not a whole number of patches of the {gh}x{gw} token grid");
                int ps = ls[1] / gh;
                _geo = PatchGeometry.Create(gh, gw, ps, loop.NumPipelinePatch, _sp);
                _bands = new LatentBands(job.Batch, ls[0], ls[1], ls[2], ps);
            }
            else if (ls.Length == 2 && ls[0] == gh * gw)
            {
                // Flux's packed latents: one token per 2×2 latent pixels, so xDiT's latent rows are 2 per token row.
                _geo = PatchGeometry.Create(gh, gw, 2, loop.NumPipelinePatch, _sp);
                _bands = new LatentBands(job.Batch, 1, gh, gw * ls[1], 1);
            }
            else throw new ArgumentException($"PipeFusion: latent shape [{string.Join(", ", ls)}] does not match the model's {gh}x{gw} token grid");
            loop.Geometry = _geo;

            _pipe = _stages > 1 ? mesh.Communicator(loop._world, MeshAxis.Pipe) : null;
            _cfg = mesh.Cfg > 1 ? mesh.Communicator(loop._world, MeshAxis.Cfg) : null;
            _ulysses = _U > 1 ? mesh.Communicator(loop._world, MeshAxis.Ulysses) : null;
            _ring = mesh.Ring > 1 ? mesh.Communicator(loop._world, MeshAxis.Ring) : null;
            _spGroup = _sp > 1 ? mesh.Communicator(loop._world, MeshAxis.Sp) : null;
            _zeros = new float[job.Latents.Length];
        }

        public void Execute(IProgress<PipelineProgress>? progress)
        {
            _loop._bytesPerStep.Clear();
            var stats = _loop._world.Stats;
            var schedulers = _last ? _geo.Bands.Select(_ => _job.NewScheduler()).ToArray() : Array.Empty<IScheduler>();
            using var attention = new StaleKvAttention(_geo.TotalTokens, _ulysses, _ring,
                _geo.Bands.Select(b => (b.TokenStart, b.TokenCount)).ToArray());
            try
            {
                for (int i = 0; i < _steps; i++)
                {
                    var sw = Stopwatch.StartNew();
                    long before = stats.BytesSent;
                    bool patchMode = i >= _warmup;
                    // Stage 0 gets the whole latent back after each warmup step (the last one feeds the first patched step).
                    if (_first && _pipe is not null && i >= 1 && i <= _warmup) RecvLatent(_job.Latents);
                    if (!patchMode) FullStep(i, attention, schedulers);
                    else foreach (var band in _geo.Bands) PatchStep(i, band, attention, schedulers);
                    _loop._bytesPerStep.Add(stats.BytesSent - before);
                    progress?.Report(new PipelineProgress("denoise", i + 1, _steps, sw.Elapsed));
                }
                _loop.StaleKvBytes = attention.BufferBytes;

                // Every rank ends with the final latents: the last stage of each pipeline holds them.
                long b0 = stats.BytesSent;
                if (_pipe is not null)
                {
                    using var t = _ops.FromHost(_job.Latents, _job.Latents.Length);
                    _pipe.Broadcast(t, _stages - 1);
                    if (!_last) _ops.ToHost(t).CopyTo(_job.Latents, 0);
                }
                _loop.FinalBroadcastBytes = stats.BytesSent - b0;
            }
            finally { attention.Clear(); }
        }

        /// <summary>A warmup step: the whole sequence (this rank's contiguous sequence-parallel shard) through the stage.</summary>
        void FullStep(int i, StaleKvAttention attention, IScheduler[] schedulers)
        {
            int S = _geo.TotalTokens, n = S / _sp, start = _spRank * n;
            using var state = Embed(i, _first ? _job.Latents : _zeros);
            state.Shard(_ops, start, n);
            attention.SetFull();
            RunStage(i, state, attention);
            if (!_last) return;

            var output = Predict(state, _geo.GridH);
            var noise = new float[_job.Latents.Length];
            _job.Combine(output, noise, _bands.Spatial(new PatchBand(0, 0, _geo.GridH, 0, S)));
            foreach (var band in _geo.Bands)
            {
                var x = _bands.Extract(_job.Latents, band);
                StepBand(schedulers[band.Index], _bands.Extract(noise, band), i, x, band);
                RequireFinite(x, i, band);
                _bands.Insert(x, _job.Latents, band);
            }
            if (_pipe is not null && !_first && i < _steps - 1)
            {
                using var t = _ops.FromHost(_job.Latents, _job.Latents.Length);
                _pipe.Send(t, 0, LatentTag);
            }
        }

        /// <summary>Steps one band's scheduler. A stochastic one (DDPM) is handed the band of the noise one rank would
        /// draw for the whole sample at step i (its own draw would start the stream anew for each band's smaller size),
        /// at the replica's rows of the whole batch (its noise window) under data parallel.</summary>
        void StepBand(IScheduler scheduler, float[] modelOutput, int i, float[] x, PatchBand band)
        {
            if (scheduler is not IStochasticScheduler stochastic) { scheduler.Step(modelOutput, i, x); return; }
            if (_stepNoise.Step != i || _stepNoise.Noise.Length != _job.Latents.Length)
            {
                var full = new float[_job.Latents.Length];
                stochastic.DrawNoise(i, full);
                _stepNoise = (i, full);
            }
            stochastic.Step(modelOutput, i, x, _bands.Extract(_stepNoise.Noise, band));
        }

        (int Step, float[] Noise) _stepNoise = (-1, []);

        /// <summary>One patch of a streamed step: stage 0 embeds the patch from its latest latent band; other stages
        /// take the previous stage's hidden states; the last stage steps the patch's scheduler and sends the band back.</summary>
        void PatchStep(int i, PatchBand band, StaleKvAttention attention, IScheduler[] schedulers)
        {
            if (_first && _pipe is not null && i > _warmup)
            {
                var part = new float[_bands.BandSize(band)];
                RecvLatent(part);
                _bands.Insert(part, _job.Latents, band);
            }
            var (start, count) = _geo.SubBand(band, _spRank);
            using var state = Embed(i, _first ? _job.Latents : _zeros);
            state.Shard(_ops, start, count);
            attention.SetPatch(band.TokenStart, band.TokenCount);
            RunStage(i, state, attention);
            if (!_last) return;

            var output = Predict(state, band.GridRows);
            var noise = new float[_bands.BandSize(band)];
            _job.Combine(output, noise, _bands.Spatial(band));
            var x = _bands.Extract(_job.Latents, band);
            StepBand(schedulers[band.Index], noise, i, x, band);
            RequireFinite(x, i, band);
            _bands.Insert(x, _job.Latents, band);
            if (_pipe is not null && !_first && i < _steps - 1)
            {
                using var t = _ops.FromHost(x, x.Length);
                _pipe.Send(t, 0, LatentTag);
            }
        }

        /// <summary>The per-step check of the standard loop, on the band the last stage just stepped (one host pass,
        /// far below a step): a NaN stops the run at the step and patch that made it, before the band goes back to
        /// stage 0. The other ranks, waiting on this one, end through the world's abort (in-process) or the closed
        /// link (across processes), so none waits out a timeout.</summary>
        void RequireFinite(float[] x, int i, PatchBand band)
            => FiniteCheck.Require(x, $"after denoising step {i + 1} of {_steps}, patch {band.Index + 1} of {_geo.Count}, the latents",
                "the transformer's output or the guidance produced it (a NaN or infinite weight, or an overflow)");

        /// <summary>Receives the previous stage's activations (unless stage 0), runs this stage's blocks, and sends
        /// them on (unless the last stage). Long skips (HunyuanDiT) go straight from the stage that made them to the
        /// stage that joins them (xDiT's stage r ↔ N−1−r), once per patch, so each patch keeps its own: received
        /// ones go under what this stage keeps itself, which its own blocks join first.</summary>
        void RunStage(int i, DitState state, StaleKvAttention attention)
        {
            if (!_first)
            {
                var image = _ops.Empty(state.Image.DType, _rowCount, state.TokenCount, _hidden);
                Replace(state, image, isText: false);
                _pipe!.Recv(image, _stage - 1, HiddenTag);
                if (_carriesText)
                {
                    var text = _ops.Empty(state.Text!.DType, _textShape!);
                    Replace(state, text, isText: true);
                    _pipe.Recv(text, _stage - 1, TextTag);
                }
            }
            foreach (var (from, _) in _skipsIn)
            {
                var skip = _ops.Empty(state.Image.DType, state.Image.Dims);
                state.PushSkip(skip, own: true);
                _pipe!.Recv(skip, StageOf(from), SkipTag);
            }
            var (b0, nb) = _loop.Blocks;
            for (int b = b0; b < b0 + nb; b++) _model.RunBlock(_ops, b, state, attention);
            if (state.Skips.Count != _skipsOut.Length)
                throw new InvalidOperationException($"PipeFusion stage {_stage}: the state holds {state.Skips.Count} long skips after blocks {b0}..{b0 + nb - 1}, the model's skip pairs say {_skipsOut.Length}");
            for (int k = 0; k < _skipsOut.Length; k++) _pipe!.Send(state.Skips[k], StageOf(_skipsOut[k].To), SkipTag);
            if (!_last)
            {
                _pipe!.Send(state.Image, _stage + 1, HiddenTag);
                if (_carriesText) _pipe.Send(state.Text!, _stage + 1, TextTag);
            }
        }

        /// <summary>The stage that runs <paramref name="block"/>.</summary>
        int StageOf(int block)
        {
            for (int s = 0; s < _stages; s++)
            {
                var (start, count) = PatchGeometry.StageBlocks(_model.NumBlocks, _stages, s);
                if (block >= start && block < start + count) return s;
            }
            throw new ArgumentOutOfRangeException(nameof(block), $"block {block} is outside the transformer's {_model.NumBlocks} blocks");
        }

        /// <summary>The model output of the held rows for a band of <paramref name="gridRows"/> token rows (the
        /// whole image in warmup), gathered over the sp group (tokens, in sp-rank order) and cfg (rows): host [Rows, OutChannels, spatial].</summary>
        float[] Predict(DitState state, int gridRows)
        {
            using var local = _model.Finish(_ops, state);
            using var tokens = _spGroup is null ? null : _spGroup.AllGather(local, 1);
            var all = tokens ?? local;
            // Unpatchify reads only the grid from the state: a band is a grid of fewer rows.
            var band = new DitState { Image = all, Conditioning = all, TotalTokens = all.Dim(1), GridH = gridRows, GridW = _geo.GridW };
            using var output = _model.Unpatchify(_ops, all, band);
            using var rows = _cfg is null ? null : _cfg.AllGather(output, 0);
            return _ops.ToHost(rows ?? output);
        }

        void RecvLatent(float[] into)
        {
            using var t = _ops.Empty(DType.F32, into.Length);
            _pipe!.Recv(t, _stages - 1, LatentTag);
            _ops.ToHost(t).CopyTo(into, 0);
        }

        /// <summary>Embeds a step's inputs for this rank's rows (all rows, or its cfg half). Stages after the first
        /// only need the conditioning and text, so they embed zeros and replace the image tokens.</summary>
        DitState Embed(int i, float[] latent)
        {
            var shape = new[] { _job.Rows }.Concat(_job.LatentShape).ToArray();
            using var x = _ops.FromHost(_job.ModelInput(latent, i), shape);
            var inputs = _job.BuildInputs(_ops, x, i);
            if (_rowCount != _job.Rows) inputs = DitInputRows.Slice(inputs, _rowStart, _rowCount);
            return _model.Embed(_ops, inputs);
        }

        static void Replace(DitState state, Tensor next, bool isText)
        {
            var old = isText ? state.Text : state.Image;
            if (isText) state.Text = next; else state.Image = next;
            state.Own(next);
            if (old is not null && state.Owned.Remove(old)) old.Dispose();
        }
    }
}

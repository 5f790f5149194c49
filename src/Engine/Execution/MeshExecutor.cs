using XDit.Comm;
using XDit.Engine.Parallel;
using XDit.Kernels;
using XDit.Models;
using XDit.Runtime;

namespace XDit.Engine.Execution;

/// <summary>
/// CFG parallel × sequence parallel (Ulysses × Ring) behind <see cref="IDenoiseExecutor"/>; the model never sees
/// ranks, only a sliced <see cref="DitInputs"/>, a sharded <see cref="DitState"/> and a USP <see cref="IAttention"/>.
/// Per step, on rank r of the mesh:
/// <list type="number">
/// <item>CFG (mesh.Cfg ways): the rows are cut into Cfg equal parts and cfg coordinate c takes part c, so with
/// [negative; positive] rows coordinate 0 runs the negative half and 1 the positive one (xDiT's split).</item>
/// <item>SP (mesh.Sp = U·R ways): Embed on the whole input, keep image-token shard sp = ulysses + U·ring
/// (<see cref="DeviceMesh.SequenceShard"/>, the order <see cref="UspAttention"/> expects), run every block with
/// USP attention, Finish the local tokens, all-gather them over the sp group (axis 1), Unpatchify the full set.</item>
/// <item>CFG again: one all-gather of the model output over the cfg group along the batch axis, so every rank
/// returns all rows.</item>
/// </list>
/// The latents are split once and gathered once per step (never per layer: only attention talks inside blocks).
/// Data parallelism is outside (<see cref="DataParallel"/>); PipeFusion replaces the whole loop and is refused here.
/// </summary>
public sealed class MeshExecutor : IDenoiseExecutor
{
    readonly ICommunicator _world;
    readonly ICommunicator? _cfg, _sp;
    readonly IAttention _attention;

    public MeshExecutor(DeviceMesh mesh, ICommunicator world)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(world);
        if (world.Size != mesh.WorldSize)
            throw new ArgumentException($"mesh {mesh} needs a world communicator of {mesh.WorldSize} ranks, got {world.Size}");
        if (mesh.Pipe > 1)
            throw new NotSupportedException($"mesh {mesh}: PipeFusion (pipefusion {mesh.Pipe}) overlaps steps and needs its own denoise loop, not a per-step executor");
        Mesh = mesh;
        _world = world;
        Coord = mesh.CoordOf(world.Rank);
        if (mesh.Cfg > 1) _cfg = mesh.Communicator(world, MeshAxis.Cfg);
        if (mesh.Sp > 1) _sp = mesh.Communicator(world, MeshAxis.Sp);
        _attention = mesh.Sp > 1 ? UspAttention.For(mesh, world) : LocalAttention.Instance;
    }

    public DeviceMesh Mesh { get; }
    /// <summary>This rank's position on the mesh.</summary>
    public MeshCoord Coord { get; }

    /// <summary>
    /// Checks that <paramref name="model"/> with <paramref name="imageTokens"/> tokens (and <paramref name="rows"/>
    /// batch rows when given) can run on the mesh: rows split over cfg, heads over ulysses, tokens over sp.
    /// Predict makes the same checks (tokens right after Embed); every rank checks the same numbers, so all of
    /// them fail together before any collective (no rank is left waiting).
    /// </summary>
    public void Validate(DiffusionTransformer model, int imageTokens, int? rows = null)
    {
        ValidateRowsAndHeads(model, rows ?? Mesh.Cfg);
        ValidateTokens(model, imageTokens);
    }

    public Tensor Predict(IOps ops, DiffusionTransformer model, DitInputs inputs, int step)
    {
        int rows = DitInputRows.Count(inputs);
        ValidateRowsAndHeads(model, rows);

        var local = inputs;
        if (_cfg is not null)
        {
            int part = rows / Mesh.Cfg;
            local = DitInputRows.Slice(inputs, Coord.Cfg * part, part);
        }

        var output = _sp is null ? model.Forward(ops, local) : SequenceParallelForward(ops, model, local);
        if (_cfg is null) return output;
        using (output)
            return Gather(_cfg, ops, output, 0);
    }

    Tensor SequenceParallelForward(IOps ops, DiffusionTransformer model, DitInputs inputs)
    {
        using var state = model.Embed(ops, inputs);
        ValidateTokens(model, state.TotalTokens);
        var (start, count) = Mesh.SequenceShard(_world.Rank, state.TotalTokens);
        state.Shard(ops, start, count);
        for (int i = 0; i < model.NumBlocks; i++) model.RunBlock(ops, i, state, _attention);
        using var localTokens = model.Finish(ops, state);
        using var tokens = Gather(_sp!, ops, localTokens, 1);
        return model.Unpatchify(ops, tokens, state);
    }

    void ValidateRowsAndHeads(DiffusionTransformer model, int rows)
    {
        if (rows % Mesh.Cfg != 0)
            throw new ArgumentException($"{rows} batch rows do not split over cfg degree {Mesh.Cfg} ({Mesh}); CFG parallel needs the [negative; positive] rows of guidance, a multiple of {Mesh.Cfg}");
        if (model.NumHeads % Mesh.Ulysses != 0)
            throw new ArgumentException($"{model.GetType().Name} has {model.NumHeads} attention heads, which do not divide by the ulysses degree {Mesh.Ulysses} ({Mesh}); choose a ulysses degree that divides {model.NumHeads} (ring covers the rest)");
    }

    void ValidateTokens(DiffusionTransformer model, int tokens)
    {
        if (tokens % Mesh.Sp != 0)
            throw new ArgumentException($"{model.GetType().Name}: {tokens} image tokens do not split evenly over sequence-parallel degree {Mesh.Sp} (ulysses {Mesh.Ulysses} × ring {Mesh.Ring}); choose degrees whose product divides {tokens}, or another image size");
    }

    /// <summary>All-gather along <paramref name="axis"/>, returned on <paramref name="ops"/>. The communicator
    /// allocates from its own backend; when the caller's backend is another instance (a pipeline that made its own
    /// ops) the tensors cross through the host, once each way.</summary>
    static Tensor Gather(ICommunicator group, IOps ops, Tensor t, int axis)
    {
        if (ReferenceEquals(group.Ops, ops)) return group.AllGather(t, axis);
        using var mine = group.Ops.FromHost(ops.ToHost(t), t.Dims);
        using var all = group.AllGather(mine, axis);
        return ops.FromHost(group.Ops.ToHost(all), all.Dims);
    }
}

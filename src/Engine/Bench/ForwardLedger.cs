using XDit.Kernels;
using XDit.Kernels.Cuda;
using XDit.Kernels.Ledger;
using XDit.Models;
using XDit.Models.Flux;
using XDit.Runtime;
using XDit.Runtime.Cuda;

namespace XDit.Engine.Bench;

/// <summary>
/// The launch ledger of one transformer forward (`xdit bench --what forward --ledger`): the workload's model runs
/// its stages through <see cref="LedgerOps"/>, each in its scope ("embed", "block i", or Flux's "double i" and
/// "single i", then "finish"), and the ops add up per kind and per block (<see cref="LedgerReport"/>). With
/// <paramref name="time"/> on a CUDA backend, one warm-up forward runs first (kernel compiles, the arena filled)
/// and the recorded one is timed op by op with CUDA events, and as a whole.
/// </summary>
public static class ForwardLedger
{
    public static LedgerReport Run(IOps ops, IStepWorkload workload, GpuSpec gpu, bool time, string device)
    {
        using var model = workload.Load(ops);
        var owned = new List<Tensor>();
        bool checkWas = (ops as CudaOps)?.CheckCudnnAttention ?? false;
        try
        {
            var inputs = workload.Inputs(ops, owned);
            var cuda = time ? ops as CudaOps : null;
            if (cuda is not null)
            {
                model.Forward(ops, inputs).Dispose();   // warm-up, where cuDNN plans also get their first-run check
                cuda.Synchronize();
            }
            // the ledger counts the forward's own launches: a cuDNN plan's first-run check (our kernel beside it) is not
            // one of them, and in no-exec mode there is nothing to check
            if (ops is CudaOps c) c.CheckCudnnAttention = false;
            var ledger = Record(ops, model, inputs, cuda, out double? measured);
            return LedgerReport.From(ledger, workload.Description, device, gpu, measured, ops.Allocator.PeakBytesInUse);
        }
        finally
        {
            if (ops is CudaOps c) c.CheckCudnnAttention = checkWas;
            foreach (var t in owned) t.Dispose();
        }
    }

    /// <summary>One forward of <paramref name="model"/> through a ledger; with <paramref name="timeOn"/>, each op
    /// and the whole pass timed on its stream (<paramref name="measuredMs"/>, else null).</summary>
    public static LaunchLedger Record(IOps ops, DiffusionTransformer model, DitInputs inputs, CudaOps? timeOn, out double? measuredMs)
    {
        var ledger = new LaunchLedger();
        using var timer = timeOn is null ? null : new CudaEventTimer(timeOn);
        using var start = timeOn is null ? null : new CudaEvent(timing: true);
        using var stop = timeOn is null ? null : new CudaEvent(timing: true);
        using (var lops = new LedgerOps(ops, ledger, timer))
        {
            if (timeOn is not null) start!.Record(timeOn.Stream);
            if (!model.HasTokenStages)
            {
                // a denoiser without token stages (SDXL's UNet) is one scope
                using (ledger.Scope("forward")) model.Forward(lops, inputs, LocalAttention.Instance).Dispose();
                if (timeOn is not null) stop!.Record(timeOn.Stream);
                timer?.Resolve();
                measuredMs = stop?.ElapsedSince(start!);
                return ledger;
            }
            DitState state;
            using (ledger.Scope("embed")) state = model.Embed(lops, inputs);
            using (state)
            {
                for (int i = 0; i < model.NumBlocks; i++)
                    using (ledger.Scope(BlockName(model, i))) model.RunBlock(lops, i, state, LocalAttention.Instance);
                using (ledger.Scope("finish"))
                {
                    using var tokens = model.Finish(lops, state);
                    model.Unpatchify(lops, tokens, state).Dispose();
                }
            }
            if (timeOn is not null) stop!.Record(timeOn.Stream);
        }
        timer?.Resolve();
        measuredMs = stop?.ElapsedSince(start!);
        return ledger;
    }

    /// <summary>"block i", or for Flux "double i" and "single i" (numbered within their kind).</summary>
    public static string BlockName(DiffusionTransformer model, int index) => model switch
    {
        FluxTransformer flux when index < flux.Config.NumLayers => $"double {index}",
        FluxTransformer flux => $"single {index - flux.Config.NumLayers}",
        _ => $"block {index}",
    };
}

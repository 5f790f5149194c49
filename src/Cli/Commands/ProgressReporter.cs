using System.Diagnostics;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>
/// Shows progress on stderr. On a terminal, a bar redrawn in place per denoising step. Otherwise (a log file, a pipe,
/// CI) one plain line per stage when it ends ("denoise: 20 steps, 12.3 ms/step"), never a line per step.
/// </summary>
public sealed class ProgressReporter(bool enabled, bool? terminal = null)
{
    readonly bool _tty = terminal ?? !Console.IsErrorRedirected;
    bool _open;
    TimeSpan _stageTime;

    public TimeSpan LoadTime { get; private set; }

    public T Stage<T>(string name, Func<T> work)
    {
        var sw = Stopwatch.StartNew();
        var result = work();
        LoadTime = sw.Elapsed;
        return result;
    }

    public void Step(PipelineProgress p)
    {
        if (!enabled) return;
        if (!_tty)
        {
            // the last step of a stage closes it with one line; a stage of one step (encode, decode) is named with its time
            _stageTime += p.StepTime;
            if (p.Step < p.TotalSteps) return;
            var ms = _stageTime.TotalMilliseconds;
            Console.Error.WriteLine(p.TotalSteps > 1 ? $"{p.Stage}: {p.TotalSteps} steps, {ms:F1} ms ({ms / p.TotalSteps:F1} ms/step)" : $"{p.Stage}: {ms:F1} ms");
            _stageTime = TimeSpan.Zero;
            return;
        }
        if (p.TotalSteps <= 1) return; // the stage timings printed at the end cover one-step stages on a terminal
        const int width = 30;
        int filled = p.TotalSteps == 0 ? width : p.Step * width / p.TotalSteps;
        var line = $"{p.Stage} [{new string('#', filled)}{new string('.', width - filled)}] {p.Step}/{p.TotalSteps}  {p.StepTime.TotalMilliseconds:F1} ms/step";
        Console.Error.Write("\r" + line);
        _open = true;
        if (p.Step == p.TotalSteps) Done();
    }

    public void Done()
    {
        if (_open) { Console.Error.WriteLine(); _open = false; }
    }
}

using System.Diagnostics;
using XDit.Engine.Pipelines;

namespace XDit.Cli.Commands;

/// <summary>Shows denoising progress on stderr: a bar redrawn in place on a terminal, one line per step otherwise.</summary>
public sealed class ProgressReporter(bool enabled)
{
    readonly bool _tty = !Console.IsErrorRedirected;
    bool _open;

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
        const int width = 30;
        int filled = p.TotalSteps == 0 ? width : p.Step * width / p.TotalSteps;
        var line = $"{p.Stage} [{new string('#', filled)}{new string('.', width - filled)}] {p.Step}/{p.TotalSteps}  {p.StepTime.TotalMilliseconds:F1} ms/step";
        if (_tty) { Console.Error.Write("\r" + line); _open = true; }
        else Console.Error.WriteLine(line);
    }

    public void Done()
    {
        if (_open) { Console.Error.WriteLine(); _open = false; }
    }
}

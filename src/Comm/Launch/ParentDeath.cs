using System.Globalization;
using System.Runtime.InteropServices;

namespace XDit.Comm.Launch;

/// <summary>
/// Ties a process started by `xdit launch` to its launcher: on Linux the kernel sends it SIGKILL the moment the
/// launcher ends, however it ends (SIGKILL included, where the launcher has no chance to stop its ranks), so no rank
/// is re-parented to init and finishes its work unseen. The launcher passes its process id in
/// <see cref="LauncherPidVar"/>; a rank whose parent is already another process (the launcher died before the rank
/// armed the signal) exits at once. Elsewhere the launcher's own kill on exit and SIGTERM forwarding remain.
/// </summary>
public static partial class ParentDeath
{
    public const string LauncherPidVar = "XDIT_LAUNCHER_PID";
    const int PR_SET_PDEATHSIG = 1, SIGKILL = 9;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    private static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "getppid")]
    private static partial int GetParentPid();

    /// <summary>
    /// Arms the parent-death signal when this process was started by a launcher (its variable set). Returns false,
    /// after writing why to <paramref name="log"/>, when the launcher is already gone: the caller must exit.
    /// </summary>
    public static bool Arm(TextWriter log, Func<string, string?>? get = null)
    {
        get ??= Environment.GetEnvironmentVariable;
        if (get(LauncherPidVar) is not { Length: > 0 } text) return true;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int launcher))
        {
            log.WriteLine($"xdit: {LauncherPidVar}='{text}' is not a process id");
            return false;
        }
        if (!OperatingSystem.IsLinux()) return true;
        if (Prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        {
            log.WriteLine($"xdit: warning: prctl(PR_SET_PDEATHSIG) failed (errno {Marshal.GetLastPInvokeError()}); this rank may outlive its launcher");
            return true;
        }
        // Armed only now: a launcher that died before this point left the rank with another parent.
        if (GetParentPid() != launcher)
        {
            log.WriteLine($"xdit: the launcher (process {launcher}) is gone; this rank stops");
            return false;
        }
        return true;
    }
}

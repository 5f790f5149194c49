using System.Runtime.InteropServices;

namespace XDit.Runtime.Cuda;

/// <summary>
/// The CPU emulator's no-exec mode (native/emu/no_exec.cpp), where the stand-in driver and libraries check and
/// queue work but run none of it and leave fresh device memory uncommitted: the launch ledger of a real-size model
/// on a machine without a GPU. Only the emulator's driver library has the switch; on a real driver it is absent.
/// </summary>
public static unsafe class EmulatorNoExec
{
    /// <summary>Sets the calling thread's mode (1 on, 0 off, −1 as XDIT_EMU_NO_EXEC says) and returns whether it
    /// was on; null where the loaded CUDA driver is not the emulator.</summary>
    public static bool? Set(int mode)
    {
        var driver = CudaLibraries.Load(CudaLibraries.DriverSpec);
        if (!driver.Found || !NativeLibrary.TryGetExport(driver.Handle, "xdit_emu_no_exec", out var f)) return null;
        return ((delegate* unmanaged<int, int>)f)(mode) != 0;
    }

    /// <summary>Whether the calling thread's work is only checked and queued (XDIT_EMU_NO_EXEC=1, or <see cref="Set"/>),
    /// leaving the mode as it was; false where the loaded CUDA driver is not the emulator.</summary>
    public static bool IsOn()
    {
        if (Set(1) is not bool was) return false;
        Set(was ? 1 : 0);   // as it was: the process's setting is read once, so an explicit copy of it acts the same
        return was;
    }
}

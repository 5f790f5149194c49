namespace XDit.Tests.Serving;

/// <summary>Tests that compare the process's managed heap before and after their work (GC.GetTotalMemory): the heap
/// is process-wide, so another test allocating beside them would read as their leak. They run alone.</summary>
[CollectionDefinition("ProcessMemory", DisableParallelization = true)]
public sealed class ProcessMemoryCollection;

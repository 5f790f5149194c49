namespace XDit.Tests.Runtime;

/// <summary>Tests that redirect Console.Out/Console.Error: they must not run beside each other (or beside anything
/// else that writes to the console), since the console is process-wide.</summary>
[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

// ILOnly DIR: rewrites every ReadyToRun assembly in DIR as IL alone, in place, and prints what it did.
//
// The framework assemblies of the .NET runtime carry ahead-of-time native code beside their IL (ReadyToRun), which
// only spares the JIT at startup. tests/gpu-pack.sh packs the runtime for a lent GPU machine, where everything
// carried counts against 64 MiB: IL alone packs to less than half (xz: 18.1 → 8.4 MiB, System.Private.CoreLib 4.6 →
// 1.2 MiB). The cost is the JIT compiling the framework code a process uses, about 0.1-0.3 s a process measured here.
// Same metadata and IL, so the same behaviour: the runtime runs an IL-only assembly as it runs ours.
using System.Reflection.PortableExecutable;
using Mono.Cecil;

if (args.Length != 1 || !Directory.Exists(args[0]))
{
    Console.Error.WriteLine("usage: ILOnly DIR (a folder of assemblies, e.g. shared/Microsoft.NETCore.App/VERSION)");
    return 2;
}
var dir = args[0];
var resolver = new DefaultAssemblyResolver();
resolver.AddSearchDirectory(dir);
int count = 0;
long before = 0, after = 0;
foreach (var path in Directory.GetFiles(dir, "*.dll").Order(StringComparer.Ordinal))
{
    using (var pe = new PEReader(File.OpenRead(path)))
    {
        // a ReadyToRun image names its native code in the CLI header's ManagedNativeHeader directory
        if (!pe.HasMetadata || pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size == 0) continue;
    }
    var tmp = path + ".il";
    using (var module = ModuleDefinition.ReadModule(path, new ReaderParameters { AssemblyResolver = resolver }))
    {
        // a ReadyToRun image's machine is the processor's xor an OS tag (Linux x64: 0x8664 ^ 0x7B79 = 0xFD1D), which
        // the loader accepts only with native code present: written back as a plain x64 IL image
        if (((ushort)module.Architecture ^ 0x7B79) != (ushort)TargetArchitecture.AMD64)
            throw new InvalidDataException($"{path}: machine 0x{(ushort)module.Architecture:X4}, expected a Linux x64 ReadyToRun image (0xFD1D)");
        module.Architecture = TargetArchitecture.AMD64;
        module.Attributes |= ModuleAttributes.ILOnly;
        module.Write(tmp);
    }
    before += new FileInfo(path).Length;
    after += new FileInfo(tmp).Length;
    File.Move(tmp, path, overwrite: true);
    count++;
}
Console.WriteLine($"ILOnly: {count} ReadyToRun assemblies rewritten IL-only, {before} -> {after} bytes");
return 0;

using System.CommandLine;
using XDit.Engine.Backends;
using XDit.Engine.Verify;

namespace XDit.Cli.Commands;

/// <summary>`xdit verify DIR`: runs one golden fixture and prints, per output, the relative and max abs error, then
/// PASS or FAIL (exit 0 or 1).</summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("dir") { Description = "fixture folder (meta.json, io.safetensors, config and weights)" };
        var device = new Option<string>("--device") { Description = "cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "f32, bf16 or f16 [default: the backend's]" };
        var tolerance = new Option<double?>("--tolerance") { Description = "bound on ‖out − ref‖/‖ref‖ [default: 1e-4 f32, 2e-2 bf16, 5e-3 f16]" };
        var cmd = new Command("verify", "Run a golden fixture and compare every output with the reference");
        cmd.Arguments.Add(dir);
        cmd.Options.Add(device);
        cmd.Options.Add(dtype);
        cmd.Options.Add(tolerance);
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var path = parse.GetValue(dir)!;
            using var ops = BackendFactory.Create(parse.GetValue(device)!, DTypeNames.Parse(parse.GetValue(dtype)));
            var results = FixtureVerifier.Verify(path, ops, parse.GetValue(tolerance));
            Console.WriteLine($"{Path.GetFileName(Path.GetFullPath(path).TrimEnd('/'))} on {ops.Name} ({ops.ActivationType})");
            foreach (var r in results)
                Console.WriteLine(r.Problem is null
                    ? $"  {r.Name,-32} rel {r.RelativeError,9:0.00e+00}  max abs {r.MaxAbsError,9:0.00e+00}  (tolerance {r.Tolerance:0e+00})  {(r.Passed ? "ok" : "too large")}"
                    : $"  {r.Name,-32} {r.Problem}");
            bool pass = results.Count > 0 && results.All(r => r.Passed);
            // a whole pipeline lists its stages in order: the first miss is where the difference starts
            if (results.FirstOrDefault(r => !r.Passed) is { } first && results.Count > 1)
                Console.WriteLine($"first difference: {first.Name}");
            Console.WriteLine(pass ? "PASS" : "FAIL");
            return pass ? 0 : 1;
        }));
        return cmd;
    }
}

using System.CommandLine;
using XDit.Engine.Inspect;

namespace XDit.Cli.Commands;

/// <summary>`xdit inspect PATH`: what a weights file, a model folder or a diffusers pipeline folder holds: tensors,
/// parameters and bytes per component; with --tensors, then every tensor (name, dtype, shape).</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a .safetensors file, a model folder (config.json + weights) or a diffusers pipeline folder (model_index.json)" };
        var tensors = new Option<bool>("--tensors", "-t") { Description = "After the summary, list every tensor (name, dtype, shape) per component" };
        var command = new Command("inspect", "Show the tensors, parameters and bytes per component of a checkpoint (--tensors lists each tensor)");
        command.Arguments.Add(path);
        command.Options.Add(tensors);
        command.SetAction(parseResult => CliErrors.Run(() =>
        {
            var inspection = ModelInspector.Inspect(parseResult.GetValue(path)!);
            ModelInspector.Print(inspection, Console.Out, parseResult.GetValue(tensors));
            return 0;
        }));
        return command;
    }
}

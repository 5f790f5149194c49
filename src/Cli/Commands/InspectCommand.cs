using System.CommandLine;
using XDit.Engine.Inspect;

namespace XDit.Cli.Commands;

/// <summary>`xdit inspect PATH`: lists the tensors (name, dtype, shape) of a weights file, a model folder or a
/// diffusers pipeline folder, then parameters and bytes per component.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "a .safetensors file, a model folder (config.json + weights) or a diffusers pipeline folder (model_index.json)" };
        var command = new Command("inspect", "List the tensors of a checkpoint and the parameters and bytes per component");
        command.Arguments.Add(path);
        command.SetAction(parseResult => CliErrors.Run(() =>
        {
            var inspection = ModelInspector.Inspect(parseResult.GetValue(path)!);
            ModelInspector.Print(inspection, Console.Out);
            return 0;
        }));
        return command;
    }
}

namespace XDit.Cli.Commands;

/// <summary>Turns the errors a user can cause into one line on stderr and exit code 1; bugs keep their stack trace.</summary>
public static class CliErrors
{
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"xdit: {e.Message}");
            return 1;
        }
    }

    static bool IsUserError(Exception e) => e is IOException or UnauthorizedAccessException or ArgumentException
        or FormatException or InvalidDataException or NotSupportedException or KeyNotFoundException
        or XDit.Runtime.SafetensorsFormatException or XDit.Runtime.MissingTensorException or XDit.Models.WeightShapeException
        or System.Text.Json.JsonException;
}

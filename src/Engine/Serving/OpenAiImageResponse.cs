
namespace XDit.Engine.Serving;

/// <summary>The OpenAI images answer: {"created": unix seconds, "data": [{"b64_json": PNG}, ...]}, and its error
/// shape {"error": {"message", "type", "param"}}, which the OpenAI clients read.</summary>
public static class OpenAiImageResponse
{
    public static string Build(ServedGeneration served, DateTimeOffset now) =>
        ServeResponse.Serialize(new Dictionary<string, object?>
        {
            ["created"] = now.ToUnixTimeSeconds(),
            ["data"] = served.Result.Images.Select(i => new Dictionary<string, string> { ["b64_json"] = Convert.ToBase64String(ServeResponse.EncodePng(i)) }).ToList(),
        });

    public static string Error(string message, string? field, int status) =>
        ServeResponse.Serialize(new Dictionary<string, object?>
        {
            ["error"] = new Dictionary<string, object?>
            {
                ["message"] = message,
                ["type"] = status < 500 ? "invalid_request_error" : "server_error",
                ["param"] = field,
            },
        });
}

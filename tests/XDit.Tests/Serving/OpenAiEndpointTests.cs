using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace XDit.Tests.Serving;

/// <summary>POST /v1/images/generations answers requests shaped as the OpenAI client sends them, GET /openapi.json
/// describes the service, and a request the model refuses is a 400, never a 500.</summary>
public class OpenAiEndpointTests
{
    /// <summary>What the OpenAI Python client (openai 1.x) sends for
    /// client.images.generate(model=..., prompt=..., n=2, size="24x16", response_format="b64_json",
    /// extra_body={"num_inference_steps": 2, "seed": 7}): its JSON with the extra fields merged in, a bearer key and
    /// its own headers.</summary>
    static async Task<HttpResponseMessage> PostAsOpenAiClient(ServeTestServer server, string json)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, "v1/images/generations") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-not-checked");
        message.Headers.UserAgent.ParseAdd("OpenAI/Python 1.54.0");
        message.Headers.Add("X-Stainless-Lang", "python");
        message.Headers.Accept.ParseAdd("application/json");
        return await server.Client.SendAsync(message, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task AnOpenAiClientRequestGetsItsImagesAsB64JsonPngsOfTheAskedSize()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 2);
        var response = await PostAsOpenAiClient(server,
            """{"prompt":"a red circle","model":"xdit-demo","n":2,"size":"24x16","response_format":"b64_json","num_inference_steps":2,"seed":7}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await server.Json(response);
        Assert.True(body.GetProperty("created").GetInt64() > 1_600_000_000);
        var data = body.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(2, data.Count);
        for (int i = 0; i < data.Count; i++)
        {
            var file = Path.Combine(TestPaths.TempDir(), $"openai_{i}.png");
            File.WriteAllBytes(file, Convert.FromBase64String(data[i].GetProperty("b64_json").GetString()!));
            var rgb = PngPixels.ReadRgb(file, out int width, out int height);
            Assert.Equal((24, 16), (width, height));
            Assert.Equal((byte)Math.Round((7 + i) / 255f * 255), rgb[0]); // the fake's colour for seed 7 + i: the seed arrived
        }
    }

    [Theory]
    [InlineData("""{"prompt":"x","response_format":"url"}""", "response_format", "b64_json")]
    [InlineData("""{"prompt":"x","size":"big"}""", "size", "WIDTHxHEIGHT")]
    [InlineData("""{"prompt":"x","size":"20x16"}""", "size", "multiple of 8")]
    [InlineData("""{"prompt":"x","n":0}""", "n", "positive")]
    [InlineData("""{"prompt":"x","quality":"hd"}""", "quality", "unknown field")]
    [InlineData("""{"n":1}""", "prompt", "required")]
    public async Task ARefusedRequestIs400InOpenAisErrorShapeNamingTheParam(string json, string param, string says)
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var response = await PostAsOpenAiClient(server, json);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await server.Json(response)).GetProperty("error");
        Assert.Equal(("invalid_request_error", param), (error.GetProperty("type").GetString(), error.GetProperty("param").GetString()));
        Assert.Contains(says, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task ARequestTheModelRefusesWhenItRunsIs400NotA500()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var refused = await server.Post("""{"prompt":"refuse"}""");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("the model refused the request: prompt_2", (await server.Json(refused)).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await server.Post("""{"prompt":"fine"}""")).StatusCode);
    }

    [Fact]
    public async Task OpenApiJsonDescribesBothGenerationEndpointsAndEveryFieldTheParsersTake()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var response = await server.Get("openapi.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = await server.Json(response);
        Assert.Equal("3.0.3", doc.GetProperty("openapi").GetString());
        var paths = doc.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/generate", paths);
        Assert.Contains("/v1/images/generations", paths);
        // every field the /generate parser takes is described (a field added to one and not the other fails here)
        var described = doc.GetProperty("components").GetProperty("schemas").GetProperty("GenerateRequest").GetProperty("properties")
            .EnumerateObject().Select(p => p.Name).Order().ToList();
        var parsed = typeof(XDit.Engine.Serving.ServeRequest).GetField("Known", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .GetValue(null) as string[];
        Assert.Equal(parsed!.Order().ToList(), described);
    }
}

using System.Net;
using System.Text.Json;
using XDit.Cli.Commands;
using XDit.Engine.Pipelines;
using XDit.Engine.Serving;

namespace XDit.Tests.Serving;

/// <summary>The service over HTTP on 127.0.0.1 (free port): the demo model end to end, and the queue's answers with a gated fake.</summary>
public class ServeHttpTests
{
    [Fact]
    public async Task APostOnTheDemoModelReturnsThePngOfTheAskedSizeThatTheSameRequestDrawsDirectly()
    {
        var pipeline = PipelineLoader.Load(TestPaths.DemoModel);
        int m = pipeline.SizeMultiple, height = 4 * m, width = 2 * m;
        await using var server = await ServeTestServer.StartAsync(new PipelineImageGenerator(pipeline, "demo"), queueSize: 2);

        var response = await server.Post($$"""{"prompt":"a red circle on a blue background","num_inference_steps":2,"height":{{height}},"width":{{width}},"seed":11}""");
        var body = await server.Json(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.Equal((height, width, 11UL, 2), (body.GetProperty("height").GetInt32(), body.GetProperty("width").GetInt32(), body.GetProperty("seed").GetUInt64(), body.GetProperty("steps").GetInt32()));
        var timings = body.GetProperty("timings");
        foreach (var stage in new[] { "queue_ms", "encode_ms", "denoise_ms", "decode_ms", "total_ms" })
            Assert.True(timings.GetProperty(stage).GetDouble() >= 0, stage);
        var images = body.GetProperty("images").EnumerateArray().Select(e => e.GetString()!).ToList();
        var png = Path.Combine(TestPaths.TempDir(), "served.png");
        File.WriteAllBytes(png, Convert.FromBase64String(Assert.Single(images)));
        var served = PngPixels.ReadRgb(png, out int w, out int h);
        Assert.Equal((height, width), (h, w));

        var health = await server.Json(await server.Get("health"));
        Assert.True(health.GetProperty("ok").GetBoolean());
        Assert.Equal("demo", health.GetProperty("model").GetString());
        Assert.Equal((0, false), (health.GetProperty("queue_length").GetInt32(), health.GetProperty("busy").GetBoolean()));
        var metrics = await server.Json(await server.Get("metrics"));
        Assert.Equal(1, metrics.GetProperty("served").GetInt64());
        Assert.True(metrics.GetProperty("mean_ms").GetDouble() > 0);

        await server.Host.StopAsync(); // the worker is done with the pipeline: the test may use it
        var direct = pipeline.Generate(new GenerationRequest { Prompts = ["a red circle on a blue background"], NumInferenceSteps = 2, Height = height, Width = width, Seed = 11 });
        var want = direct.Images[0].ToRgb8();
        int maxDiff = want.Zip(served, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(maxDiff <= 1, $"the served PNG differs from a direct generation by {maxDiff} levels");
        Assert.True(served.Distinct().Count() > 8, "the image is not a flat colour");
    }

    [Theory]
    [InlineData("""{"prompt":""}""", "prompt")]
    [InlineData("""{"prompt":"x","height":0}""", "height")]
    [InlineData("""{"prompt":"x","num_inference_steps":-2}""", "num_inference_steps")]
    [InlineData("""{"prompt":"x","width":[64]}""", "width")]
    [InlineData("""{"prompt":"x","colour":"red"}""", "colour")]
    [InlineData("""{"prompt": "x",""", null)]
    public async Task ABadRequestGets400NamingTheField(string json, string? field)
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var response = await server.Post(json);
        var body = await server.Json(response);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        if (field is null) Assert.Equal(JsonValueKind.Null, body.GetProperty("field").ValueKind);
        else Assert.Equal(field, body.GetProperty("field").GetString());
        Assert.Contains(field ?? "malformed JSON", body.GetProperty("error").GetString());
        Assert.Empty(((GatedGenerator)server.Generator).Ran);
    }

    [Fact]
    public async Task TheLoopbackServiceAnswersByNameToo()
    {
        // `curl localhost:PORT/health` sends Host: localhost, which a listener on 127.0.0.1 alone answers with 404
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        using var byName = new HttpClient { BaseAddress = new Uri($"http://localhost:{server.Host.Address.Port}/"), Timeout = Within.Bound };
        var r = await byName.GetAsync("health", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
    }

    [Fact]
    public async Task UnknownPathsAndMethodsGet404And405()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Get("nothing")).StatusCode);
        var r = await server.Get("generate");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, r.StatusCode);
        Assert.Contains("POST", r.Content.Headers.Allow);
    }

    [Fact]
    public async Task WithTheWorkerBusyAndTheQueueFullAPostGets429WithRetryAfter()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(), queueSize: 1);
        var startedA = server.On("started", "a");
        var first = server.Post("""{"prompt":"a","seed":3}""");
        await startedA;
        var queuedB = server.On("enqueued", "b");
        var second = server.Post("""{"prompt":"b","seed":4}""");
        await queuedB;

        var refused = await server.Post("""{"prompt":"c"}""");
        Assert.Equal((HttpStatusCode)429, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {refused.Headers.RetryAfter}");
        Assert.Contains("queue is full", (await server.Json(refused)).GetProperty("error").GetString());
        var health = await server.Json(await server.Get("health"));
        Assert.Equal((1, true), (health.GetProperty("queue_length").GetInt32(), health.GetProperty("busy").GetBoolean()));

        ((GatedGenerator)server.Generator).Open();
        var (a, b) = (await Within.Minute(first), await Within.Minute(second));
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (a.StatusCode, b.StatusCode));
        Assert.Equal(4UL, (await server.Json(b)).GetProperty("seed").GetUInt64());
        var metrics = await server.Json(await server.Get("metrics"));
        Assert.Equal((2L, 1L), (metrics.GetProperty("served").GetInt64(), metrics.GetProperty("rejected").GetInt64()));
        Assert.Equal(new[] { "a", "b" }, ((GatedGenerator)server.Generator).Ran);
    }

    // What SIGTERM and Ctrl-C do (ServeCommand.Serve stops the host): the gate never opens, so only the cancellation
    // can end the request in flight.
    [Fact]
    public async Task StoppingAnswersTheQueuedRequest503AndCancelsTheOneInFlight()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(), queueSize: 2);
        var startedA = server.On("started", "a");
        var first = server.Post("""{"prompt":"a","seed":5}""");
        await startedA;
        var queuedB = server.On("enqueued", "b");
        var second = server.Post("""{"prompt":"b"}""");
        await queuedB;

        var stopping = server.Host.StopAsync();
        var b = await Within.Minute(second);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, b.StatusCode);
        Assert.Contains("was not run", (await server.Json(b)).GetProperty("error").GetString());
        var a = await Within.Minute(first);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, a.StatusCode);
        Assert.Contains("cancelled while it ran", (await server.Json(a)).GetProperty("error").GetString());
        await Within.Minute(stopping);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => server.Get("health")); // the listener is closed
        Assert.Equal(new[] { "a" }, ((GatedGenerator)server.Generator).Ran);
        Assert.Equal((0L, 2L), (server.Queue.Metrics.Served, server.Queue.Metrics.Cancelled));
    }

    [Fact]
    public async Task AGenerationErrorGets500WithItsMessageAndTheNextRequestIsServed()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var failed = await server.Post("""{"prompt":"boom"}""");
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Contains("exploded", (await server.Json(failed)).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await server.Post("""{"prompt":"fine"}""")).StatusCode);
        var metrics = await server.Json(await server.Get("metrics"));
        Assert.Equal((1L, 1L), (metrics.GetProperty("served").GetInt64(), metrics.GetProperty("failed").GetInt64()));
    }

    [Fact]
    public async Task OutputTypePathWritesThePngsAndReturnsTheirPaths()
    {
        var dir = TestPaths.TempDir();
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1, new ServeHostOptions { OutputDir = dir });
        var response = await server.Post("""{"prompt":"x","output_type":"path","save_disk_path":"batch","height":16,"width":24,"num_images_per_prompt":2,"seed":200}""");
        var body = await server.Json(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.GetProperty("save_to_disk").GetBoolean());
        var paths = body.GetProperty("images").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(2, paths.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.StartsWith(Path.Combine(dir, "batch") + Path.DirectorySeparatorChar, paths[i]);
            var px = PngPixels.ReadRgb(paths[i], out int w, out int h);
            Assert.Equal((16, 24), (h, w));
            Assert.All(px, v => Assert.Equal(200 + i, v)); // the fake's flat colour: seed + image index
        }
    }
}

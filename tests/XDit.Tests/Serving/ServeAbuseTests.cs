using System.Net;
using System.Text;
using System.Text.Json;
using XDit.Cli.Commands;
using XDit.Engine.Pipelines;

namespace XDit.Tests.Serving;

/// <summary>
/// The service against a hostile or careless client (issue 22): work bounded before queueing, a client that leaves
/// cancels its job, slow and short requests end with a status, files only under the output folder, and every
/// malformed body a 400. No test sleeps: gates, events, end-of-stream and small limits decide every outcome.
/// </summary>
public class ServeAbuseTests
{
    [Theory]
    [InlineData("""{"prompt":"x","num_inference_steps":1000000000}""", "num_inference_steps", "limit 200")]
    [InlineData("""{"prompt":"x","height":100000,"width":100000}""", "height", "more than the limit")]
    [InlineData("""{"prompt":"x","height":4096,"width":4096}""", "height", "more than the limit")]
    [InlineData("""{"prompt":"x","height":2048,"width":2048,"num_images_per_prompt":8}""", "num_images_per_prompt", "per request")]
    [InlineData("""{"prompt":"x","num_images_per_prompt":17}""", "num_images_per_prompt", "limit 16")]
    [InlineData("""{"prompt":"x","guidance_scale":3e38}""", "guidance_scale", "limit")]
    [InlineData("""{"prompt":"x","height":2147483640,"width":2147483640}""", "height", "more than the limit")]
    public async Task WorkBeyondTheServiceLimitsIs400NamingTheFieldAndNothingRuns(string json, string field, string says)
    {
        var gen = new GatedGenerator(open: true);
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1);
        var response = await server.Post(json);
        var body = await server.Json(response);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, body.GetProperty("field").GetString());
        Assert.Contains(says, body.GetProperty("error").GetString());
        Assert.Empty(gen.Ran);
    }

    [Fact]
    public async Task RaisedLimitsLetABiggerRequestThrough()
    {
        var options = ServeCommand.HostOptions(maxSteps: 5000, maxPixels: 4096L * 4096, maxImages: 2, outputDir: null, maxConnections: 8);
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1, options);
        var ok = await server.Post("""{"prompt":"x","num_inference_steps":4000,"height":8,"width":8}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        var tooMany = await server.Post("""{"prompt":"x","num_images_per_prompt":3,"height":8,"width":8}""");
        Assert.Contains("--max-images", (await server.Json(tooMany)).GetProperty("error").GetString());
        Assert.Throws<ArgumentException>(() => ServeCommand.HostOptions(0, 1, 1, null, 1));
        Assert.Throws<ArgumentException>(() => ServeCommand.HostOptions(1, long.MaxValue, 1, null, 1));
    }

    [Fact]
    public async Task ABodyOverTheLimitIs413NamingTheFlagThatRaisesIt()
    {
        // an image to edit travels base64 in the body: 1.2 MB of it is over the default 1 MiB, under --max-body 2M
        string json = $$"""{"prompt":"x","height":8,"width":8,"image":"{{new string('A', 1_200_000)}}"}""";
        var gen = new GatedGenerator(open: true);
        await using (var server = await ServeTestServer.StartAsync(gen, queueSize: 1))
        {
            var refused = await server.Post(json);
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
            Assert.Contains("--max-body", (await server.Json(refused)).GetProperty("error").GetString());
        }
        var raised = ServeCommand.HostOptions(10, 1024, 1, null, 4, maxBody: "2M");
        Assert.Equal(2L << 20, raised.MaxBodyBytes);
        await using (var server = await ServeTestServer.StartAsync(gen, queueSize: 1, raised))
        {
            var read = await server.Post(json);
            // read whole and parsed: the field itself is refused now (not a picture), no longer the size
            Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, read.StatusCode);
            Assert.Equal("image", (await server.Json(read)).GetProperty("field").GetString());
        }
        Assert.Empty(gen.Ran);
        Assert.Throws<ArgumentException>(() => ServeCommand.HostOptions(10, 1024, 1, null, 4, maxBody: "lots"));
    }

    [Fact]
    public async Task AClientThatDisconnectsWhileItsRequestRunsCancelsIt()
    {
        var gen = new GatedGenerator(); // shut: only the cancellation can end the run
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1);
        var started = server.On("started", "leaving");
        var finished = server.On("finished", "leaving");
        using (var client = await RawHttp.ConnectAsync(server.Host.Address))
        {
            var body = Encoding.UTF8.GetBytes("""{"prompt":"leaving"}""");
            await client.PostAsync(body, body.Length);
            await started;
        } // closed while it runs
        await finished;
        Assert.Equal((0L, 1L), (server.Queue.Metrics.Served, server.Queue.Metrics.Cancelled));
        gen.Open();
        Assert.Equal(HttpStatusCode.OK, (await server.Post("""{"prompt":"next"}""")).StatusCode); // the worker is free
    }

    [Fact]
    public async Task AClientThatDisconnectsWhileItsRequestWaitsDropsIt()
    {
        var gen = new GatedGenerator();
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1);
        var startedA = server.On("started", "a");
        var first = server.Post("""{"prompt":"a"}""");
        await startedA;
        var queued = server.On("enqueued", "waiting");
        var dropped = server.On("dropped", "waiting");
        using (var client = await RawHttp.ConnectAsync(server.Host.Address))
        {
            var body = Encoding.UTF8.GetBytes("""{"prompt":"waiting"}""");
            await client.PostAsync(body, body.Length);
            await queued;
        }
        await dropped;
        gen.Open();
        Assert.Equal(HttpStatusCode.OK, (await Within.Minute(first)).StatusCode);
        Assert.Equal(new[] { "a" }, gen.Ran);
    }

    [Fact]
    public async Task ABodyShorterThanItsContentLengthIs400()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        using var client = await RawHttp.ConnectAsync(server.Host.Address);
        await client.PostAsync(Encoding.UTF8.GetBytes("""{"prompt":"""), contentLength: 100);
        client.EndSending();
        var (status, body) = await client.ReadAnswerAsync();
        Assert.Equal(400, status);
        Assert.Contains("10 of the 100 bytes", body);
    }

    [Fact]
    public async Task ABodyThatNeverCompletesIs400AfterTheBodyTimeout()
    {
        var options = new ServeHostOptions { BodyTimeout = TimeSpan.FromMilliseconds(50) };
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1, options);
        using var client = await RawHttp.ConnectAsync(server.Host.Address);
        await client.PostAsync(Encoding.UTF8.GetBytes("{"), contentLength: 100); // and nothing more, connection open
        var (status, body) = await client.ReadAnswerAsync();
        Assert.Equal(400, status);
        Assert.Contains("shorter than its Content-Length", body);
    }

    [Fact]
    public async Task HeadersThatNeverCompleteAre408AfterTheHeaderTimeout()
    {
        var options = new ServeHostOptions { HeaderTimeout = TimeSpan.FromMilliseconds(50) };
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1, options);
        using var client = await RawHttp.ConnectAsync(server.Host.Address);
        await client.SendAsync("POST /generate HTTP/1.1\r\nHost: x\r\n"); // the blank line never comes
        var (status, _) = await client.ReadAnswerAsync();
        Assert.Equal(408, status);
    }

    [Fact]
    public async Task AConnectionOverTheCapIs503AtOnce()
    {
        var options = new ServeHostOptions { MaxConnections = 1 };
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1, options);
        using var idle = await RawHttp.ConnectAsync(server.Host.Address); // holds the only place, sends nothing
        using var second = await RawHttp.ConnectAsync(server.Host.Address);
        await second.SendAsync("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        var (status, body) = await second.ReadAnswerAsync();
        Assert.Equal(503, status);
        Assert.Contains("too many connections", body);
    }

    [Theory]
    [InlineData("\"\\ud800\"")]               // a lone surrogate, escaped
    [InlineData("\"a\\udc00b\"")]
    [InlineData("\"\xff\xfe\"")]              // bytes that are not UTF-8 (written as Latin-1 below)
    public async Task AStringThatIsNotValidUnicodeIs400(string promptJson)
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        using var client = await RawHttp.ConnectAsync(server.Host.Address);
        var body = Encoding.Latin1.GetBytes("{\"prompt\":" + promptJson + "}");
        await client.PostAsync(body, body.Length);
        var (status, text) = await client.ReadAnswerAsync();
        Assert.Equal(400, status);
        Assert.Contains("not valid UTF-8", text);
    }

    [Theory]
    [InlineData("/tmp")]
    [InlineData("../outside")]
    [InlineData("a/../../outside")]
    [InlineData("link/inside")]
    public async Task ASaveDiskPathOutsideTheOutputFolderIs400AndWritesNothing(string saveDiskPath)
    {
        var root = TestPaths.TempDir();
        var outputDir = Directory.CreateDirectory(Path.Combine(root, "out")).FullName;
        var elsewhere = Directory.CreateDirectory(Path.Combine(root, "elsewhere")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(outputDir, "link"), elsewhere);
        var gen = new GatedGenerator(open: true);
        await using var server = await ServeTestServer.StartAsync(gen, queueSize: 1, new ServeHostOptions { OutputDir = outputDir });
        var response = await server.Post($$"""{"prompt":"x","save_disk_path":{{JsonSerializer.Serialize(saveDiskPath)}}}""");
        var body = await server.Json(response);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("save_disk_path", body.GetProperty("field").GetString());
        Assert.Empty(gen.Ran);
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere));
        Assert.False(Directory.Exists(Path.Combine(root, "outside")));
    }

    [Fact]
    public async Task TheResponseHoldsEachImageOnceAndItsNumbersAsNumbers()
    {
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 1);
        var response = await server.Post("""{"prompt":"x","height":8,"width":16,"seed":7}""");
        var body = await server.Json(response);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var fields = body.EnumerateObject().Select(p => p.Name).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        // The README's "The service" section documents exactly these.
        Assert.Equal(new[] { "elapsed_time", "height", "images", "message", "request_id", "save_to_disk", "seed", "steps", "timings", "width" }, fields);
        foreach (var n in new[] { "elapsed_time", "height", "width", "seed", "steps", "request_id" })
            Assert.Equal(JsonValueKind.Number, body.GetProperty(n).ValueKind);
        Assert.Single(body.GetProperty("images").EnumerateArray());
        Assert.All(body.GetProperty("timings").EnumerateObject(), t => Assert.Equal(JsonValueKind.Number, t.Value.ValueKind));
    }
}

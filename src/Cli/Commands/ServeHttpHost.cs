using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using XDit.Engine.Serving;

namespace XDit.Cli.Commands;

/// <summary>
/// The HTTP face of `xdit serve` on Kestrel: POST /generate, GET /health, GET /metrics, all JSON. Requests go
/// through the bounded GenerationQueue; the listener never waits for room (a full queue is a 429 at once).
/// </summary>
public sealed class ServeHttpHost : IAsyncDisposable
{
    /// <summary>A /generate body larger than this is refused: the JSON holds a prompt and a few numbers.</summary>
    public const long MaxBodyBytes = 1 << 20;

    readonly WebApplication _app;
    readonly GenerationQueue _queue;
    bool _stopped;

    ServeHttpHost(WebApplication app, GenerationQueue queue)
    {
        _app = app;
        _queue = queue;
    }

    /// <summary>Where the service listens (the real port when port 0 was asked for).</summary>
    public Uri Address { get; private set; } = new("http://127.0.0.1/");

    /// <param name="host">an IP address to bind (127.0.0.1 by default in the command), or "localhost"</param>
    /// <param name="port">0 picks a free port</param>
    public static async Task<ServeHttpHost> StartAsync(GenerationQueue queue, string host, int port)
    {
        var ip = CheckAddress(host, port);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
        {
            k.Listen(ip, port);
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxBodyBytes;
        });
        var app = builder.Build();
        var self = new ServeHttpHost(app, queue);
        app.Run(self.Handle);
        try { await app.StartAsync(); }
        catch (IOException e) { await app.DisposeAsync(); throw new IOException($"cannot listen on {host}:{port}: {e.Message}", e); }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        self.Address = new Uri(bound + "/");
        return self;
    }

    /// <summary>The address to bind, or a clear error for a bad --host or --port (checked before the model loads).</summary>
    public static IPAddress CheckAddress(string host, int port)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--port must be between 0 and 65535, got {port}");
        return host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw new ArgumentException($"--host must be an IP address or localhost, got '{host}'");
    }

    /// <summary>Stops taking requests, lets the one in flight finish and answer, then closes the listener.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        await _queue.StopAsync();
        // The last response is being written; give the connections a moment to flush, then close them.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(grace.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _app.DisposeAsync();
    }

    async Task Handle(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "/";
        var method = ctx.Request.Method;
        switch (path)
        {
            case "/generate" when HttpMethods.IsPost(method): await Generate(ctx); break;
            case "/health" when HttpMethods.IsGet(method): await Json(ctx, 200, Health()); break;
            case "/metrics" when HttpMethods.IsGet(method): await Json(ctx, 200, Metrics()); break;
            case "/generate" or "/health" or "/metrics":
                ctx.Response.Headers.Allow = path == "/generate" ? "POST" : "GET";
                await Json(ctx, 405, ServeResponse.Error($"{method} is not allowed on {path}"));
                break;
            default: await Json(ctx, 404, ServeResponse.Error($"no endpoint {path} (POST /generate, GET /health, GET /metrics)")); break;
        }
    }

    async Task Generate(HttpContext ctx)
    {
        var aborted = ctx.RequestAborted;
        ServeRequest request;
        try
        {
            using var body = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(body, aborted);
            request = ServeRequest.Parse(body.GetBuffer().AsSpan(0, (int)body.Length), _queue.Generator.SizeMultiple);
        }
        catch (ServeRequestException e) { await Json(ctx, 400, ServeResponse.Error(e.Message, e.Field)); return; }
        catch (BadHttpRequestException e) { await Json(ctx, e.StatusCode, ServeResponse.Error(e.Message)); return; }
        catch (OperationCanceledException) { return; } // client gone while sending

        switch (_queue.TryEnqueue(request.Generation, aborted, out var ticket))
        {
            case EnqueueOutcome.Full:
                ctx.Response.Headers.RetryAfter = RetryAfterSeconds().ToString(CultureInfo.InvariantCulture);
                await Json(ctx, 429, ServeResponse.Error($"the queue is full ({_queue.Capacity} waiting); retry later"));
                return;
            case EnqueueOutcome.Stopped:
                await Json(ctx, 503, ServeResponse.Error("the service is shutting down"));
                return;
        }

        string response;
        try
        {
            var served = await ticket!.Completion;
            response = ServeResponse.Build(request, served, ticket.Id);
        }
        catch (OperationCanceledException) { return; } // the client left while waiting: nobody to answer
        catch (QueueStoppedException e) { await Json(ctx, 503, ServeResponse.Error(e.Message)); return; }
        catch (Exception e) { await Json(ctx, 500, ServeResponse.Error($"generation failed: {e.Message}")); return; }
        await Json(ctx, 200, response);
    }

    /// <summary>Seconds until a place is likely free: the waiting requests and the one running, at the mean run time.</summary>
    int RetryAfterSeconds()
    {
        var m = _queue.Metrics;
        double ms = (m.MeanRunMs > 0 ? m.MeanRunMs : 1000) * (m.Length + 1);
        return (int)Math.Clamp(Math.Ceiling(ms / 1000), 1, 3600);
    }

    string Health() => ServeResponse.Serialize(new Dictionary<string, object?>
    {
        ["ok"] = _queue.Accepting,
        ["model"] = _queue.Generator.Model,
        ["queue_length"] = _queue.Length,
        ["queue_size"] = _queue.Capacity,
        ["busy"] = _queue.Busy,
    });

    string Metrics()
    {
        var m = _queue.Metrics;
        return ServeResponse.Serialize(new Dictionary<string, object?>
        {
            ["served"] = m.Served,
            ["failed"] = m.Failed,
            ["rejected"] = m.Rejected,
            ["cancelled"] = m.Cancelled,
            ["mean_ms"] = Math.Round(m.MeanRunMs, 3),
            ["mean_queue_ms"] = Math.Round(m.MeanQueueMs, 3),
            ["queue_length"] = m.Length,
            ["busy"] = m.Busy,
        });
    }

    static async Task Json(HttpContext ctx, int status, string json)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        var bytes = Encoding.UTF8.GetBytes(json);
        ctx.Response.ContentLength = bytes.Length;
        try { await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted); }
        catch (OperationCanceledException) { } // client gone
    }
}

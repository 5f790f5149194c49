using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using XDit.Engine.Serving;

namespace XDit.Cli.Commands;

/// <summary>
/// The HTTP face of `xdit serve` on System.Net.HttpListener (part of the base runtime, so the CLI and the tests
/// need no ASP.NET Core shared framework): POST /generate, GET /health, GET /metrics, all JSON. Every request is
/// handled on its own task and goes through the bounded GenerationQueue; the accept loop never waits for room
/// (a full queue is a 429 at once).
/// </summary>
/// <remarks>
/// HttpListener says nothing when a client closes its connection while its request waits in the queue, so such a
/// request stays queued and runs; its answer then has nobody to go to and is dropped. The queue's cancellation
/// path is still wired: a request whose body cannot be read is never queued, and a hard close of the listener
/// cancels whatever still waits. Requests must name the host as printed (the listener matches the Host header).
/// </remarks>
public sealed class ServeHttpHost : IAsyncDisposable
{
    /// <summary>A /generate body larger than this is refused: the JSON holds a prompt and a few numbers.</summary>
    public const long MaxBodyBytes = 1 << 20;

    /// <summary>Tries with a fresh free port when port 0 was asked for and another process took the port first.</summary>
    const int FreePortAttempts = 5;

    /// <summary>How long a stop waits for the answers being written before it closes the connections.</summary>
    static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    readonly HttpListener _listener;
    readonly GenerationQueue _queue;
    readonly CancellationTokenSource _closing = new();
    readonly ConcurrentDictionary<Task, byte> _handlers = new();
    readonly Task _acceptLoop;
    readonly object _stopLock = new();
    Task? _stop;

    ServeHttpHost(HttpListener listener, GenerationQueue queue, Uri address)
    {
        _listener = listener;
        _queue = queue;
        Address = address;
        _acceptLoop = Task.Run(AcceptLoop);
    }

    /// <summary>Where the service listens (the real port when port 0 was asked for).</summary>
    public Uri Address { get; }

    /// <param name="host">an IP address to bind (127.0.0.1 by default in the command), or "localhost"</param>
    /// <param name="port">0 picks a free port</param>
    public static Task<ServeHttpHost> StartAsync(GenerationQueue queue, string host, int port)
    {
        var ip = CheckAddress(host, port);
        for (int attempt = 1; ; attempt++)
        {
            int bound = port == 0 ? FreePort(ip) : port;
            var listener = new HttpListener { IgnoreWriteExceptions = true };
            listener.Prefixes.Add($"http://{PrefixHost(ip)}:{bound}/");
            // HttpListener matches the Host header too: without this, `curl localhost:PORT` gets 404 from a
            // service on 127.0.0.1
            if (ip.Equals(IPAddress.Loopback)) listener.Prefixes.Add($"http://localhost:{bound}/");
            try { listener.Start(); }
            catch (HttpListenerException e)
            {
                listener.Close();
                // A free port found by the probe can be taken by someone else before the listener binds it.
                if (port == 0 && attempt < FreePortAttempts) continue;
                throw new IOException($"cannot listen on {host}:{bound}: {e.Message}", e);
            }
            return Task.FromResult(new ServeHttpHost(listener, queue, new Uri($"http://{UriHost(ip)}:{bound}/")));
        }
    }

    /// <summary>The address to bind, or a clear error for a bad --host or --port (checked before the model loads).</summary>
    public static IPAddress CheckAddress(string host, int port)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--port must be between 0 and 65535, got {port}");
        return host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw new ArgumentException($"--host must be an IP address or localhost, got '{host}'");
    }

    /// <summary>HttpListener cannot bind port 0: the system picks a free port for a probe socket, which lets it go.</summary>
    static int FreePort(IPAddress ip)
    {
        var probe = new TcpListener(ip, 0);
        probe.Start();
        try { return ((IPEndPoint)probe.LocalEndpoint).Port; }
        finally { probe.Stop(); }
    }

    /// <summary>HttpListener refuses 0.0.0.0 in a prefix; "+" is its spelling of every IPv4 interface.</summary>
    static string PrefixHost(IPAddress ip) => ip.Equals(IPAddress.Any) ? "+" : UriHost(ip);

    static string UriHost(IPAddress ip) => ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();

    /// <summary>Stops taking requests, lets the one in flight finish and answer, then closes the listener.</summary>
    public Task StopAsync()
    {
        lock (_stopLock) return _stop ??= Stop();
    }

    async Task Stop()
    {
        // Waiting requests get their 503 from the queue; this returns once the one in flight has finished.
        await _queue.StopAsync();
        // The last answers are being written: give them a moment, then close the connections.
        try { await Task.WhenAll(_handlers.Keys).WaitAsync(StopGrace); }
        catch (TimeoutException) { }
        _closing.Cancel();
        _listener.Close();
        await _acceptLoop;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _closing.Dispose();
    }

    async Task AcceptLoop()
    {
        while (true)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                if (!_listener.IsListening) return; // closed by Stop
                continue; // one connection's failure
            }
            // Its own task: a request waiting in the queue never holds up the next accept.
            var handler = Task.Run(() => Handle(ctx));
            _handlers.TryAdd(handler, 0);
            _ = handler.ContinueWith(t => _handlers.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    async Task Handle(HttpListenerContext ctx)
    {
        try
        {
            var path = ctx.Request.Url?.AbsolutePath ?? "/";
            var method = ctx.Request.HttpMethod;
            switch (path)
            {
                case "/generate" when method == "POST": await Generate(ctx); break;
                case "/health" when method == "GET": await Json(ctx, 200, Health()); break;
                case "/metrics" when method == "GET": await Json(ctx, 200, Metrics()); break;
                case "/generate" or "/health" or "/metrics":
                    ctx.Response.AddHeader("Allow", path == "/generate" ? "POST" : "GET");
                    await Json(ctx, 405, ServeResponse.Error($"{method} is not allowed on {path}"));
                    break;
                default: await Json(ctx, 404, ServeResponse.Error($"no endpoint {path} (POST /generate, GET /health, GET /metrics)")); break;
            }
        }
        catch (Exception e)
        {
            // A bug here must not fault an unobserved task and leave the client hanging.
            await Json(ctx, 500, ServeResponse.Error($"internal error: {e.Message}"));
        }
    }

    async Task Generate(HttpListenerContext ctx)
    {
        ServeRequest request;
        try
        {
            var body = await ReadBody(ctx.Request);
            if (body is null)
            {
                await Json(ctx, 413, ServeResponse.Error($"the request body is larger than {MaxBodyBytes} bytes"));
                return;
            }
            request = ServeRequest.Parse(body.GetBuffer().AsSpan(0, (int)body.Length), _queue.Generator.SizeMultiple);
        }
        catch (ServeRequestException e) { await Json(ctx, 400, ServeResponse.Error(e.Message, e.Field)); return; }
        catch (Exception e) when (e is IOException or HttpListenerException or OperationCanceledException)
        {
            ctx.Response.Abort(); // the client is gone while sending: nobody to answer, nothing queued
            return;
        }

        switch (_queue.TryEnqueue(request.Generation, _closing.Token, out var ticket))
        {
            case EnqueueOutcome.Full:
                ctx.Response.AddHeader("Retry-After", RetryAfterSeconds().ToString(CultureInfo.InvariantCulture));
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
        catch (OperationCanceledException) { ctx.Response.Abort(); return; } // the listener closed while it waited
        catch (QueueStoppedException e) { await Json(ctx, 503, ServeResponse.Error(e.Message)); return; }
        catch (Exception e) { await Json(ctx, 500, ServeResponse.Error($"generation failed: {e.Message}")); return; }
        await Json(ctx, 200, response);
    }

    /// <summary>The body, or null when it is larger than MaxBodyBytes (declared or, for a chunked body, as read).</summary>
    async Task<MemoryStream?> ReadBody(HttpListenerRequest request)
    {
        if (request.ContentLength64 > MaxBodyBytes) return null;
        var body = new MemoryStream();
        var buffer = new byte[16384];
        int read;
        while ((read = await request.InputStream.ReadAsync(buffer, _closing.Token)) > 0)
        {
            if (body.Length + read > MaxBodyBytes) return null;
            body.Write(buffer, 0, read);
        }
        return body;
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

    async Task Json(HttpListenerContext ctx, int status, string json)
    {
        var response = ctx.Response;
        try
        {
            response.StatusCode = status;
            response.ContentType = "application/json; charset=utf-8";
            var bytes = Encoding.UTF8.GetBytes(json);
            response.ContentLength64 = bytes.Length;
            await response.OutputStream.WriteAsync(bytes, _closing.Token);
            response.Close();
        }
        catch (Exception e) when (e is IOException or HttpListenerException or ObjectDisposedException
                                      or OperationCanceledException or InvalidOperationException)
        {
            response.Abort(); // the client is gone, or the listener closed under the answer
        }
    }
}

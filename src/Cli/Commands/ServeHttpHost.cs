using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using XDit.Engine.Serving;

namespace XDit.Cli.Commands;

/// <summary>
/// The HTTP face of `xdit serve`: POST /generate, the OpenAI-compatible POST /v1/images/generations and /v1/images/edits,
/// GET /health, GET /metrics, GET /openapi.json, all answered in JSON, one request per connection
/// (every answer closes it). It speaks HTTP/1.1 over a TcpListener itself rather than through HttpListener, which on
/// Linux has no header or body timeouts and never tells that a client left: here a connection is bounded in time
/// (<see cref="ServeHostOptions.HeaderTimeout"/>, <see cref="ServeHostOptions.BodyTimeout"/>) and in number, and a
/// client that closes its connection while its request waits or runs cancels that request (the queue drops it, or
/// the pipeline stops after its current step). Every request goes through the bounded GenerationQueue; the accept
/// loop never waits for room (a full queue is a 429 at once).
/// </summary>
public sealed class ServeHttpHost : IAsyncDisposable
{
    /// <summary>How long a stop waits for the answers being written before it closes the connections.</summary>
    static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    readonly TcpListener _listener;
    readonly GenerationQueue _queue;
    readonly ServeHostOptions _options;
    readonly CancellationTokenSource _closing = new();
    readonly ConcurrentDictionary<Task, byte> _handlers = new();
    readonly Task _acceptLoop;
    readonly object _stopLock = new();
    int _open;
    volatile bool _stopping;
    Task? _stop;

    ServeHttpHost(TcpListener listener, GenerationQueue queue, ServeHostOptions options, Uri address)
    {
        _listener = listener;
        _queue = queue;
        _options = options;
        Address = address;
        _acceptLoop = Task.Run(AcceptLoop);
    }

    /// <summary>Where the service listens (the real port when port 0 was asked for).</summary>
    public Uri Address { get; }

    /// <summary>Connections open now (what --max-connections bounds).</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <param name="host">an IP address to bind (127.0.0.1 by default in the command), or "localhost"</param>
    /// <param name="port">0 picks a free port</param>
    public static Task<ServeHttpHost> StartAsync(GenerationQueue queue, string host, int port, ServeHostOptions? options = null)
    {
        options ??= new ServeHostOptions();
        options.Validate();
        var ip = CheckAddress(host, port);
        var listener = new TcpListener(ip, port);
        try { listener.Start(backlog: 128); }
        catch (SocketException e) { throw new IOException($"cannot listen on {host}:{port}: {e.Message}", e); }
        int bound = ((IPEndPoint)listener.LocalEndpoint).Port;
        return Task.FromResult(new ServeHttpHost(listener, queue, options, new Uri($"http://{UriHost(ip)}:{bound}/")));
    }

    /// <summary>The address to bind, or a clear error for a bad --host or --port (checked before the model loads).</summary>
    public static IPAddress CheckAddress(string host, int port)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--port must be between 0 and 65535, got {port}");
        return host == "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var parsed) ? parsed
            : throw new ArgumentException($"--host must be an IP address or localhost, got '{host}'");
    }

    static string UriHost(IPAddress ip) => ip.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();

    /// <summary>Stops taking requests, cancels the one in flight (it ends after its current step and is answered
    /// 503, as are those waiting), then closes the listener and the connections.</summary>
    public Task StopAsync()
    {
        lock (_stopLock) return _stop ??= Stop();
    }

    async Task Stop()
    {
        _stopping = true;
        _listener.Stop(); // no new connections
        await _queue.StopAsync();
        // The last answers are being written: give them a moment, then close the connections.
        try { await Task.WhenAll(_handlers.Keys).WaitAsync(StopGrace); }
        catch (TimeoutException) { }
        _closing.Cancel();
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
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_closing.Token); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                if (_stopping || _closing.IsCancellationRequested) return; // stopped
                continue; // one connection's failure
            }
            // Counted here, in accept order, so the connection over the cap is the one that came last.
            int open = Interlocked.Increment(ref _open);
            // Its own task: a request waiting in the queue never holds up the next accept.
            var handler = Task.Run(() => Connection(socket, open));
            _handlers.TryAdd(handler, 0);
            _ = handler.ContinueWith(t => _handlers.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    async Task Connection(Socket socket, int open)
    {
        using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            if (open > _options.MaxConnections)
            {
                await Answer(stream, 503, ServeResponse.Error($"too many connections ({_options.MaxConnections} open); retry later"), [("Retry-After", "1")]);
                return;
            }
            var reader = new HttpRequestReader(stream);
            HttpRequestHead? head;
            byte[] body;
            try
            {
                head = await reader.ReadHeadAsync(_options.HeaderTimeout, _closing.Token);
                if (head is null) return; // connected and left
                body = await reader.ReadBodyAsync(head, head.Path is "/generate" or OpenAiPath or OpenAiEditsPath ? _options.MaxBodyBytes : 0, _options.BodyTimeout,
                    () => stream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), _closing.Token).AsTask(), _closing.Token);
            }
            catch (HttpBadRequestException e)
            {
                await Answer(stream, e.Status, ServeResponse.Error(e.Message));
                return;
            }
            await Route(socket, stream, head, body);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // the client is gone, or the service closed under the connection: nobody to answer
        }
        catch (Exception e)
        {
            // A bug here must not fault an unobserved task and leave the client hanging.
            try { await Answer(stream, 500, ServeResponse.Error($"internal error: {e.Message}")); }
            catch (Exception) { }
        }
        finally
        {
            await Linger(socket);
            Interlocked.Decrement(ref _open);
        }
    }

    /// <summary>
    /// After the answer, reads what the client still sends until it closes (a bounded amount and time): closing a
    /// socket with unread bytes sends a reset, which can destroy the answer before the client reads it (a 413 sent
    /// before the body was read, say).
    /// </summary>
    async Task Linger(Socket socket)
    {
        var sink = new byte[4096];
        long drained = 0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        cts.CancelAfter(_options.HeaderTimeout);
        try
        {
            int read;
            while (drained < _options.MaxBodyBytes && (read = await socket.ReceiveAsync(sink, SocketFlags.None, cts.Token)) > 0) drained += read;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { }
    }

    /// <summary>The OpenAI-compatible images endpoints (OpenAiImageRequest, OpenAiImageEditRequest).</summary>
    const string OpenAiPath = "/v1/images/generations", OpenAiEditsPath = "/v1/images/edits";

    async Task Route(Socket socket, NetworkStream stream, HttpRequestHead head, byte[] body)
    {
        var (path, method) = (head.Path, head.Method);
        int multiple = _queue.Generator.SizeMultiple;
        switch (path)
        {
            case "/generate" when method == "POST":
                await Generate(socket, stream, () => ServeRequest.Parse(body, multiple, _options.Limits, _options.OutputDir),
                    (request, served, id) => ServeResponse.Build(request, served, id), (message, field, _) => ServeResponse.Error(message, field));
                break;
            case OpenAiPath when method == "POST":
                await Generate(socket, stream, () => OpenAiImageRequest.Parse(body, multiple, _options.Limits),
                    (_, served, _) => OpenAiImageResponse.Build(served, DateTimeOffset.UtcNow), OpenAiImageResponse.Error);
                break;
            case OpenAiEditsPath when method == "POST":
                await Generate(socket, stream, () => OpenAiImageEditRequest.Parse(body, head.Header("content-type"), _options.MaxBodyBytes, multiple, _options.Limits),
                    (_, served, _) => OpenAiImageResponse.Build(served, DateTimeOffset.UtcNow), OpenAiImageResponse.Error, EditRefusal);
                break;
            case "/health" when method == "GET": await Answer(stream, 200, Health()); break;
            case "/metrics" when method == "GET": await Answer(stream, 200, Metrics()); break;
            case "/openapi.json" when method == "GET": await Answer(stream, 200, OpenApiDocument.Json); break;
            case "/generate" or OpenAiPath or OpenAiEditsPath or "/health" or "/metrics" or "/openapi.json":
                await Answer(stream, 405, ServeResponse.Error($"{method} is not allowed on {path}"), [("Allow", path is "/generate" or OpenAiPath or OpenAiEditsPath ? "POST" : "GET")]);
                break;
            default: await Answer(stream, 404, ServeResponse.Error($"no endpoint {path} (POST /generate, POST {OpenAiPath}, POST {OpenAiEditsPath}, GET /health, GET /metrics, GET /openapi.json)")); break;
        }
    }

    /// <summary>The field an edit's refusal at run time is about: the pipelines' refusals of an image, or of
    /// strength, say so in their first words (TextToImagePipeline.Generate), and OpenAI's error names a param.</summary>
    static string? EditRefusal(string message) =>
        message.Contains("takes no input image", StringComparison.Ordinal) ? "image"
        : message.StartsWith("strength", StringComparison.Ordinal) ? "strength"
        : null;

    /// <summary>One generation request, whatever its endpoint: <paramref name="parse"/> reads the body (400 when it
    /// refuses), <paramref name="build"/> writes the 200 answer, <paramref name="error"/> the endpoint's error body
    /// (message, field, status), <paramref name="refusedField"/> the field a refusal by the model is about, if known.</summary>
    async Task Generate(Socket socket, NetworkStream stream, Func<ServeRequest> parse, Func<ServeRequest, ServedGeneration, long, string> build,
        Func<string, string?, int, string> error, Func<string, string?>? refusedField = null)
    {
        ServeRequest request;
        try { request = parse(); }
        catch (ServeRequestException e) { await Answer(stream, 400, error(e.Message, e.Field, 400)); return; }

        // The client's token: fires when it closes the connection (or the service closes), dropping or cancelling its job.
        using var gone = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        var watch = WatchForClose(socket, gone);
        try
        {
            switch (_queue.TryEnqueue(request.Generation, gone.Token, out var ticket))
            {
                case EnqueueOutcome.Full:
                    await Answer(stream, 429, error($"the queue is full ({_queue.Capacity} waiting); retry later", null, 429),
                        [("Retry-After", RetryAfterSeconds().ToString(CultureInfo.InvariantCulture))]);
                    return;
                case EnqueueOutcome.Stopped:
                    await Answer(stream, 503, error("the service is shutting down", null, 503));
                    return;
            }

            string response;
            try
            {
                var served = await ticket!.Completion;
                response = build(request, served, ticket.Id);
            }
            catch (OperationCanceledException) { return; } // the client left (or the service closed): nobody to answer
            catch (QueueStoppedException e) { await Answer(stream, 503, error(e.Message, null, 503)); return; }
            catch (RequestDeadlineException e) { await Answer(stream, 504, error(e.Message, null, 504)); return; }
            // The pipeline refusing what the request asks (another model's option, a size it cannot bin) is the
            // client's mistake, found only once the job runs: 400, never 500, for a malformed request.
            catch (ArgumentException e) { await Answer(stream, 400, error($"the model refused the request: {e.Message}", refusedField?.Invoke(e.Message), 400)); return; }
            catch (Exception e) { await Answer(stream, 500, error($"generation failed: {e.Message}", null, 500)); return; }
            await Answer(stream, 200, response);
        }
        finally
        {
            gone.Cancel(); // ends the watch
            await watch;
        }
    }

    /// <summary>
    /// Waits for the client to close: a request is the whole of what it sends (every answer closes the connection),
    /// so a read that returns 0 (FIN) or fails (RST) means it left, and its job is cancelled. A client that half-closes
    /// its sending side and still waits for the answer is taken as gone too.
    /// </summary>
    static async Task WatchForClose(Socket socket, CancellationTokenSource gone)
    {
        var one = new byte[1];
        try
        {
            while (!gone.IsCancellationRequested)
                if (await socket.ReceiveAsync(one, SocketFlags.None, gone.Token) == 0) break;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { }
        try { gone.Cancel(); }
        catch (ObjectDisposedException) { }
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
            ["open_connections"] = OpenConnections,
        });
    }

    /// <summary>Writes a whole JSON answer and closes the sending side (Connection: close).</summary>
    async Task Answer(NetworkStream stream, int status, string json, (string Name, string Value)[]? extra = null)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {Reason(status)}\r\n")
            .Append("Content-Type: application/json; charset=utf-8\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {bytes.Length}\r\n")
            .Append("Connection: close\r\n");
        foreach (var (name, value) in extra ?? []) head.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        head.Append("\r\n");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        cts.CancelAfter(_options.BodyTimeout); // a client that never reads cannot hold the connection
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()), cts.Token);
        await stream.WriteAsync(bytes, cts.Token);
        try { stream.Socket.Shutdown(SocketShutdown.Send); }
        catch (SocketException) { }
    }

    static string Reason(int status) => status switch
    {
        200 => "OK", 400 => "Bad Request", 404 => "Not Found", 405 => "Method Not Allowed", 408 => "Request Timeout",
        411 => "Length Required", 413 => "Content Too Large", 429 => "Too Many Requests", 431 => "Request Header Fields Too Large",
        500 => "Internal Server Error", 503 => "Service Unavailable", 504 => "Gateway Timeout", _ => "Status",
    };
}

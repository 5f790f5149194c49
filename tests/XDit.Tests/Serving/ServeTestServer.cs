using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using XDit.Cli.Commands;
using XDit.Engine.Serving;

namespace XDit.Tests.Serving;

/// <summary>One service on 127.0.0.1 with a free port, its queue and a client; disposing opens a gated generator's
/// gate (so the request in flight can end), stops the server and disposes the generator.</summary>
sealed class ServeTestServer : IAsyncDisposable
{
    public required GenerationQueue Queue { get; init; }
    public required ServeHttpHost Host { get; init; }
    public required HttpClient Client { get; init; }
    public required IImageGenerator Generator { get; init; }

    public static async Task<ServeTestServer> StartAsync(IImageGenerator generator, int queueSize, ServeHostOptions? options = null, TimeSpan? deadline = null)
    {
        var queue = new GenerationQueue(generator, queueSize) { RequestDeadline = deadline };
        var host = await ServeHttpHost.StartAsync(queue, "127.0.0.1", 0, options);
        Assert.True(System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(host.Address.Host)), $"listening on {host.Address}");
        Assert.NotEqual(0, host.Address.Port);
        return new ServeTestServer { Queue = queue, Host = host, Generator = generator, Client = new HttpClient { BaseAddress = host.Address, Timeout = Within.Bound } };
    }

    public Task<HttpResponseMessage> Post(string json) => PostCancellable(json, TestContext.Current.CancellationToken);

    public Task<HttpResponseMessage> PostCancellable(string json, CancellationToken cancel) =>
        Client.PostAsync("generate", new StringContent(json, Encoding.UTF8, "application/json"), cancel);

    public Task<HttpResponseMessage> Get(string path) => Client.GetAsync(path, TestContext.Current.CancellationToken);

    public async Task<JsonElement> Json(HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>(TestContext.Current.CancellationToken);

    /// <summary>Completes when the queue raises the event for a request with this prompt.</summary>
    public Task On(string what, string prompt)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        EventHandler<QueueTicket> h = (_, t) => { if (t.Request.Prompts[0] == prompt) tcs.TrySetResult(); };
        switch (what)
        {
            case "enqueued": Queue.Enqueued += h; break;
            case "started": Queue.Started += h; break;
            case "dropped": Queue.Dropped += h; break;
            case "finished": Queue.Finished += h; break;
            default: throw new ArgumentException(what);
        }
        return Within.Minute(tcs.Task);
    }

    public async ValueTask DisposeAsync()
    {
        if (Generator is GatedGenerator g) g.Open();
        await Host.DisposeAsync();
        Queue.Dispose();
        Client.Dispose();
        Generator.Dispose();
    }
}

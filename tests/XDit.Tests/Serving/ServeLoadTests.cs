using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using XDit.Cli.Commands;

namespace XDit.Tests.Serving;

/// <summary>
/// A bounded load test of the service on loopback (issue 22): well-behaved, dropped, short-bodied and slow clients
/// at once, over a fixed number of requests. Every answer is well formed JSON with a status the client could expect,
/// no accepted request is lost (each one served or cancelled), and every connection is closed at the end.
/// </summary>
[Collection("ProcessMemory")] // its managed-memory check reads the whole process
public class ServeLoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task MixedClientsAllGetWellFormedAnswersAndNoAcceptedRequestIsLost()
    {
        const int Rounds = 12;
        var options = new ServeHostOptions { HeaderTimeout = TimeSpan.FromSeconds(3), MaxConnections = 256 };
        await using var server = await ServeTestServer.StartAsync(new GatedGenerator(open: true), queueSize: 4, options);
        int accepted = 0;
        server.Queue.Enqueued += (_, _) => Interlocked.Increment(ref accepted);
        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var statuses = new System.Collections.Concurrent.ConcurrentBag<int>();
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();

        async Task Good(int i)
        {
            var sw = Stopwatch.StartNew();
            var r = await server.Post($$"""{"prompt":"p{{i}}","height":16,"width":16,"seed":{{i}}}""");
            var body = await server.Json(r);
            latencies.Add(sw.Elapsed.TotalMilliseconds);
            statuses.Add((int)r.StatusCode);
            Assert.True(r.StatusCode is HttpStatusCode.OK or (HttpStatusCode)429, $"{r.StatusCode}: {body}");
            if (r.StatusCode == HttpStatusCode.OK) Assert.Single(body.GetProperty("images").EnumerateArray());
            else Assert.Contains("queue is full", body.GetProperty("error").GetString());
        }
        async Task Dropped(int i)
        {
            using var c = await RawHttp.ConnectAsync(server.Host.Address);
            var b = Encoding.UTF8.GetBytes($$"""{"prompt":"d{{i}}"}""");
            await c.PostAsync(b, b.Length);
        } // closed without reading
        async Task Short(int i)
        {
            using var c = await RawHttp.ConnectAsync(server.Host.Address);
            await c.PostAsync(Encoding.UTF8.GetBytes("{\"prompt\""), 50);
            c.EndSending();
            var (status, body) = await c.ReadAnswerAsync();
            statuses.Add(status);
            Assert.Equal(400, status);
            JsonDocument.Parse(body).Dispose();
        }
        async Task Slow(int i)
        {
            using var c = await RawHttp.ConnectAsync(server.Host.Address);
            await c.SendAsync("POST /generate HTTP/1.1\r\nHost: x\r\nContent-Le");
            var (status, body) = await c.ReadAnswerAsync();
            statuses.Add(status);
            Assert.Equal(408, status);
            JsonDocument.Parse(body).Dispose();
        }

        // The slow clients stay connected through every round and are timed out together at the end: one wait of
        // the header timeout, long enough that a good client delayed by a busy machine is never taken for a slow one.
        var slow = Enumerable.Range(0, 2 * Rounds).Select(Slow).ToList();
        for (int round = 0; round < Rounds; round++)
        {
            var tasks = new List<Task>();
            for (int i = 0; i < 6; i++) tasks.Add(Good(round * 100 + i));
            for (int i = 0; i < 2; i++) { tasks.Add(Dropped(round * 100 + i)); tasks.Add(Short(i)); }
            await Within.Minute(Task.WhenAll(tasks));
        }
        await Within.Minute(Task.WhenAll(slow));
        await server.Host.StopAsync();
        var m = server.Queue.Metrics;
        Assert.Equal(accepted, (int)(m.Served + m.Failed + m.Cancelled));
        Assert.Equal(0L, m.Failed);
        Assert.Equal(0, server.Host.OpenConnections);
        GC.Collect();
        long after = GC.GetTotalMemory(forceFullCollection: true);
        var sorted = latencies.Order().ToArray();
        output.WriteLine($"requests {Rounds * 12}: " + string.Join(", ", statuses.GroupBy(s => s).OrderBy(g => g.Key).Select(g => $"{g.Key} x{g.Count()}")) +
                         $"; accepted {accepted}, served {m.Served}, cancelled {m.Cancelled}; latency p50 {sorted[sorted.Length / 2]:F1} ms, " +
                         $"p99 {sorted[(int)(sorted.Length * 0.99)]:F1} ms; managed memory {before / 1024} KiB -> {after / 1024} KiB");
        Assert.True(after < before + (64L << 20), $"managed memory grew from {before} to {after} bytes");
    }
}

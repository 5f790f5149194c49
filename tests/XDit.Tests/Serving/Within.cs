namespace XDit.Tests.Serving;

/// <summary>Bounded waits: an event that never comes fails the test after a minute instead of hanging the suite.</summary>
static class Within
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    public static Task<T> Minute<T>(Task<T> task) => task.WaitAsync(Bound, TestContext.Current.CancellationToken);
    public static Task Minute(Task task) => task.WaitAsync(Bound, TestContext.Current.CancellationToken);
}

namespace XDit.Engine.Serving;

/// <summary>A snapshot of the queue's counters (what GET /metrics reports).</summary>
/// <param name="Served">requests that ran and succeeded</param>
/// <param name="Failed">requests whose generation threw</param>
/// <param name="Rejected">requests refused because the queue was full or stopped</param>
/// <param name="Cancelled">requests dropped while waiting (client gone, or shutdown)</param>
/// <param name="MeanRunMs">mean generation time of the requests that ran (served and failed), 0 when none</param>
/// <param name="MeanQueueMs">mean wait before running, over the same requests</param>
public sealed record QueueMetrics(long Served, long Failed, long Rejected, long Cancelled, double MeanRunMs, double MeanQueueMs, int Length, bool Busy);

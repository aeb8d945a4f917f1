namespace Concord.Hosting;

/// <summary>Bounds of the shared hosting pieces (<see cref="LoopbackHost"/>, <see cref="Backoff"/>).</summary>
public static class HostingLimits
{
    /// <summary>
    /// Grace period for a loopback host to stop, in ms: 2 s. Requests in progress (a scrape, a
    /// data-plane call being cancelled) are short, and a process must not linger on exit for them.
    /// </summary>
    public const int StopTimeoutMs = 2_000;

    /// <summary>
    /// Largest doubling exponent <see cref="Backoff"/> computes, in doublings: 30. Any real
    /// ceiling (at most <see cref="BackoffDelayMaxMs"/>) is reached long before, and
    /// 2^30 × a millisecond-scale initial delay stays far inside a long's range.
    /// </summary>
    public const int BackoffDoublingsMax = 30;

    /// <summary>
    /// Longest back-off <see cref="Backoff"/> accepts, in ms: 1 hour. Every Concord retry waits
    /// seconds at most; a larger value is a unit mistake (seconds given as ms × 1000).
    /// </summary>
    public const int BackoffDelayMaxMs = 3_600_000;

    /// <summary>
    /// Shortest first back-off <see cref="Backoff"/> accepts, in ms: 1. Zero would make a retry
    /// loop spin on a failure that is immediate (a refused connection).
    /// </summary>
    public const int BackoffDelayMinMs = 1;
}

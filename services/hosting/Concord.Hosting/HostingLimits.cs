namespace Concord.Hosting;

/// <summary>Bounds of the shared hosting pieces (<see cref="LoopbackHost"/>, <see cref="Backoff"/>, <see cref="TlsCertificates"/>).</summary>
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

    /// <summary>
    /// How long a CA made by `concord certs` is valid, in days (certificates are reasoned about
    /// in days, not ms): 10 years. Replacing a CA means re-issuing every certificate, so it
    /// should outlive the host certificates by far.
    /// </summary>
    public const int CaValidityDays = 3_650;

    /// <summary>
    /// How long a host or client certificate made by `concord certs` is valid, in days: 825, the
    /// longest life browsers ever accepted for a server certificate; re-issuing is one command.
    /// </summary>
    public const int CertificateValidityDays = 825;

    /// <summary>
    /// How far before "now" a new certificate becomes valid, in ms: 1 hour, so a peer whose
    /// clock is a little behind does not refuse a certificate made a moment ago.
    /// </summary>
    public const int CertificateClockSkewMs = 3_600_000;

    // ---- checkpoints (Checkpoints/CheckpointLayout) ------------------------------------------

    /// <summary>
    /// Largest manifest or <c>_metadata.json</c> read, in bytes: 4 MiB. A manifest lists at most
    /// one line per key group (128 in the protocol, ~150 bytes each); only a damaged or foreign
    /// file is larger, and it is refused unread.
    /// </summary>
    public const long CheckpointManifestBytesMax = 4L * 1024 * 1024;

    /// <summary>
    /// Largest operator snapshot (ICheckpointedOperator), in bytes: 16 MiB. It holds positions
    /// (offsets, file names), not data; reading a larger one would be a damaged file.
    /// </summary>
    public const int CheckpointOperatorSnapshotBytesMax = 16 * 1024 * 1024;

    /// <summary>
    /// Age after which a temp file under <c>shared/</c> is taken as left by a writer that died,
    /// in ms: 10 min. Writers on other hosts cannot be asked whether they live; a checkpoint
    /// write that takes longer has long been aborted by the coordinator's timeout.
    /// </summary>
    public const int CheckpointTempFileAgeMinMs = 600_000;
}

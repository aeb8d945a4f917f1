namespace Concord.Cli;

/// <summary>
/// Every timeout, poll interval and size limit of the <c>concord</c> command line, in one place,
/// unit last in the name. The CLI is interactive: each bound is chosen so a person waits at most
/// a few seconds for an answer or an error, never forever. Timeouts are in seconds, unlike the
/// milliseconds of the rest of Concord, because the user sets and reads them in seconds
/// (<c>concord deploy --timeout 60</c>, "no answer within 10 s"); poll intervals, which nobody
/// sees, are in milliseconds.
/// </summary>
public static class CliLimits
{
    /// <summary>
    /// Deadline of every scheduler RPC, in seconds: 10. The scheduler answers topology calls from
    /// memory in milliseconds; a call that takes longer means it is stuck, and the user should
    /// hear so rather than wait.
    /// </summary>
    public const int RpcDeadlineSeconds = 10;

    /// <summary>
    /// TCP connect timeout to the scheduler, in seconds: 3. A local scheduler accepts at once; a
    /// refused or black-holed address should turn into "no scheduler at ..." quickly.
    /// </summary>
    public const int ConnectTimeoutSeconds = 3;

    /// <summary>
    /// Schedulers one call may try, in turn, when given several (--scheduler A,B,C): 9 — the most
    /// a cluster has (a leader and a few standbys), each tried once, plus the leader a standby
    /// names. Bounds a call against schedulers that keep naming each other.
    /// </summary>
    public const int SchedulerTriesMax = 9;

    /// <summary>
    /// Default of <c>concord deploy --timeout</c>, in seconds: 60. Long enough for a cold .NET or
    /// JVM operator to start several instances on a loaded 2-core machine.
    /// </summary>
    public const int DeployWaitTimeoutSecondsDefault = 60;

    /// <summary>
    /// Longest time the new instances of <c>concord deploy --replace</c> may take to run, in
    /// seconds: 60, the scheduler's own bound (SchedulerLimits.ReplaceRunningTimeoutMs); a larger
    /// --timeout is capped to it.
    /// </summary>
    public const int ReplaceRunningTimeoutSecondsMax = 60;

    /// <summary>
    /// Deadline of the Replace call, in seconds: 210. It answers once the new instances run
    /// (at most <see cref="ReplaceRunningTimeoutSecondsMax"/>) and the old ones have drained
    /// (the scheduler bounds that at about 17 s); an operator with a delivery guarantee first
    /// waits for the checkpoint its state moves through (as <see cref="CheckpointRpcDeadlineSeconds"/>),
    /// so 150 + 60 s only trips on a stuck scheduler.
    /// </summary>
    public const int ReplaceRpcDeadlineSeconds = CheckpointRpcDeadlineSeconds + ReplaceRunningTimeoutSecondsMax;

    /// <summary>
    /// Deadline of the calls that wait for a checkpoint, in seconds: 150. `savepoint` answers when
    /// its savepoint completed and `scale` of an operator with a delivery guarantee when the
    /// checkpoint its state moves through did; the scheduler bounds both (a checkpoint in
    /// progress, then its own, each at most 60 s), so 150 s only trips on a stuck scheduler.
    /// </summary>
    public const int CheckpointRpcDeadlineSeconds = 150;

    /// <summary>Largest accepted <c>--timeout</c> of deploy, in seconds: 1 hour.</summary>
    public const int DeployWaitTimeoutSecondsMax = 3600;

    /// <summary>
    /// Interval between List calls while <c>deploy</c> waits for instances, in ms: 250. The
    /// scheduler has no "watch operator" call for clients, so the CLI polls; 4 calls a second is
    /// responsive for a person and negligible load for the scheduler.
    /// </summary>
    public const int DeployPollIntervalMs = 250;

    /// <summary>
    /// How long <c>concord up --detach</c> waits for the scheduler to write scheduler.json and
    /// answer a List call, in seconds: 30 (a cold start of the .NET host takes 1-3 s; a loaded
    /// machine can take far longer).
    /// </summary>
    public const int UpReadyTimeoutSeconds = 30;

    /// <summary>Interval between readiness probes of <c>concord up --detach</c>, in ms: 100.</summary>
    public const int UpReadyPollIntervalMs = 100;

    /// <summary>
    /// How long <c>concord down</c> (and a foreground <c>concord up</c> on Ctrl-C) waits for the
    /// scheduler to exit after SIGTERM before it sends SIGKILL, in seconds: 30. The scheduler
    /// drains every instance on SIGTERM, and each executor has its own bounded drain.
    /// </summary>
    public const int SchedulerStopTimeoutSeconds = 30;

    /// <summary>Interval between "has it exited yet" checks of <c>concord down</c>, in ms: 100.</summary>
    public const int StopPollIntervalMs = 100;

    /// <summary>Lines of scheduler.log shown when a detached scheduler exits during start-up: 20.</summary>
    public const int LogTailLinesMax = 20;

    /// <summary>Largest deploy file read, in bytes: 1 MiB. A spec is a few hundred bytes.</summary>
    public const int DeployFileBytesMax = 1024 * 1024;

    /// <summary>Characters of an operator's last error shown in <c>concord list</c>: 60.</summary>
    public const int ListErrorCharsMax = 60;

    /// <summary>Characters of an aborted checkpoint's reason `concord checkpoints` prints: 200, one wrapped line in a terminal.</summary>
    public const int CheckpointReasonCharsMax = 200;

    /// <summary>
    /// Console width assumed when output is redirected, in columns: 200, so a table piped to a
    /// file or grep is not wrapped at Spectre's default of 80.
    /// </summary>
    public const int RedirectedWidthColumns = 200;
}

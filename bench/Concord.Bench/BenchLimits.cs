namespace Concord.Bench;

/// <summary>Every bound of the benchmark, unit last in the name.</summary>
public static class BenchLimits
{
    /// <summary>Records per echo message: 1,000, the batch size the issue names for the transport ceiling.</summary>
    public const int EchoBatchRecords = 1_000;

    /// <summary>Echo messages unanswered at once: 4, as the executor's ExecutorLimits.BatchesInFlightMax.</summary>
    public const int EchoBatchesInFlight = 4;

    /// <summary>How long the scheduler may take to start serving, in ms (cold JIT on 2 cores).</summary>
    public const int SchedulerStartTimeoutMs = 30_000;

    /// <summary>How long deployed instances may take to reach running, in ms.</summary>
    public const int RunningTimeoutMs = 60_000;

    /// <summary>Deadline of each scheduler call, in ms.</summary>
    public const int SchedulerCallTimeoutMs = 15_000;

    /// <summary>How long records may take to reach the sink after deploy, in ms.</summary>
    public const int FirstRecordsTimeoutMs = 60_000;

    /// <summary>Interval between /proc samples of every process, in ms.</summary>
    public const int SampleIntervalMs = 500;

    /// <summary>How long stopping the scheduler (which drains its executors) may take, in ms; then it is killed.</summary>
    public const int StopTimeoutMs = 30_000;

    /// <summary>How long to wait for the sink to rewrite its stats file (every second while records arrive), in ms: generous for a loaded machine.</summary>
    public const int StatsFreshnessTimeoutMs = 15_000;

    /// <summary>Delay per record of the stalled sink, in µs: 100 ms, so the pipeline is effectively stopped.</summary>
    public const int StalledSinkDelayMicros = 100_000;

    /// <summary>Checkpoint interval of the guarantees scenario, in ms: every second, as the issue asks (the scheduler's --checkpoint-interval-ms).</summary>
    public const int CheckpointIntervalMs = 1_000;

    /// <summary>Completed checkpoints the scheduler keeps listed: enough for a whole measured window's at one a second.</summary>
    public const int CheckpointsRetained = 100;

    /// <summary>Share of the rate before the kill that a 1 s stats interval must reach to count as steady again.</summary>
    public const double RecoverySteadyFraction = 0.8;

    /// <summary>How long recovery may take before the scenario reports it as not recovered, in ms.</summary>
    public const int RecoveryTimeoutMs = 60_000;

    /// <summary>Interval between instance listings while waiting for the restart, in ms.</summary>
    public const int RecoveryListIntervalMs = 250;

    /// <summary>Interval between reads of the sink's stats file while recovering, in ms.</summary>
    public const int RecoveryPollMs = 50;

    /// <summary>The memory backend's bound in the state-size scenario: 4 GiB, so it does not interfere with 1M keys.</summary>
    public const long StateSizeMemoryBytesMax = 4L << 30;

    /// <summary>How long writing one checkpoint of the state-size scenario may take, in ms.</summary>
    public const int StateWriteTimeoutMs = 300_000;

    /// <summary>Counter keys of the state-size scenario: 1M, as the issue asks.</summary>
    public const int StateKeysDefault = 1_000_000;
}

namespace Concord.Examples.WordCount;

/// <summary>Every bound of the word-count example, unit last in the name.</summary>
public static class WordCountLimits
{
    /// <summary>
    /// Interval between the source's timer fires: 1 ms. Short enough that 20,000 words/s leave
    /// in steps of about 20 (smooth, low latency); the executor batches them anyway.
    /// </summary>
    public const int SourceTimerIntervalMs = 1;

    /// <summary>
    /// Most words one source timer fire may emit: 5,000. After a stall (backpressure, GC) the
    /// source catches up at most this much at once and forgets older debt, so one BatchDone
    /// stays small (~100 KB) and the rate never spikes far above the configured one.
    /// </summary>
    public const int SourceBurstWordsMax = 5_000;

    /// <summary>Default source rate in words per second (WORDCOUNT_RATE), as in the Concord benchmark's demo.</summary>
    public const long SourceDefaultRateWordsPerSecond = 20_000;

    /// <summary>
    /// Longest the sink keeps written lines in memory before flushing to the CSV file: 200 ms,
    /// so a person or a test tailing the file sees counts almost live while writes stay batched.
    /// </summary>
    public const int SinkFlushIntervalMs = 200;

    /// <summary>Sink file buffer: 64 KiB, about 4,000 lines of word,count between flushes.</summary>
    public const int SinkWriteBufferBytes = 64 * 1024;

    /// <summary>Largest per-record delay of a slow sink (WORDCOUNT_SINK_DELAY_US), in µs: 10 s.</summary>
    public const long SinkDelayMicrosMax = 10_000_000;
}

using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;
using Concord.Contracts.Operator.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Session;
using Google.Protobuf;

namespace Concord.Executor.Tests;

internal static class TestSupport
{
    /// <summary>Every await in these tests (the test kit's one in-process step).</summary>
    public static readonly TimeSpan Bound = TestTimeouts.Step;

    public static ConcordRecord Record(string key, string? value = null) => new()
    {
        Key = ByteString.CopyFromUtf8(key),
        Value = ByteString.CopyFromUtf8(value ?? key),
    };

    /// <summary>The record as the executor carries it (serialized, scanned).</summary>
    public static RawRecord Raw(string key, string? value = null) => RawRecord.From(Record(key, value));

    /// <summary>Puts records into the queue as if a sender with credit had pushed them.</summary>
    public static void Push(InboundQueue queue, params ConcordRecord[] records)
    {
        Assert.True(queue.TryOpenChannel("test", out var channel));
        var raw = records.Select(RawRecord.From).ToArray();
        long bytes = raw.Sum(r => (long)r.Length);
        // The initial grant is ready at once (a real server writes it to the sender first).
        var grant = channel.NextGrantAsync(CancellationToken.None);
        Assert.True(grant.IsCompletedSuccessfully);
        Assert.Null(channel.TryConsume(records.Length, bytes));
        queue.Enqueue(raw, bytes, channel);
        channel.Close();
    }

    /// <summary>UTF-8 bytes (a record's key or value) as a string.</summary>
    public static string ToStringUtf8(this ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>The batch as the pump builds it (records serialized and scanned).</summary>
    public static RawBatch ToRaw(this ProcessBatch batch)
    {
        var raw = new RawBatch(batch.Records.Count) { Seq = batch.Seq };
        foreach (var record in batch.Records)
        {
            raw.Add(RawRecord.From(record));
        }
        raw.TimersFired.AddRange(batch.TimersFired);
        return raw;
    }

    /// <summary>Sends a generated ProcessBatch (converted as the pump would have built it).</summary>
    public static ValueTask SendAsync(this IOperatorSession session, ProcessBatch batch, CancellationToken cancellationToken) =>
        session.SendAsync(batch.ToRaw(), cancellationToken);

    /// <summary>Routes a generated BatchDone, scanned as the session would have scanned it.</summary>
    public static ValueTask RouteAsync(this Concord.Executor.Routing.Router router, BatchDone done, CancellationToken cancellationToken) =>
        router.RouteAsync(RawAnswer.From(done, router.Outputs), cancellationToken);

    /// <summary>The answer as the router receives it, with the session's output streams.</summary>
    public static RawAnswer ToRaw(this BatchDone done, params string[] outputs) => RawAnswer.From(done, new StreamTable(outputs));

    /// <summary>The key as a string (UTF-8).</summary>
    public static string KeyString(this RawRecord record) => Encoding.UTF8.GetString(record.Key);

    /// <summary>The value as a string (UTF-8).</summary>
    public static string ValueString(this RawRecord record) => Encoding.UTF8.GetString(record.Value);
}

/// <summary>
/// An operator session that records what it was sent (as generated messages, for easy
/// assertions) and answers when the test says so (generated BatchDones, scanned the way the
/// executor scans an operator's answers).
/// </summary>
internal sealed class ScriptedSession(params string[] outputs) : IOperatorSession
{
    public Channel<ProcessBatch> Sent { get; } = Channel.CreateUnbounded<ProcessBatch>();

    public Channel<BatchDone> Answers { get; } = Channel.CreateUnbounded<BatchDone>();

    public StreamTable Outputs { get; } = new(outputs);

    public int OperatorPid => 0;

    public Task Exited => Task.Delay(System.Threading.Timeout.Infinite);

    public Task<Metadata> StartAsync(Init init, CancellationToken cancellationToken) => Task.FromResult(new Metadata());

    /// <summary>Awaited before a batch is recorded as sent: a test holds the pump there (a <see cref="SyncPoint"/>).</summary>
    public Func<ProcessBatch, Task>? BeforeSend { get; set; }

    public async ValueTask SendAsync(RawBatch batch, CancellationToken cancellationToken)
    {
        var message = batch.ToProcessBatch();
        if (BeforeSend is { } hook)
        {
            await hook(message).ConfigureAwait(false);
        }
        await Sent.Writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<RawAnswer> ReadAnswersAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var done in Answers.Reader.ReadAllAsync(cancellationToken))
        {
            yield return RawAnswer.From(done, Outputs);
        }
    }

    public Task SendShutdownAsync(string reason, CancellationToken cancellationToken)
    {
        Answers.Writer.TryComplete();
        return Task.CompletedTask;
    }

    public void Kill() => Answers.Writer.TryComplete();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

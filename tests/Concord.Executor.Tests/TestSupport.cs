using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Concord.Contracts.Operator.V1;
using Concord.Executor.DataPlane;
using Concord.Executor.Session;
using Google.Protobuf;
using Google.Protobuf.Collections;

namespace Concord.Executor.Tests;

internal static class TestSupport
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    public static ConcordRecord Record(string key, string? value = null) => new()
    {
        Key = ByteString.CopyFromUtf8(key),
        Value = ByteString.CopyFromUtf8(value ?? key),
    };

    /// <summary>Puts records into the queue as if a sender with credit had pushed them.</summary>
    public static void Push(InboundQueue queue, params ConcordRecord[] records)
    {
        Assert.True(queue.TryOpenChannel("test", out var channel));
        var field = new RepeatedField<ConcordRecord> { records };
        var sizes = records.Select(r => r.CalculateSize()).ToArray();
        long bytes = sizes.Sum();
        // The initial grant is ready at once (a real server writes it to the sender first).
        var grant = channel.NextGrantAsync(CancellationToken.None);
        Assert.True(grant.IsCompletedSuccessfully);
        Assert.Null(channel.TryConsume(records.Length, bytes));
        queue.Enqueue(field, sizes, bytes, channel);
        channel.Close();
    }

    /// <summary>A short temp directory (unix socket paths must stay under 108 bytes).</summary>
    public static string ShortTempDir()
    {
        var dir = Path.Combine("/tmp", "cc-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>An operator session that records what it was sent and answers when the test says so.</summary>
internal sealed class ScriptedSession : IOperatorSession
{
    public Channel<ProcessBatch> Sent { get; } = Channel.CreateUnbounded<ProcessBatch>();

    public Channel<BatchDone> Answers { get; } = Channel.CreateUnbounded<BatchDone>();

    public int OperatorPid => 0;

    public Task Exited => Task.Delay(System.Threading.Timeout.Infinite);

    public Task<Metadata> StartAsync(Init init, CancellationToken cancellationToken) => Task.FromResult(new Metadata());

    public ValueTask SendAsync(ProcessBatch batch, CancellationToken cancellationToken) => Sent.Writer.WriteAsync(batch, cancellationToken);

    public async IAsyncEnumerable<BatchDone> ReadAnswersAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var done in Answers.Reader.ReadAllAsync(cancellationToken))
        {
            yield return done;
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

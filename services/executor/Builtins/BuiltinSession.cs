using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Records;
using Concord.Executor.Session;

namespace Concord.Executor.Builtins;

/// <summary>
/// Base of the operators that run inside the executor. They keep the session semantics of a
/// user operator (Metadata, BatchDone{0}, BatchDone per batch in order, timers), so the pump,
/// router and data plane do not know the difference. Callbacks run on the pump's thread.
/// </summary>
public abstract class BuiltinSession : IOperatorSession
{
    private readonly Channel<RawAnswer> _answers = Channel.CreateBounded<RawAnswer>(
        new BoundedChannelOptions(ExecutorLimits.BatchesInFlightMax + 1) { SingleReader = true });
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected BuiltinSession(OperatorSpec spec, TimeProvider time)
    {
        Spec = spec;
        Time = time;
    }

    protected OperatorSpec Spec { get; }

    protected TimeProvider Time { get; }

    /// <summary>
    /// Set by the executor before the pump starts (<see cref="BatchPump.FireTimerNow"/>): makes
    /// one of this built-in's timers due now and wakes the pump, from any thread. A built-in
    /// that waits for an outside event (kafka-source, for messages while its topic is idle)
    /// calls it when the event comes instead of polling on a short timer. Null when nothing
    /// drives timers from outside (tests that call the session directly): then such a built-in polls.
    /// </summary>
    public Action<string>? WakeTimer { get; set; }

    public int OperatorPid => 0;

    public Task Exited => _exited.Task;

    public StreamTable Outputs { get; private set; } = StreamTable.Empty;

    /// <summary>What metadata() would return for this built-in.</summary>
    protected abstract OperatorMetadata Describe();

    /// <summary>init(ctx): may produce records and set timers into <paramref name="done"/>.</summary>
    protected virtual void OnInit(AnswerWriter done)
    {
    }

    /// <summary>
    /// The records (as bytes, read in place) and fired timers of one batch; results go into
    /// <paramref name="done"/>, produced records to streams by their index in <see cref="Outputs"/>.
    /// </summary>
    protected abstract void OnBatch(RawBatch batch, AnswerWriter done);

    /// <summary>destroy(): flush and release resources.</summary>
    protected virtual void OnShutdown()
    {
    }

    public Task<Metadata> StartAsync(Init init, CancellationToken cancellationToken)
    {
        var metadata = Describe();
        Outputs = new StreamTable(metadata.Outputs);
        var done = new AnswerWriter(0);
        OnInit(done);
        _answers.Writer.TryWrite(done.Answer);
        return Task.FromResult(new Metadata
        {
            Metadata_ = metadata,
            ProtocolVersion = ProtocolLimits.ProtocolVersion,
            Capabilities = { Capabilities.All },
            Sdk = $"concord-executor-builtin/{Spec.Builtin.Kind}",
        });
    }

    public async ValueTask SendAsync(RawBatch batch, CancellationToken cancellationToken)
    {
        var done = new AnswerWriter(batch.Seq);
        try
        {
            OnBatch(batch, done);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            var failure = e as ExecutorFailureException
                ?? new OperatorFailedException($"built-in operator '{Spec.Builtin.Kind}' failed: {e.Message}", e);
            _answers.Writer.TryComplete(failure);
            throw failure;
        }
        await _answers.Writer.WriteAsync(done.Answer, cancellationToken).ConfigureAwait(false);
    }

    public async IAsyncEnumerable<RawAnswer> ReadAnswersAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var done in _answers.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return done;
        }
    }

    public Task SendShutdownAsync(string reason, CancellationToken cancellationToken)
    {
        Stop();
        return Task.CompletedTask;
    }

    public void Kill() => Stop();

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    private void Stop()
    {
        if (_exited.Task.IsCompleted)
        {
            return;
        }
        try
        {
            OnShutdown();
        }
        finally
        {
            _answers.Writer.TryComplete();
            _exited.TrySetResult();
        }
    }

    /// <summary>Record timestamps as an SDK sets them for records produced in init or a timer.</summary>
    protected (long EventTimeMs, long IngestTimeUs) Now()
    {
        var now = Time.GetUtcNow();
        return (now.ToUnixTimeMilliseconds(), (now - DateTimeOffset.UnixEpoch).Ticks / 10);
    }
}

using Concord.Contracts.Operator.V1;
using Grpc.Core;

namespace Concord.Sdk.Internal;

/// <summary>
/// Holds the one session an operator process serves: the executor opens exactly one, and when
/// it ends the process is done. A second Session call is refused.
/// </summary>
internal sealed class SessionHost(Computation computation, TimeProvider time)
{
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<SessionOutcome> _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private OperatorSession? _session;
    private string? _stopReason;
    private volatile SessionOutcome? _outcome;

    /// <summary>Completes when the executor opens the session.</summary>
    public Task Opened => _opened.Task;

    /// <summary>Completes with the outcome when the session is over.</summary>
    public Task<SessionOutcome> Completed => _completed.Task;

    public async Task RunSessionAsync(
        IAsyncStreamReader<ExecutorMessage> requests,
        IServerStreamWriter<OutboundMessage> responses,
        ServerCallContext context)
    {
        OperatorSession session;
        string? stopReason;
        lock (_gate)
        {
            if (_session is not null || _completed.Task.IsCompleted)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    "this operator process already serves its session; an executor opens exactly one session per operator process"));
            }
            session = _session = new OperatorSession(computation, time);
            stopReason = _stopReason;
        }
        _opened.TrySetResult();
        if (stopReason is not null)
        {
            session.RequestStop(stopReason);
        }
        _outcome = await session.RunAsync(requests, responses, context.CancellationToken);
    }

    /// <summary>
    /// After the session's response is sent: waits (at most <see cref="SdkLimits.SessionLingerMs"/>)
    /// for the executor to close its side, then publishes the outcome, which lets the server stop.
    /// </summary>
    public async Task FinishAsync()
    {
        var outcome = _outcome;
        var session = _session;
        if (outcome is null || session is null)
        {
            return;
        }
        await Task.WhenAny(session.ExecutorClosed, Task.Delay(TimeSpan.FromMilliseconds(SdkLimits.SessionLingerMs), time));
        _completed.TrySetResult(outcome);
    }

    /// <summary>Ends the session cleanly (Destroy, exit 0), or records the stop if none is open.</summary>
    public void RequestStop(string reason)
    {
        OperatorSession? session;
        lock (_gate)
        {
            _stopReason ??= reason;
            session = _session;
        }
        session?.RequestStop(reason);
    }
}

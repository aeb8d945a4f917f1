using Concord.Contracts.Agent.V1;
using Concord.Scheduler.Runtime.Agents.Internal;
using Grpc.Core;

namespace Concord.Scheduler.Runtime.Agents;

/// <summary>
/// `concord logs` of instances on agents: an instance's executor.log lives in the home of the
/// agent that runs (or ran) it, so the scheduler asks that agent for the tail over its session
/// (AgentLogRequest / AgentLogAnswer), bounded by <see cref="SchedulerLimits.AgentLogRequestsInFlightMax"/>,
/// <see cref="SchedulerLimits.AgentLogTimeoutMs"/> and <see cref="SchedulerLimits.AgentLogAnswerBytesMax"/>.
/// </summary>
public sealed partial class AgentClusterRuntime
{
    /// <summary>
    /// The last <paramref name="tailLines"/> lines of one instance's executor.log, from the agent it
    /// was last placed on, or with <paramref name="fromOffset"/> the lines written since that
    /// offset (following); with the agent that answered and where following continues.
    /// </summary>
    public async Task<AgentLogTail> ReadLogAsync(string operatorName, int index, int tailLines, long? fromOffset, CancellationToken cancellationToken)
    {
        PlacedOn placed;
        AgentSession? session;
        lock (_lock)
        {
            if (!_placed.TryGetValue((operatorName, index), out placed!))
            {
                throw new RpcException(new Status(StatusCode.NotFound,
                    $"{operatorName}/{index} has not been launched on any agent yet, so it has no log; wait until `concord list` shows its host"));
            }
            session = _agents.TryGetValue(placed.Agent, out var agent) ? agent.Session : null;
        }
        var what = $"{operatorName}/{index}";
        var answer = await AskAsync(placed.Agent, session, what,
            new AgentLogRequest
            {
                OperatorName = operatorName,
                Index = index,
                Release = placed.Release,
                TailLines = tailLines,
                Follow = fromOffset is not null,
                FromOffset = fromOffset ?? 0,
            }, cancellationToken).ConfigureAwait(false);
        if (answer.NotFound)
        {
            throw new RpcException(new Status(StatusCode.NotFound,
                $"agent {placed.Agent} has no executor.log of {what} (not started yet, or removed); retry once `concord list` shows it running"));
        }
        return new AgentLogTail(placed.Agent, answer.Lines, answer.NextOffset);
    }

    /// <summary>
    /// The log an agent kept of the operator's last failed instance (the newest when several
    /// agents have one), with its index; null when no connected agent has one.
    /// </summary>
    public async Task<(int Index, IReadOnlyList<string> Lines)?> ReadKeptLogAsync(string operatorName, int tailLines, CancellationToken cancellationToken)
    {
        List<(string Id, AgentSession Session)> connected;
        lock (_lock)
        {
            connected = _agents.Values.Where(a => a.Session is not null).OrderBy(a => a.Id, StringComparer.Ordinal).Select(a => (a.Id, a.Session!)).ToList();
        }
        var what = $"the kept log of {operatorName}";
        var answers = await Task.WhenAll(connected.Select(async a =>
        {
            try
            {
                return await AskAsync(a.Id, a.Session, what, new AgentLogRequest { OperatorName = operatorName, TailLines = tailLines, Kept = true }, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted)
            {
                // An agent that cannot answer now just has nothing to offer.
                return null;
            }
        })).ConfigureAwait(false);
        var newest = answers.OfType<AgentLogAnswer>().Where(a => !a.NotFound).MaxBy(a => a.ModifiedUnixMs);
        return newest is null ? null : (newest.KeptIndex, newest.Lines);
    }

    private async Task<AgentLogAnswer> AskAsync(string agentId, AgentSession? session, string what, AgentLogRequest request, CancellationToken cancellationToken)
    {
        if (session is null)
        {
            throw NotConnected(agentId, what);
        }
        if (session.StartLogRequest() is not { } pending)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"agent {agentId} is answering {SchedulerLimits.AgentLogRequestsInFlightMax} log requests already (SchedulerLimits.AgentLogRequestsInFlightMax), or just disconnected; retry in a moment"));
        }
        request.RequestId = pending.Id;
        try
        {
            if (!session.TrySend(new AgentCommand { LogRequest = request }))
            {
                throw NotConnected(agentId, what);
            }
            var answer = await pending.Answer.WaitAsync(TimeSpan.FromMilliseconds(SchedulerLimits.AgentLogTimeoutMs), _time, cancellationToken).ConfigureAwait(false);
            if (answer.Error.Length > 0)
            {
                throw new RpcException(new Status(StatusCode.FailedPrecondition, $"agent {agentId} could not read {what}: {answer.Error}"));
            }
            return answer;
        }
        catch (TimeoutException)
        {
            throw new RpcException(new Status(StatusCode.DeadlineExceeded,
                $"agent {agentId} did not send {what} within {SchedulerLimits.AgentLogTimeoutMs} ms (SchedulerLimits.AgentLogTimeoutMs); check the agent's own log on its host and retry"));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The session ended while the agent was reading.
            throw NotConnected(agentId, what);
        }
        finally
        {
            session.EndLogRequest(pending.Id);
        }
    }

    private static RpcException NotConnected(string agentId, string what) => new(new Status(StatusCode.Unavailable,
        $"agent {agentId}, which has {what}, is not connected to this scheduler, so the log cannot be read; " +
        $"start `concord agent --agent-id {agentId}` again on its host (its log is in instances/ of that agent's home there)"));

    /// <summary>The agent an instance was last placed on, and the release it ran as there.</summary>
    private sealed record PlacedOn(string Agent, int Release);
}

/// <summary>Lines of one instance's log from its agent, and the byte offset where following continues there.</summary>
public sealed record AgentLogTail(string Agent, IReadOnlyList<string> Lines, long NextOffset);

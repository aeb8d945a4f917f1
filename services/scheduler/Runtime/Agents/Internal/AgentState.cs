using System.Threading.Channels;
using Concord.Contracts.Agent.V1;

namespace Concord.Scheduler.Runtime.Agents.Internal;

/// <summary>One open session with an agent: the commands queued for it (bounded) and what ends it.</summary>
internal sealed class AgentSession : IDisposable
{
    private readonly Channel<AgentCommand> _commands = Channel.CreateBounded<AgentCommand>(
        new BoundedChannelOptions(SchedulerLimits.AgentCommandsInFlightMax) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _ended;
    private int _queued;
    /// <summary>Log requests waiting for their answer, by request id (at most <see cref="SchedulerLimits.AgentLogRequestsInFlightMax"/>).</summary>
    private readonly Dictionary<ulong, TaskCompletionSource<AgentLogAnswer>> _logRequests = [];
    private ulong _lastRequestId;
    private bool _logRequestsClosed;

    public AgentSession(CancellationToken callEnded) => _ended = CancellationTokenSource.CreateLinkedTokenSource(callEnded);

    public ChannelReader<AgentCommand> Commands => _commands.Reader;

    public CancellationToken Ended => _ended.Token;

    /// <summary>Queues a command; false when the queue is full (the agent does not read) or the session ended.</summary>
    public bool TrySend(AgentCommand command)
    {
        if (_ended.IsCancellationRequested)
        {
            return false;
        }
        // DropWrite reports success when it drops: count what the reader has not taken yet instead.
        if (Interlocked.Increment(ref _queued) > SchedulerLimits.AgentCommandsInFlightMax)
        {
            Interlocked.Decrement(ref _queued);
            return false;
        }
        if (!_commands.Writer.TryWrite(command))
        {
            Interlocked.Decrement(ref _queued);
            return false;
        }
        return true;
    }

    /// <summary>The writer took a command off the queue.</summary>
    public void Taken() => Interlocked.Decrement(ref _queued);

    /// <summary>A new log request's id and its answer; null when too many are in flight or the session ended.</summary>
    public (ulong Id, Task<AgentLogAnswer> Answer)? StartLogRequest()
    {
        lock (_logRequests)
        {
            if (_logRequestsClosed || _logRequests.Count >= SchedulerLimits.AgentLogRequestsInFlightMax)
            {
                return null;
            }
            var id = ++_lastRequestId;
            var answer = new TaskCompletionSource<AgentLogAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
            _logRequests[id] = answer;
            return (id, answer.Task);
        }
    }

    /// <summary>Hands an answer to its request; one for an unknown (timed out) request is dropped.</summary>
    public void Answer(AgentLogAnswer answer)
    {
        lock (_logRequests)
        {
            if (_logRequests.Remove(answer.RequestId, out var request))
            {
                request.TrySetResult(answer);
            }
        }
    }

    /// <summary>The asker gave up (answered, timed out or cancelled).</summary>
    public void EndLogRequest(ulong id)
    {
        lock (_logRequests)
        {
            _logRequests.Remove(id);
        }
    }

    public void End()
    {
        lock (_logRequests)
        {
            _logRequestsClosed = true;
            // Cancelled: the asker reports the agent as disconnected.
            foreach (var request in _logRequests.Values)
            {
                request.TrySetCanceled();
            }
            _logRequests.Clear();
        }
        _commands.Writer.TryComplete();
        try
        {
            _ended.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already over.
        }
    }

    public void Dispose() => _ended.Dispose();
}

/// <summary>An agent the scheduler knows, connected or not (until it is lost). Guarded by the runtime's lock.</summary>
internal sealed class AgentState(string id)
{
    public string Id { get; } = id;

    public string HostName { get; set; } = "";

    public string AdvertisedHost { get; set; } = "";

    public double Cpus { get; set; }

    public int MemMb { get; set; }

    /// <summary>The open session; null while disconnected (its instances keep their capacity until it is lost).</summary>
    public AgentSession? Session { get; set; }

    /// <summary>When the agent was last heard from (TimeProvider timestamp).</summary>
    public long LastHeard { get; set; }

    /// <summary>Instances placed on it (or adopted), by incarnation.</summary>
    public Dictionary<string, AgentInstanceHandle> Instances { get; } = new(StringComparer.Ordinal);

    /// <summary>Instances it reported before the scheduler decided what to adopt, by incarnation.</summary>
    public Dictionary<string, AgentInstance> Leftovers { get; } = new(StringComparer.Ordinal);

    public double UsedCpus => Instances.Values.Sum(i => i.Cpus);

    public long UsedMemMb => Instances.Values.Sum(i => (long)i.MemMb);

    public double FreeCpus => Cpus - UsedCpus;

    public long FreeMemMb => MemMb - UsedMemMb;
}

/// <summary>An instance on an agent, as the reconcile loop sees it.</summary>
internal sealed class AgentInstanceHandle : IInstanceHandle
{
    private readonly TaskCompletionSource<InstanceExit> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<int> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _pid;

    public AgentInstanceHandle(string operatorName, int index, string incarnation, string host, double cpus, int memMb)
    {
        OperatorName = operatorName;
        Index = index;
        Incarnation = incarnation;
        Host = host;
        Cpus = cpus;
        MemMb = memMb;
    }

    public string OperatorName { get; }

    public int Index { get; }

    public string Incarnation { get; }

    public string Host { get; }

    public int Pid => Volatile.Read(ref _pid);

    public double Cpus { get; }

    public int MemMb { get; }

    /// <summary>The scheduler asked it to stop: a reconnecting agent that still runs it is told again.</summary>
    public int StopTimeoutMs { get; set; } = -1;

    public Task<InstanceExit> Exited => _exited.Task;

    /// <summary>Completes with the pid when the agent reports it started; faults when the launch failed.</summary>
    public Task<int> Started => _started.Task;

    public void SetStarted(int pid)
    {
        Volatile.Write(ref _pid, pid);
        _started.TrySetResult(pid);
    }

    public void FailLaunch(string description)
    {
        _started.TrySetException(new InvalidOperationException(description));
        _exited.TrySetResult(new InstanceExit(-1, description));
    }

    public void End(InstanceExit exit)
    {
        _started.TrySetException(new InvalidOperationException($"{OperatorName}/{Index} ended before it started: {exit.Description}"));
        _exited.TrySetResult(exit);
    }
}

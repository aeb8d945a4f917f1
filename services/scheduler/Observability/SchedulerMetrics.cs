using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Reconcile;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Prometheus;

namespace Concord.Scheduler.Observability;

/// <summary>
/// The scheduler's metrics (docs/observability.md): topology figures read from the reconcile
/// loop when Prometheus scrapes, and counters of topology changes counted by
/// <see cref="TopologyCallCounter"/>. One registry per scheduler (tests run several in one process).
/// </summary>
public sealed class SchedulerMetrics
{
    private readonly Gauge _operators;
    private readonly Gauge _instances;
    private readonly Counter _restarts;
    private readonly Dictionary<string, Counter> _calls = new(StringComparer.Ordinal);
    private readonly HashSet<string> _known = new(StringComparer.Ordinal);
    private readonly HashSet<(string Operator, string Instance)> _knownInstances = [];

    public SchedulerMetrics(Reconciler reconciler, Checkpoints.CheckpointCoordinator checkpoints)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var factory = Prometheus.Metrics.WithCustomRegistry(Registry);
        _operators = factory.CreateGauge("concord_operators", "Operators deployed.");
        _instances = factory.CreateGauge("concord_instances", "Instances per operator and lifecycle state.", ["operator", "state"]);
        _restarts = factory.CreateCounter("concord_restarts_total", "Restarts of each instance since its operator was deployed.", ["operator", "instance"]);
        foreach (var kind in new[] { "deploy", "kill", "scale", "replace" })
        {
            _calls[kind] = factory.CreateCounter($"concord_{kind}s_total", $"Successful {kind} calls since the scheduler started.");
        }
        factory.CreateGauge("concord_scheduler_start_time_seconds", "When this scheduler started, seconds since the Unix epoch.").SetToCurrentTimeUtc();
        var restores = factory.CreateCounter("concord_restores_total",
            "Global restores: every instance of the operators with a delivery guarantee restarted from the last completed checkpoint (docs/guarantees.md).");
        var completed = factory.CreateCounter("concord_checkpoints_completed_total", "Checkpoints and savepoints completed since the scheduler started.");
        var aborted = factory.CreateCounter("concord_checkpoints_aborted_total", "Checkpoints and savepoints aborted since the scheduler started.");
        Registry.AddBeforeCollectCallback(() =>
        {
            restores.IncTo(reconciler.Restores);
            completed.IncTo(checkpoints.CompletedTotal);
            aborted.IncTo(checkpoints.AbortedTotal);
        });
        Registry.AddBeforeCollectCallback(async cancellationToken => Update(await reconciler.ListAsync(cancellationToken).ConfigureAwait(false)));
    }

    public CollectorRegistry Registry { get; }

    /// <summary>Counts one successful topology call of <paramref name="kind"/> (lower-case RPC name).</summary>
    public void CountCall(string kind) => _calls.GetValueOrDefault(kind)?.Inc();

    private void Update(IReadOnlyList<OperatorStatus> operators)
    {
        lock (_known)
        {
            _operators.Set(operators.Count);
            var now = new HashSet<string>(StringComparer.Ordinal);
            var nowInstances = new HashSet<(string, string)>();
            foreach (var op in operators)
            {
                var name = op.Spec.Name;
                now.Add(name);
                foreach (var state in Enum.GetValues<InstanceState>().Where(s => s != InstanceState.Unspecified))
                {
                    _instances.WithLabels(name, StateName(state)).Set(op.Instances.Count(i => i.State == state));
                }
                foreach (var instance in op.Instances)
                {
                    var index = instance.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    nowInstances.Add((name, index));
                    _restarts.WithLabels(name, index).IncTo(instance.Restarts);
                }
            }
            // A killed operator's series disappear, so a redeploy starts its counters at zero.
            foreach (var gone in _known.Where(n => !now.Contains(n)))
            {
                foreach (var state in Enum.GetValues<InstanceState>().Where(s => s != InstanceState.Unspecified))
                {
                    _instances.RemoveLabelled(gone, StateName(state));
                }
            }
            foreach (var (op, index) in _knownInstances.Where(k => !nowInstances.Contains(k)))
            {
                _restarts.RemoveLabelled(op, index);
            }
            _known.Clear();
            _known.UnionWith(now);
            _knownInstances.Clear();
            _knownInstances.UnionWith(nowInstances);
        }
    }

    /// <summary>"running", "crash_looping", ...: the enum name without its prefix, lower case.</summary>
    public static string StateName(InstanceState state) => state switch
    {
        InstanceState.Pending => "pending",
        InstanceState.Starting => "starting",
        InstanceState.Running => "running",
        InstanceState.Draining => "draining",
        InstanceState.Stopped => "stopped",
        InstanceState.Failed => "failed",
        InstanceState.CrashLooping => "crash_looping",
        _ => state.ToString().ToLowerInvariant(),
    };
}

/// <summary>Counts successful Deploy, Kill, Scale (and any other topology-changing) calls for <see cref="SchedulerMetrics"/>.</summary>
public sealed class TopologyCallCounter(SchedulerMetrics metrics) : Interceptor
{
    private static readonly HashSet<string> Counted = new(StringComparer.Ordinal) { "Deploy", "Kill", "Scale", "Replace" };

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var response = await continuation(request, context).ConfigureAwait(false);
        var method = context.Method[(context.Method.LastIndexOf('/') + 1)..];
        if (Counted.Contains(method))
        {
            metrics.CountCall(method.ToLowerInvariant());
        }
        return response;
    }
}

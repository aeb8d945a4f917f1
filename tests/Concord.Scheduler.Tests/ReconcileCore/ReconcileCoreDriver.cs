using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Reconcile.Core;
using Concord.Scheduler.Reconcile.Internal;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Concord.Scheduler.Tests.ReconcileCore;

/// <summary>
/// Drives <see cref="Reconcile.Core.ReconcileCore"/> with no process, socket, file or clock:
/// an in-memory store, <see cref="FakeInstance"/> handles, timers on a
/// <see cref="FakeTimeProvider"/>, and a routing table kept here. It carries out the core's
/// actions the way the Reconciler does, synchronously, and records them for the test.
/// </summary>
internal sealed class ReconcileCoreDriver
{
    public const string SchedulerAddress = "http://127.0.0.1:7400";

    private readonly SortedDictionary<string, OperatorEntry> _store = new(StringComparer.Ordinal);
    private readonly Dictionary<object, ITimer> _timers = [];
    private readonly Queue<TimerEvent> _fired = new();
    private readonly Dictionary<IInstanceHandle, InstanceSlot> _watched = [];
    private long _revision;
    private int _nextPid = 2000;

    public ReconcileCoreDriver()
    {
        Core = new Reconcile.Core.ReconcileCore(Time, NullLogger.Instance, static () => new RestartBackoffAdapter());
        Core.Start(SchedulerAddress);
    }

    /// <summary>Starts at a fixed instant, so nothing depends on the machine's clock.</summary>
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public Reconcile.Core.ReconcileCore Core { get; }

    /// <summary>Every action carried out, in order.</summary>
    public List<ReconcileAction> Actions { get; } = [];

    /// <summary>Every instance launched, in order.</summary>
    public List<FakeInstance> Launches { get; } = [];

    /// <summary>Every instance stopped at once, in order.</summary>
    public List<IInstanceHandle> Stops { get; } = [];

    /// <summary>Instances to stop once the routing table they were routed away in is delivered.</summary>
    public List<IInstanceHandle> StopsAfterRouting { get; } = [];

    /// <summary>Every table published, in order.</summary>
    public List<RoutingTable> Published { get; } = [];

    public RoutingTable Routing { get; private set; } = new();

    /// <summary>When set, the runtime refuses every launch with this message.</summary>
    public string? LaunchError { get; set; }

    public int ArmedTimers => _timers.Count;

    public TopologySnapshot Snapshot() => new(_revision, _store.Values.ToList());

    /// <summary>What the effects layer's compare-and-set does, against the in-memory store.</summary>
    public void Write(StoreWrite write)
    {
        var actual = _store.TryGetValue(write.Name, out var entry) ? entry.Version : TopologyStoreVersions.Absent;
        if (actual != write.ExpectedVersion)
        {
            throw new TopologyConflictException(write.Name, write.ExpectedVersion, actual);
        }
        _revision++;
        if (write.Spec is null)
        {
            _store.Remove(write.Name);
        }
        else
        {
            _store[write.Name] = new OperatorEntry(write.Name, write.Spec.Clone(), write.Metadata?.Clone(), _revision)
            {
                StateSince = write.NewState ? _revision : entry?.StateSince ?? 0,
            };
        }
    }

    public void Apply()
    {
        Core.Apply(Snapshot());
        Run();
    }

    public OperatorStatus Deploy(OperatorSpec spec)
    {
        var write = Core.PlanDeploy(spec);
        Write(write);
        Core.Deployed(write);
        Apply();
        return Core.Status(spec.Name);
    }

    public void Kill(string name)
    {
        Write(Core.PlanKill(name));
        Core.Killed(name);
        Apply();
    }

    public void Scale(string name, int instances)
    {
        if (Core.PlanScale(name, instances) is { } write)
        {
            Write(write);
            Core.Scaled(write);
            Apply();
        }
    }

    /// <summary>Registers <paramref name="instance"/> the way the Reconciler does, store writes included.</summary>
    public RegisterOutcome Register(FakeInstance instance, OperatorMetadata? metadata = null, ulong restoredCheckpointId = 0)
    {
        var request = new RegisterExecutorRequest
        {
            RestoredCheckpointId = restoredCheckpointId,
            OperatorName = instance.OperatorName,
            InstanceIndex = instance.Index,
            Incarnation = instance.Incarnation,
            DataAddress = $"127.0.0.1:{9000 + instance.Pid}",
            Metadata = metadata ?? MetadataOf(instance.Launch.Spec),
        };
        var first = Core.Register(request);
        var outcome = first;
        if (outcome is RecordMetadata recording)
        {
            Write(recording.Write);
            Apply();
            Core.MetadataRecorded(recording);
            outcome = Core.Register(request);
        }
        if (outcome is SwitchReplace switching)
        {
            Run();
            Write(switching.Write);
            var pending = Core.Switch(switching);
            Apply();
            Core.CompleteSwitch(switching, pending);
        }
        Run();
        return first;
    }

    /// <summary>The process of <paramref name="instance"/> exits with <paramref name="code"/>.</summary>
    public void Exit(IInstanceHandle instance, int code = 1, bool outOfMemory = false)
    {
        ((FakeInstance)instance).Exit(code);
        Core.OnExited(_watched[instance], instance, new InstanceExit(code, $"exited with code {code}", outOfMemory));
        Run();
    }

    /// <summary>Moves the fake clock; timers that come due report to the core in order.</summary>
    public void Advance(TimeSpan by)
    {
        Time.Advance(by);
        while (_fired.TryDequeue(out var fired))
        {
            Core.OnTimer(fired);
            Run();
        }
    }

    /// <summary>Carries out every decided action, as Reconciler.CarryOutAsync does.</summary>
    public void Run()
    {
        while (Core.TryTakeAction(out var action))
        {
            Actions.Add(action);
            switch (action)
            {
                case LaunchInstance launch when Reconcile.Core.ReconcileCore.IsCurrent(launch):
                    if (LaunchError is { } error)
                    {
                        Core.LaunchFailed(launch, error);
                    }
                    else
                    {
                        var instance = new FakeInstance(launch.Launch, ++_nextPid);
                        Launches.Add(instance);
                        Core.Launched(launch, instance);
                    }
                    break;
                case StopInstance stop:
                    Stops.Add(stop.Handle);
                    break;
                case WatchExit watch:
                    _watched[watch.Handle] = watch.Slot;
                    break;
                case ArmTimer arm:
                    if (_timers.Remove(arm.Event.Owner, out var previous))
                    {
                        previous.Dispose();
                    }
                    _timers[arm.Event.Owner] = Time.CreateTimer(_ => _fired.Enqueue(arm.Event), null, arm.Delay, Timeout.InfiniteTimeSpan);
                    break;
                case CancelTimer cancel:
                    if (_timers.Remove(cancel.Owner, out var timer))
                    {
                        timer.Dispose();
                    }
                    break;
                case PublishRouting:
                    var plan = Core.PlanRouting(Routing);
                    if (plan.Table is { } table)
                    {
                        Routing = table;
                        Published.Add(table);
                    }
                    StopsAfterRouting.AddRange(plan.StopsAfterRouting);
                    break;
            }
        }
    }

    public static OperatorSpec Spec(string name, int instances = 1, string? reads = null, string? writes = null,
        DeliveryGuarantee delivery = DeliveryGuarantee.DeliveryUnspecified)
    {
        var spec = new OperatorSpec { Name = name, Executable = "/bin/true", Instances = instances, Delivery = delivery };
        if (reads is not null)
        {
            spec.ExpectedInputs.Add(new InputStream { Name = reads, Grouping = Grouping.Shuffle });
        }
        if (writes is not null)
        {
            spec.ExpectedOutputs.Add(writes);
        }
        return spec;
    }

    public static OperatorMetadata MetadataOf(OperatorSpec spec)
    {
        var metadata = new OperatorMetadata { Name = spec.Name };
        metadata.Inputs.AddRange(spec.ExpectedInputs);
        metadata.Outputs.AddRange(spec.ExpectedOutputs);
        return metadata;
    }

    /// <summary>The data addresses routing gives the readers of <paramref name="stream"/>, by index.</summary>
    public IReadOnlyList<string> RoutedAddresses(string stream) =>
        Routing.Streams.Single(s => s.Stream == stream).Readers.Single().Instances.Select(i => i.DataAddress).ToList();

    public OperatorStatus Status(string name) => Core.List().Single(o => o.Spec.Name == name);
}

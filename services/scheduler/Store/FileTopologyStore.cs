using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Google.Protobuf;
using Microsoft.Extensions.Logging;

namespace Concord.Scheduler.Store;

/// <summary>
/// The embedded topology store: one JSON file (<c>&lt;home&gt;/topology.json</c>) rewritten
/// atomically on every change (temp file, fsync, rename), so a crash leaves either the old or
/// the new topology, never half of one. Specs and metadata are stored as protobuf JSON, the
/// same text the executor reads from CONCORD_SPEC_FILE.
/// </summary>
/// <remarks>
/// Thread-safe: writes are serialized by one semaphore. Meant for one scheduler per home;
/// the scheduler's home lock (see <see cref="SchedulerHome"/>) makes sure of that.
/// The file is not trusted: every entry is checked on load as a deploy is (see
/// <see cref="Open"/>), and one that fails is quarantined — never read, never run, kept in
/// the file as it was — instead of being executed.
/// </remarks>
public sealed partial class FileTopologyStore : ITopologyStore
{
    /// <summary>File format version written in the file; a reader refuses a newer one.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly string _path;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _watchersLock = new();
    private readonly List<Channel<long>> _watchers = [];
    private SortedDictionary<string, OperatorEntry> _entries;
    private long _revision;
    /// <summary>Entries refused at load, by name; written back as they were until that name is written anew.</summary>
    private List<QuarantinedEntry> _quarantined;
    /// <summary>Completed checkpoints by id; replaced, never mutated, so readers need no lock.</summary>
    private IReadOnlyList<CheckpointRecord> _checkpoints;

    private FileTopologyStore(string path, SortedDictionary<string, OperatorEntry> entries, long revision, List<QuarantinedEntry> quarantined,
        IReadOnlyList<CheckpointRecord>? checkpoints = null)
    {
        _path = path;
        _entries = entries;
        _revision = revision;
        _quarantined = quarantined;
        _checkpoints = checkpoints ?? [];
    }

    /// <summary>Path of the file.</summary>
    public string FilePath => _path;

    /// <summary>Entries of the file refused at load (never run), with the reason; empty when all were good.</summary>
    public IReadOnlyList<QuarantinedEntry> Quarantined => Volatile.Read(ref _quarantined);

    /// <summary>
    /// Opens the store at <paramref name="path"/>, empty if the file does not exist. Every
    /// entry is checked as a deploy is: <see cref="OperatorSpecValidator"/> (which also keeps
    /// names to ones that cannot leave the home), the spec size
    /// (<see cref="SchedulerLimits.SpecBytesMax"/>), its stored name against its spec's name,
    /// a name stored twice, and <paramref name="validate"/> (the runtime's checks). An entry
    /// that fails is quarantined: left out of the topology, logged as an error naming it and
    /// why, and kept in the file unchanged so it can be fixed by hand (it is checked again at
    /// the next start), until an operator of that name is deployed anew.
    /// </summary>
    /// <param name="validate">More checks of a spec: null when fine, else the problem (the runtime's Validate).</param>
    /// <exception cref="InvalidDataException">The file exists but cannot be read as a topology.</exception>
    public static FileTopologyStore Open(string path, Func<OperatorSpec, string?>? validate = null, ILogger? logger = null)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // A crash mid-write leaves a temp file beside the topology (never a torn topology):
        // harmless, but it would pile up over many crashes.
        AtomicFile.DeleteLeftoverTempFiles(full);
        if (!File.Exists(full))
        {
            return new FileTopologyStore(full, new SortedDictionary<string, OperatorEntry>(StringComparer.Ordinal), 0, []);
        }
        try
        {
            // Bounded before it is read: a file grown past the limit (by hand, or by an older
            // scheduler without it) is refused, not loaded into memory whole.
            if (new FileInfo(full).Length is var fileBytes && fileBytes > SchedulerLimits.TopologyBytesMax)
            {
                throw new InvalidDataException($"it has {fileBytes} bytes, more than {SchedulerLimits.TopologyBytesMax} (SchedulerLimits.TopologyBytesMax)");
            }
            var root = JsonNode.Parse(File.ReadAllText(full))?.AsObject()
                ?? throw new InvalidDataException("the file is empty");
            var format = root["format"]?.GetValue<int>() ?? 0;
            if (format > FormatVersion)
            {
                throw new InvalidDataException($"it has format {format}, newer than this scheduler's {FormatVersion}; use a newer scheduler");
            }
            var revision = root["revision"]?.GetValue<long>() ?? 0;
            var loaded = new List<(JsonObject Item, OperatorEntry Entry, string? Problem)>();
            foreach (var node in root["operators"]?.AsArray() ?? [])
            {
                var item = node!.AsObject();
                var (spec, metadata) = StoredJson.ReadSpecAndMetadata(item);
                var version = item["version"]!.GetValue<long>();
                var storedName = item["name"]?.GetValue<string>() ?? "";
                revision = Math.Max(revision, version);
                var stateSince = item["state_since"]?.GetValue<long>() ?? 0;
                loaded.Add((item, new OperatorEntry(spec.Name, spec, metadata, version) { StateSince = stateSince }, Check(storedName, spec, version, validate)));
            }
            var entries = new SortedDictionary<string, OperatorEntry>(StringComparer.Ordinal);
            var quarantined = new List<QuarantinedEntry>();
            var counts = loaded.GroupBy(l => l.Entry.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
            foreach (var (item, entry, checkProblem) in loaded)
            {
                var problem = counts[entry.Name] > 1
                    ? $"operator '{entry.Name}' is stored {counts[entry.Name]} times; keep one of its entries (or deploy it again, which replaces them all)"
                    : checkProblem;
                if (problem is null)
                {
                    entries[entry.Name] = entry;
                    continue;
                }
                quarantined.Add(new QuarantinedEntry(entry.Name, problem, item.DeepClone().AsObject()));
                if (logger is not null)
                {
                    LogQuarantined(logger, entry.Name, full, problem);
                }
            }
            var checkpoints = StoredJson.ReadCheckpoints(root["checkpoints"]?.AsArray());
            return new FileTopologyStore(full, entries, revision, quarantined, checkpoints);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or InvalidDataException or InvalidProtocolBufferException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException(
                $"topology file '{full}' cannot be read ({e.Message}); fix it by hand, or move it away to start with an empty topology", e);
        }
    }

    public Task<TopologySnapshot> ReadAsync(CancellationToken cancellationToken)
    {
        // Entries are immutable records and the dictionary is replaced, never mutated, after
        // construction, so a reader needs no lock: it sees one consistent revision.
        var (entries, revision) = (Volatile.Read(ref _entries), Interlocked.Read(ref _revision));
        return Task.FromResult(new TopologySnapshot(revision, entries.Values.ToList()));
    }

    public Task<OperatorEntry?> GetAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Volatile.Read(ref _entries).GetValueOrDefault(name));

    public Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, CancellationToken cancellationToken) =>
        CompareAndSetAsync(name, expectedVersion, spec, metadata, newState: false, cancellationToken);

    public async Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, bool newState, CancellationToken cancellationToken)
    {
        TopologyStoreArguments.ThrowIfInvalid(name, spec);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var current = _entries.GetValueOrDefault(name);
            var actualVersion = current?.Version ?? TopologyStoreVersions.Absent;
            if (actualVersion != expectedVersion)
            {
                throw new TopologyConflictException(name, expectedVersion, actualVersion);
            }
            if (spec is null && current is null)
            {
                return null;
            }
            var revision = _revision + 1;
            var next = new SortedDictionary<string, OperatorEntry>(_entries, StringComparer.Ordinal);
            OperatorEntry? written = null;
            if (spec is null)
            {
                next.Remove(name);
            }
            else
            {
                written = new OperatorEntry(name, spec.Clone(), metadata?.Clone(), revision) { StateSince = newState ? revision : current?.StateSince ?? 0 };
                next[name] = written;
            }
            // A write of a name settles it: a quarantined entry of that name is dropped.
            var quarantined = spec is null ? _quarantined : _quarantined.Where(q => q.Name != name).ToList();
            // Durable first, visible second: a reader never sees a change a crash could undo.
            await WriteFileAsync(next, quarantined, _checkpoints, revision, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _entries, next);
            Volatile.Write(ref _quarantined, quarantined);
            Interlocked.Exchange(ref _revision, revision);
            Notify(revision);
            return written;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task<IReadOnlyList<CheckpointRecord>> ReadCheckpointsAsync(CancellationToken cancellationToken) =>
        Task.FromResult(Volatile.Read(ref _checkpoints));

    public async Task RecordCheckpointAsync(CheckpointRecord completed, IReadOnlyCollection<ulong> forget, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completed);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_checkpoints.Any(c => c.Id == completed.Id))
            {
                throw new ArgumentException($"checkpoint {completed.Id} is already recorded", nameof(completed));
            }
            var next = _checkpoints.Where(c => !forget.Contains(c.Id)).Append(completed).OrderBy(c => c.Id).ToList();
            await WriteFileAsync(_entries, _quarantined, next, Interlocked.Read(ref _revision), cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _checkpoints, next);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public async IAsyncEnumerable<long> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<long>(new BoundedChannelOptions(SchedulerLimits.StoreWatchQueueNotificationsMax)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_watchersLock)
        {
            // Under the lock Notify takes: a change notified between reading the revision and
            // queueing it would otherwise be pushed out by the older revision (the queue keeps
            // one), and the watcher would miss it until the next change.
            _watchers.Add(channel);
            channel.Writer.TryWrite(Interlocked.Read(ref _revision));
        }
        try
        {
            // A change made while the watch was being added can arrive twice (as the current
            // revision and as its notification); watchers see each revision once, in order.
            var last = long.MinValue;
            await foreach (var revision in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (revision > last)
                {
                    last = revision;
                    yield return revision;
                }
            }
        }
        finally
        {
            lock (_watchersLock)
            {
                _watchers.Remove(channel);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        lock (_watchersLock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Writer.TryComplete();
            }
            _watchers.Clear();
        }
        return ValueTask.CompletedTask;
    }

    private void Notify(long revision)
    {
        lock (_watchersLock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Writer.TryWrite(revision);
            }
        }
    }

    private async Task WriteFileAsync(SortedDictionary<string, OperatorEntry> entries, IReadOnlyList<QuarantinedEntry> quarantined,
        IReadOnlyList<CheckpointRecord> checkpoints, long revision, CancellationToken cancellationToken)
    {
        var operators = new JsonArray();
        foreach (var entry in entries.Values)
        {
            operators.Add(StoredJson.WriteEntry(entry.Name, entry.Version, entry.Spec, entry.Metadata, entry.StateSince));
        }
        foreach (var entry in quarantined)
        {
            operators.Add(entry.Stored.DeepClone());
        }
        var root = new JsonObject
        {
            ["format"] = FormatVersion,
            ["revision"] = revision,
            ["operators"] = operators,
        };
        if (checkpoints.Count > 0)
        {
            root["checkpoints"] = StoredJson.WriteCheckpoints(checkpoints);
        }
        var text = root.ToJsonString(Indented);
        if (System.Text.Encoding.UTF8.GetByteCount(text) is var bytes && bytes > SchedulerLimits.TopologyBytesMax)
        {
            throw new TopologyTooLargeException(bytes, SchedulerLimits.TopologyBytesMax);
        }
        await AtomicFile.WriteAllTextAsync(_path, text, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Why a stored entry may not be loaded; null when it is as good as a deploy.</summary>
    private static string? Check(string storedName, OperatorSpec spec, long version, Func<OperatorSpec, string?>? validate)
    {
        var problems = OperatorSpecValidator.Validate(spec);
        if (problems.Count > 0)
        {
            return OperatorSpecValidator.Describe(spec, problems);
        }
        if (storedName != spec.Name)
        {
            return $"the entry is stored as '{storedName}' but its spec is named '{spec.Name}'; make \"name\" equal the spec's name";
        }
        if (version <= TopologyStoreVersions.Absent)
        {
            return $"version {version} is not a stored version; use a number above 0";
        }
        if (spec.CalculateSize() is var size && size > SchedulerLimits.SpecBytesMax)
        {
            return $"the spec has {size} bytes, more than {SchedulerLimits.SpecBytesMax} (SchedulerLimits.SpecBytesMax); shorten it";
        }
        return validate?.Invoke(spec) is { } problem ? $"invalid operator '{spec.Name}':\n  {problem}" : null;
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Error,
        Message = "Operator {Operator} in {File} is quarantined (not run): {Problem}\nFix the entry by hand while the scheduler is stopped (it is checked again at the next start), or deploy the operator again")]
    private static partial void LogQuarantined(ILogger logger, string @operator, string file, string problem);
}

/// <summary>An entry of the topology file refused at load: never run, kept in the file as it was.</summary>
/// <param name="Name">The spec's name as stored (may be invalid).</param>
/// <param name="Reason">Why it was refused: the problem and the fix.</param>
/// <param name="Stored">The entry as it was in the file, written back unchanged.</param>
public sealed record QuarantinedEntry(string Name, string Reason, JsonObject Stored);

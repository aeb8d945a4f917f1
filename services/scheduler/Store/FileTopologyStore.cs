using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

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
/// </remarks>
public sealed class FileTopologyStore : ITopologyStore
{
    /// <summary>File format version written in the file; a reader refuses a newer one.</summary>
    public const int FormatVersion = 1;

    private static readonly JsonParser ProtoParser = new(JsonParser.Settings.Default.WithIgnoreUnknownFields(true));
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly string _path;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Lock _watchersLock = new();
    private readonly List<Channel<long>> _watchers = [];
    private SortedDictionary<string, OperatorEntry> _entries;
    private long _revision;

    private FileTopologyStore(string path, SortedDictionary<string, OperatorEntry> entries, long revision)
    {
        _path = path;
        _entries = entries;
        _revision = revision;
    }

    /// <summary>Path of the file.</summary>
    public string FilePath => _path;

    /// <summary>Opens the store at <paramref name="path"/>, empty if the file does not exist.</summary>
    /// <exception cref="InvalidDataException">The file exists but cannot be read as a topology.</exception>
    public static FileTopologyStore Open(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        // A crash mid-write leaves a temp file beside the topology (never a torn topology):
        // harmless, but it would pile up over many crashes.
        AtomicFile.DeleteLeftoverTempFiles(full);
        if (!File.Exists(full))
        {
            return new FileTopologyStore(full, new SortedDictionary<string, OperatorEntry>(StringComparer.Ordinal), 0);
        }
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(full))?.AsObject()
                ?? throw new InvalidDataException("the file is empty");
            var format = root["format"]?.GetValue<int>() ?? 0;
            if (format > FormatVersion)
            {
                throw new InvalidDataException($"it has format {format}, newer than this scheduler's {FormatVersion}; use a newer scheduler");
            }
            var revision = root["revision"]?.GetValue<long>() ?? 0;
            var entries = new SortedDictionary<string, OperatorEntry>(StringComparer.Ordinal);
            foreach (var node in root["operators"]?.AsArray() ?? [])
            {
                var item = node!.AsObject();
                var spec = ProtoParser.Parse<OperatorSpec>(item["spec"]!.ToJsonString());
                var metadataNode = item["metadata"];
                var metadata = metadataNode is null ? null : ProtoParser.Parse<OperatorMetadata>(metadataNode.ToJsonString());
                var version = item["version"]!.GetValue<long>();
                entries[spec.Name] = new OperatorEntry(spec.Name, spec, metadata, version);
                revision = Math.Max(revision, version);
            }
            return new FileTopologyStore(full, entries, revision);
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

    public async Task<OperatorEntry?> CompareAndSetAsync(
        string name, long expectedVersion, OperatorSpec? spec, OperatorMetadata? metadata, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (spec is not null && spec.Name != name)
        {
            throw new ArgumentException($"spec name '{spec.Name}' differs from entry name '{name}'", nameof(spec));
        }
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
                written = new OperatorEntry(name, spec.Clone(), metadata?.Clone(), revision);
                next[name] = written;
            }
            // Durable first, visible second: a reader never sees a change a crash could undo.
            await WriteFileAsync(next, revision, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _entries, next);
            Interlocked.Exchange(ref _revision, revision);
            Notify(revision);
            return written;
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

    private async Task WriteFileAsync(SortedDictionary<string, OperatorEntry> entries, long revision, CancellationToken cancellationToken)
    {
        var operators = new JsonArray();
        foreach (var entry in entries.Values)
        {
            var item = new JsonObject
            {
                ["name"] = entry.Name,
                ["version"] = entry.Version,
                ["spec"] = JsonNode.Parse(JsonFormatter.Default.Format(entry.Spec)),
            };
            if (entry.Metadata is not null)
            {
                item["metadata"] = JsonNode.Parse(JsonFormatter.Default.Format(entry.Metadata));
            }
            operators.Add(item);
        }
        var root = new JsonObject
        {
            ["format"] = FormatVersion,
            ["revision"] = revision,
            ["operators"] = operators,
        };
        await AtomicFile.WriteAllTextAsync(_path, root.ToJsonString(Indented), cancellationToken).ConfigureAwait(false);
    }
}

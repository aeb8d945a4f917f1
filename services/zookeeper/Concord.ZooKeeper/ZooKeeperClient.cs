using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using Concord.ZooKeeper.Internal;

namespace Concord.ZooKeeper;

/// <summary>
/// One ZooKeeper session over the official C client (<c>libzookeeper_mt.so.2</c>). Every call is
/// asynchronous (the library's <c>zoo_a*</c> functions), thread-safe, and completes on the thread
/// pool, never on the library's thread. Watches are one-shot: a read "and watch" returns the
/// value with a task that completes at the next change.
/// </summary>
/// <remarks>
/// A lost connection is retried by the library (state <see cref="ZooKeeperConnectionState.Connecting"/>);
/// operations in flight then fail with <see cref="ZooKeeperError.ConnectionLoss"/>. An expired
/// session is final: the state turns <see cref="ZooKeeperConnectionState.Expired"/>, every watch
/// ends with <see cref="WatchEventType.SessionExpired"/>, and the caller opens a new client. The
/// server only says "expired" once the client reaches it again: during a partition the client
/// sees <see cref="ZooKeeperConnectionState.Connecting"/> for as long as the partition lasts.
/// </remarks>
public sealed class ZooKeeperClient : IAsyncDisposable
{
    /// <summary>The version that matches any (setData and delete without a compare).</summary>
    public const int AnyVersion = -1;

    private readonly Lock _stateLock = new();
    private readonly List<Channel<ZooKeeperConnectionState>> _stateWatchers = [];
    private readonly TaskCompletionSource _firstConnected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly nint _sessionId;
    private ZooKeeperConnectionState _state = ZooKeeperConnectionState.Connecting;
    /// <summary>
    /// Held while a call uses the handle, and while the handle is taken away for the close, so a
    /// call never reaches a closed handle. Calls only queue a request: they hold it briefly.
    /// </summary>
    private readonly Lock _handleLock = new();
    private nint _zh;
    private int _sessionTimeoutMs;
    private int _disposed;

    private ZooKeeperClient(string connectString)
    {
        ConnectString = connectString;
        _sessionId = Callbacks.Register(new SessionPending(this));
    }

    /// <summary>The servers this client connects to.</summary>
    public string ConnectString { get; }

    /// <summary>The session timeout the server granted, in ms (0 before the first connection).</summary>
    public int SessionTimeoutMs => Volatile.Read(ref _sessionTimeoutMs);

    public ZooKeeperConnectionState State
    {
        get
        {
            lock (_stateLock)
            {
                return _state;
            }
        }
    }

    /// <summary>
    /// Opens a session and waits until it is connected.
    /// </summary>
    /// <exception cref="ZooKeeperException">No server answered within the connect timeout.</exception>
    /// <exception cref="DllNotFoundException">libzookeeper_mt.so.2 is not installed.</exception>
    public static async Task<ZooKeeperClient> ConnectAsync(ZooKeeperClientOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        CheckConnectString(options.ConnectString);
        if (options.SessionTimeoutMs is < ZooKeeperLimits.SessionTimeoutMsMin or > ZooKeeperLimits.SessionTimeoutMsMax)
        {
            throw new ArgumentException(
                $"session timeout {options.SessionTimeoutMs} ms is outside {ZooKeeperLimits.SessionTimeoutMsMin}..{ZooKeeperLimits.SessionTimeoutMsMax} ms (ZooKeeperLimits); pick one inside",
                nameof(options));
        }
        if (options.ConnectTimeoutMs <= 0)
        {
            throw new ArgumentException($"connect timeout {options.ConnectTimeoutMs} ms must be above 0", nameof(options));
        }
        LoadLibrary();
        var client = new ZooKeeperClient(options.ConnectString);
        client._zh = NativeCalls.Init(Utf8Z(options.ConnectString), options.SessionTimeoutMs, client._sessionId);
        if (client._zh == 0)
        {
            Callbacks.Take(client._sessionId);
            throw new ArgumentException(
                $"ZooKeeper connect string '{options.ConnectString}' was refused by the client library (errno {Marshal.GetLastPInvokeError()}); give HOST:PORT[,HOST:PORT...] with resolvable hosts",
                nameof(options));
        }
        try
        {
            await client._firstConnected.Task.WaitAsync(TimeSpan.FromMilliseconds(options.ConnectTimeoutMs), cancellationToken).ConfigureAwait(false);
            // Negotiated with the first server, and the same for the session's whole life.
            client._sessionTimeoutMs = client.WithHandle(Native.zoo_recv_timeout);
            return client;
        }
        catch (TimeoutException e)
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new ZooKeeperException(ZooKeeperError.ConnectionLoss,
                $"ZooKeeper at {options.ConnectString} not reachable within {options.ConnectTimeoutMs} ms; check --zookeeper and that the servers run", e);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The current state, then every change, until the client is disposed (the last one is
    /// <see cref="ZooKeeperConnectionState.Closed"/>) or <paramref name="cancellationToken"/> fires.
    /// A reader that falls behind loses the oldest changes, never the newest.
    /// </summary>
    public async IAsyncEnumerable<ZooKeeperConnectionState> WatchStateAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<ZooKeeperConnectionState>(new BoundedChannelOptions(ZooKeeperLimits.StateQueueChangesMax)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_stateLock)
        {
            channel.Writer.TryWrite(_state);
            if (_state == ZooKeeperConnectionState.Closed)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                _stateWatchers.Add(channel);
            }
        }
        try
        {
            await foreach (var state in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return state;
            }
        }
        finally
        {
            lock (_stateLock)
            {
                _stateWatchers.Remove(channel);
            }
        }
    }

    /// <summary>Creates <paramref name="path"/>; for a sequential mode the returned path has the suffix.</summary>
    public Task<CreatedNode> CreateAsync(string path, byte[] data, CreateMode mode, CancellationToken cancellationToken)
    {
        var pathBytes = CheckPath(path);
        CheckData(data);
        var constants = NativeConstants.Get;
        return Start("create", path, cancellationToken,
            (rc, stat, _, text, _) => new CreatedNode(text ?? path, stat!),
            (zh, id) => NativeCalls.Create(zh, pathBytes, data, constants.OpenAclUnsafe, NativeMode(mode), id));
    }

    /// <summary>Creates every missing node of <paramref name="path"/> (persistent, empty); an existing one is left as it is.</summary>
    public async Task EnsurePathAsync(string path, CancellationToken cancellationToken)
    {
        CheckPath(path);
        var at = 0;
        while (at < path.Length)
        {
            var next = path.IndexOf('/', at + 1);
            var prefix = next < 0 ? path : path[..next];
            at = next < 0 ? path.Length : next;
            if (await ExistsAsync(prefix, cancellationToken).ConfigureAwait(false) is not null)
            {
                continue;
            }
            try
            {
                await CreateAsync(prefix, [], CreateMode.Persistent, cancellationToken).ConfigureAwait(false);
            }
            catch (ZooKeeperException e) when (e.Code == ZooKeeperError.NodeExists)
            {
                // Made by another client in between: what was wanted.
            }
        }
    }

    /// <summary>The data and stat of <paramref name="path"/>; null when there is no such node.</summary>
    public async Task<ZNodeData?> GetAsync(string path, CancellationToken cancellationToken) =>
        (await GetCoreAsync(path, watch: false, cancellationToken).ConfigureAwait(false)).Value;

    /// <summary>
    /// The data of <paramref name="path"/> and a watch on it: fires on its next change or delete.
    /// For a node that does not exist, null and a watch that fires when it is created.
    /// </summary>
    public async Task<Watched<ZNodeData?>> GetAndWatchAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await GetCoreAsync(path, watch: true, cancellationToken).ConfigureAwait(false);
            if (read.Value is not null)
            {
                return read;
            }
            // No node: a get sets no watch then, an exists does (on its creation).
            var exists = await ExistsAndWatchAsync(path, cancellationToken).ConfigureAwait(false);
            if (exists.Value is null)
            {
                return new Watched<ZNodeData?>(null, exists.Changed);
            }
            // Created in between: read it again, with a data watch. The exists watch will fire
            // with its next change, which nobody awaits: harmless.
        }
    }

    /// <summary>Writes <paramref name="data"/> to <paramref name="path"/> if its version is <paramref name="version"/>; returns the stat after.</summary>
    public Task<ZNodeStat> SetAsync(string path, byte[] data, int version, CancellationToken cancellationToken)
    {
        var pathBytes = CheckPath(path);
        CheckData(data);
        return Start("setData", path, cancellationToken, (_, stat, _, _, _) => stat!, (zh, id) => NativeCalls.Set(zh, pathBytes, data, version, id));
    }

    /// <summary>Deletes <paramref name="path"/> if its version is <paramref name="version"/>.</summary>
    public Task DeleteAsync(string path, int version, CancellationToken cancellationToken)
    {
        var pathBytes = CheckPath(path);
        return Start("delete", path, cancellationToken, (_, _, _, _, _) => true, (zh, id) => NativeCalls.Delete(zh, pathBytes, version, id));
    }

    /// <summary>The stat of <paramref name="path"/>; null when there is no such node.</summary>
    public async Task<ZNodeStat?> ExistsAsync(string path, CancellationToken cancellationToken) =>
        (await ExistsCoreAsync(path, watch: false, cancellationToken).ConfigureAwait(false)).Value;

    /// <summary>The stat of <paramref name="path"/> (null when absent) and a watch: fires on its creation, change or delete.</summary>
    public Task<Watched<ZNodeStat?>> ExistsAndWatchAsync(string path, CancellationToken cancellationToken) =>
        ExistsCoreAsync(path, watch: true, cancellationToken);

    /// <summary>The names (not paths) of the children of <paramref name="path"/>, in no particular order.</summary>
    /// <exception cref="ZooKeeperException"><see cref="ZooKeeperError.NoNode"/>: there is no such node.</exception>
    public async Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken cancellationToken) =>
        (await ChildrenCoreAsync(path, watch: false, cancellationToken).ConfigureAwait(false)).Value;

    /// <summary>The children of <paramref name="path"/> and a watch: fires when one is added or removed, or the node is deleted.</summary>
    public Task<Watched<IReadOnlyList<string>>> GetChildrenAndWatchAsync(string path, CancellationToken cancellationToken) =>
        ChildrenCoreAsync(path, watch: true, cancellationToken);

    /// <summary>
    /// Applies all of <paramref name="ops"/> in one transaction, or none of them.
    /// </summary>
    /// <exception cref="ZooKeeperMultiException">One failed (see its FailedIndex and Results): nothing was applied.</exception>
    public async Task<IReadOnlyList<ZooKeeperOpResult>> MultiAsync(IReadOnlyList<ZooKeeperOp> ops, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ops);
        if (ops.Count is 0 or > ZooKeeperLimits.MultiOpsMax)
        {
            throw new ArgumentException($"a multi takes 1..{ZooKeeperLimits.MultiOpsMax} operations (ZooKeeperLimits.MultiOpsMax), not {ops.Count}", nameof(ops));
        }
        var paths = ops.Select(op => CheckPath(op.Path)).ToArray();
        foreach (var op in ops)
        {
            switch (op)
            {
                case ZooKeeperOp.Create create:
                    CheckData(create.Data);
                    break;
                case ZooKeeperOp.SetData set:
                    CheckData(set.Data);
                    break;
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        var memory = new MultiMemory(ops, paths);
        var constants = NativeConstants.Get;
        var pending = new OperationPending<int>(this, (rc, _, _, _, _) => rc, _ => null, memory.Free);
        var id = Callbacks.Register(pending);
        int started;
        try
        {
            started = WithHandle(zh => memory.Start(zh, constants.OpenAclUnsafe, id));
        }
        catch
        {
            if (Callbacks.Take(id) is not null)
            {
                memory.Free();
            }
            throw;
        }
        if (started != 0)
        {
            if (Callbacks.Take(id) is not null)
            {
                memory.Free();
            }
            throw Error(started, "multi", ops[0].Path);
        }
        // The library fills the results before its completion; the completion copies them
        // (memory.Free) before the task completes, so they are there once it has.
        var rc = await pending.Result.Task.ConfigureAwait(false);
        var results = memory.Copied!;
        if (rc == 0)
        {
            return results;
        }
        var failed = results.Select((r, i) => (r, i)).FirstOrDefault(x => x.r.Error is not ZooKeeperError.Ok and not ZooKeeperError.RuntimeInconsistency, (null!, -1)).Item2;
        var code = (ZooKeeperError)rc;
        var what = failed >= 0 ? $"{ops[failed].GetType().Name.ToLowerInvariant()} of operation {failed}" : "";
        throw new ZooKeeperMultiException(code, failed, results,
            ZooKeeperException.Describe(code, $"multi ({ops.Count} operations{(what.Length > 0 ? ", failed at " + what : "")})",
                failed >= 0 ? ops[failed].Path : ops[0].Path, ConnectString, ErrorText(rc)));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        nint zh;
        lock (_handleLock)
        {
            zh = _zh;
            _zh = 0;
        }
        if (zh != 0)
        {
            // Never from a callback (the library would wait for its own thread): always from
            // here, off the caller's thread, since a close waits for the server's answer.
            await Task.Run(() => Native.zookeeper_close(zh)).ConfigureAwait(false);
        }
        Callbacks.Take(_sessionId);
        Callbacks.FailAll(this, new ObjectDisposedException(nameof(ZooKeeperClient), $"the ZooKeeper client of {ConnectString} was disposed"));
        SetState(ZooKeeperConnectionState.Closed);
        _firstConnected.TrySetException(new ObjectDisposedException(nameof(ZooKeeperClient)));
    }

    /// <summary>Called on the library's thread for every session event of this handle.</summary>
    internal void OnSessionEvent(int type, int state)
    {
        var constants = NativeConstants.Get;
        if (type != constants.SessionEvent)
        {
            return;
        }
        if (state == constants.ConnectedState)
        {
            SetState(ZooKeeperConnectionState.Connected);
            _firstConnected.TrySetResult();
        }
        else if (state == constants.ConnectingState || state == constants.AssociatingState)
        {
            SetState(ZooKeeperConnectionState.Connecting);
        }
        else if (state == constants.ExpiredSessionState || state == constants.AuthFailedState)
        {
            SetState(ZooKeeperConnectionState.Expired);
            _firstConnected.TrySetException(new ZooKeeperException(ZooKeeperError.SessionExpired,
                $"ZooKeeper at {ConnectString} ended the session while connecting; open a new client"));
        }
    }

    private void SetState(ZooKeeperConnectionState state)
    {
        lock (_stateLock)
        {
            // Expired and closed are final: a late "connecting" from the library changes nothing.
            if (_state == state || _state == ZooKeeperConnectionState.Closed
                || (_state == ZooKeeperConnectionState.Expired && state != ZooKeeperConnectionState.Closed))
            {
                return;
            }
            _state = state;
            foreach (var watcher in _stateWatchers)
            {
                watcher.Writer.TryWrite(state);
                if (state == ZooKeeperConnectionState.Closed)
                {
                    watcher.Writer.TryComplete();
                }
            }
        }
    }

    private async Task<Watched<ZNodeData?>> GetCoreAsync(string path, bool watch, CancellationToken cancellationToken)
    {
        var pathBytes = CheckPath(path);
        var watchPending = watch ? new WatchPending(this, path) : null;
        var watchId = watchPending is null ? 0 : Callbacks.Register(watchPending);
        try
        {
            var value = await Start("getData", path, cancellationToken,
                (rc, stat, data, _, _) => rc == (int)ZooKeeperError.NoNode ? null : new ZNodeData(data ?? [], stat!),
                (zh, id) => NativeCalls.Get(zh, pathBytes, watchId, id), allowNoNode: true).ConfigureAwait(false);
            if (value is null && watchId != 0)
            {
                // A get of a missing node sets no watch.
                Callbacks.Take(watchId);
            }
            return new Watched<ZNodeData?>(value, watchPending?.Result.Task ?? Never);
        }
        catch
        {
            if (watchId != 0)
            {
                Callbacks.Take(watchId);
            }
            throw;
        }
    }

    private async Task<Watched<ZNodeStat?>> ExistsCoreAsync(string path, bool watch, CancellationToken cancellationToken)
    {
        var pathBytes = CheckPath(path);
        var watchPending = watch ? new WatchPending(this, path) : null;
        var watchId = watchPending is null ? 0 : Callbacks.Register(watchPending);
        try
        {
            var value = await Start("exists", path, cancellationToken,
                (rc, stat, _, _, _) => rc == (int)ZooKeeperError.NoNode ? null : stat,
                (zh, id) => NativeCalls.Exists(zh, pathBytes, watchId, id), allowNoNode: true).ConfigureAwait(false);
            return new Watched<ZNodeStat?>(value, watchPending?.Result.Task ?? Never);
        }
        catch
        {
            if (watchId != 0)
            {
                Callbacks.Take(watchId);
            }
            throw;
        }
    }

    private async Task<Watched<IReadOnlyList<string>>> ChildrenCoreAsync(string path, bool watch, CancellationToken cancellationToken)
    {
        var pathBytes = CheckPath(path);
        var watchPending = watch ? new WatchPending(this, path) : null;
        var watchId = watchPending is null ? 0 : Callbacks.Register(watchPending);
        try
        {
            var value = await Start("getChildren", path, cancellationToken,
                (_, _, _, _, children) => children is { Count: > ZooKeeperLimits.ChildrenMax }
                    ? throw new InvalidDataException(
                        $"{path} in ZooKeeper at {ConnectString} has more than {ZooKeeperLimits.ChildrenMax} children (ZooKeeperLimits.ChildrenMax); something creates nodes without bound there: remove them")
                    : (IReadOnlyList<string>)(children ?? []),
                (zh, id) => NativeCalls.Children(zh, pathBytes, watchId, id)).ConfigureAwait(false);
            return new Watched<IReadOnlyList<string>>(value, watchPending?.Result.Task ?? Never);
        }
        catch
        {
            if (watchId != 0)
            {
                Callbacks.Take(watchId);
            }
            throw;
        }
    }

    private static readonly Task<WatchEvent> Never = new TaskCompletionSource<WatchEvent>().Task;

    /// <summary>
    /// Registers a pending operation, starts it through <paramref name="call"/> and returns its
    /// task. A call refused at once (its rc) completes nothing: the entry is taken back here.
    /// </summary>
    private Task<T> Start<T>(string operation, string path, CancellationToken cancellationToken,
        Func<int, ZNodeStat?, byte[]?, string?, List<string>?, T> result, Func<nint, nint, int> call, bool allowNoNode = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new OperationPending<T>(this, result,
            rc => rc == 0 || (allowNoNode && rc == (int)ZooKeeperError.NoNode) ? null : Error(rc, operation, path));
        var id = Callbacks.Register(pending);
        int rc;
        try
        {
            rc = WithHandle(zh => call(zh, id));
        }
        catch
        {
            Callbacks.Take(id);
            throw;
        }
        if (rc != 0 && Callbacks.Take(id) is not null)
        {
            throw Error(rc, operation, path);
        }
        return pending.Result.Task;
    }

    private int WithHandle(Func<nint, int> call)
    {
        lock (_handleLock)
        {
            ObjectDisposedException.ThrowIf(_zh == 0, this);
            return call(_zh);
        }
    }

    private ZooKeeperException Error(int rc, string operation, string path) =>
        new((ZooKeeperError)rc, ZooKeeperException.Describe((ZooKeeperError)rc, operation, path, ConnectString, ErrorText(rc)));

    private static string ErrorText(int rc) => NativeCalls.ErrorText(rc);

    private static int NativeMode(CreateMode mode)
    {
        var c = NativeConstants.Get;
        return mode switch
        {
            CreateMode.Persistent => 0,
            CreateMode.Ephemeral => c.Ephemeral,
            CreateMode.PersistentSequential => c.Sequence,
            CreateMode.EphemeralSequential => c.Ephemeral | c.Sequence,
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown create mode"),
        };
    }

    private static void LoadLibrary()
    {
        try
        {
            _ = NativeConstants.Get;
        }
        catch (DllNotFoundException e)
        {
            throw new DllNotFoundException(
                $"the ZooKeeper C client ({Native.Library}) is not installed; install the Debian package libzookeeper-mt2 (scripts/install-zookeeper.sh)", e);
        }
    }

    private static void CheckConnectString(string connectString)
    {
        if (string.IsNullOrWhiteSpace(connectString))
        {
            throw new ArgumentException("the ZooKeeper connect string is empty; give HOST:PORT[,HOST:PORT...]", nameof(connectString));
        }
        var hosts = connectString.Split('/', 2)[0].Split(',');
        if (hosts.Length > ZooKeeperLimits.ServersMax)
        {
            throw new ArgumentException($"the ZooKeeper connect string names {hosts.Length} servers, more than {ZooKeeperLimits.ServersMax} (ZooKeeperLimits.ServersMax)", nameof(connectString));
        }
        foreach (var host in hosts)
        {
            var colon = host.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(host.AsSpan(colon + 1), out var port) || port is <= 0 or > 65535)
            {
                throw new ArgumentException($"'{host}' in the ZooKeeper connect string '{connectString}' is not HOST:PORT", nameof(connectString));
            }
        }
    }

    private static byte[] CheckPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!path.StartsWith('/') || (path.Length > 1 && path.EndsWith('/')) || path.Contains("//", StringComparison.Ordinal) || path.Contains('\0'))
        {
            throw new ArgumentException($"'{path}' is not a znode path: absolute, no empty segment, no trailing slash", nameof(path));
        }
        var bytes = Utf8Z(path);
        if (bytes.Length - 1 > ZooKeeperLimits.PathBytesMax)
        {
            throw new ArgumentException($"the path has {bytes.Length - 1} bytes, more than {ZooKeeperLimits.PathBytesMax} (ZooKeeperLimits.PathBytesMax)", nameof(path));
        }
        return bytes;
    }

    private static void CheckData(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length > ZooKeeperLimits.NodeDataBytesMax)
        {
            throw new ArgumentException(
                $"the node data has {data.Length} bytes, more than {ZooKeeperLimits.NodeDataBytesMax} (ZooKeeperLimits.NodeDataBytesMax, under ZooKeeper's 1 MiB request limit); store less in one node",
                nameof(data));
        }
    }

    private static byte[] Utf8Z(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    /// <summary>
    /// The native memory of one multi: the library keeps pointers into the ops, results,
    /// created-path buffers and stats until its completion runs, so all of it lives in one
    /// native block freed after the completion (or after the handle is closed).
    /// </summary>
    private sealed unsafe class MultiMemory
    {
        private readonly IReadOnlyList<ZooKeeperOp> _ops;
        private byte* _block;

        public MultiMemory(IReadOnlyList<ZooKeeperOp> ops, byte[][] paths)
        {
            _ops = ops;
            var n = ops.Count;
            var size = (nuint)(n * (sizeof(NativeOp) + sizeof(NativeOpResult) + sizeof(NativeStat) + ZooKeeperLimits.CreatedPathBytesMax));
            var strings = 0;
            for (var i = 0; i < n; i++)
            {
                strings += paths[i].Length + DataOf(ops[i]).Length;
            }
            _block = (byte*)NativeMemory.AllocZeroed(size + (nuint)strings);
            Ops = (NativeOp*)_block;
            Results = (NativeOpResult*)(Ops + n);
            Stats = (NativeStat*)(Results + n);
            var cursor = (byte*)(Stats + n);
            CreatedPaths = new byte*[n];
            Paths = new byte*[n];
            Data = new byte*[n];
            for (var i = 0; i < n; i++)
            {
                CreatedPaths[i] = cursor;
                cursor += ZooKeeperLimits.CreatedPathBytesMax;
            }
            for (var i = 0; i < n; i++)
            {
                Paths[i] = cursor;
                paths[i].CopyTo(new Span<byte>(cursor, paths[i].Length));
                cursor += paths[i].Length;
                var data = DataOf(ops[i]);
                Data[i] = cursor;
                data.CopyTo(new Span<byte>(cursor, data.Length));
                cursor += data.Length;
            }
        }

        public NativeOp* Ops { get; }

        public NativeOpResult* Results { get; }

        public NativeStat* Stats { get; }

        public byte*[] CreatedPaths { get; }

        public byte*[] Paths { get; }

        public byte*[] Data { get; }

        /// <summary>Fills the ops with the library's init functions and starts the multi.</summary>
        public int Start(nint zh, nint acl, nint id)
        {
            for (var i = 0; i < _ops.Count; i++)
            {
                var op = Ops + i;
                switch (_ops[i])
                {
                    case ZooKeeperOp.Check check:
                        Native.zoo_check_op_init(op, Paths[i], check.Version);
                        break;
                    case ZooKeeperOp.Create create:
                        Native.zoo_create_op_init(op, Paths[i], Data[i], create.Data.Length, acl, NativeMode(create.Mode),
                            CreatedPaths[i], ZooKeeperLimits.CreatedPathBytesMax);
                        break;
                    case ZooKeeperOp.SetData set:
                        Native.zoo_set_op_init(op, Paths[i], Data[i], set.Data.Length, set.Version, Stats + i);
                        break;
                    case ZooKeeperOp.Delete delete:
                        Native.zoo_delete_op_init(op, Paths[i], delete.Version);
                        break;
                    default:
                        throw new ArgumentException($"unknown multi operation {_ops[i].GetType().Name}");
                }
            }
            return NativeCalls.Multi(zh, _ops.Count, Ops, Results, id);
        }

        /// <summary>The results as copied when the multi completed.</summary>
        public IReadOnlyList<ZooKeeperOpResult>? Copied { get; private set; }

        /// <summary>Copies the results, then frees the block; runs once, when the library is done with it.</summary>
        public void Free()
        {
            if (_block is null)
            {
                return;
            }
            var results = new ZooKeeperOpResult[_ops.Count];
            for (var i = 0; i < _ops.Count; i++)
            {
                var r = Results[i];
                var created = _ops[i] is ZooKeeperOp.Create && r.Err == 0 ? Callbacks.Utf8(CreatedPaths[i]) : null;
                var stat = _ops[i] is ZooKeeperOp.SetData && r.Err == 0 ? Stats[i].ToStat() : null;
                results[i] = new ZooKeeperOpResult((ZooKeeperError)r.Err, created, stat);
            }
            Copied = results;
            NativeMemory.Free(_block);
            _block = null;
        }

        private static byte[] DataOf(ZooKeeperOp op) => op switch
        {
            ZooKeeperOp.Create c => c.Data,
            ZooKeeperOp.SetData s => s.Data,
            _ => [],
        };
    }
}

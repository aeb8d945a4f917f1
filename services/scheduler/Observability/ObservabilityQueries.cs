using System.Globalization;
using System.Text;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Runtime;
using Concord.Scheduler.Runtime.Agents;
using Google.Protobuf;
using Grpc.Core;

namespace Concord.Scheduler.Observability;

/// <summary>
/// What the observability RPCs do: read instance logs from the home directory (or, with the
/// agents runtime, from the agent that runs the instance), and query the running executors'
/// HTTP endpoints (/metrics, /traces) in parallel, each bounded by
/// <see cref="ObservabilityLimits.ExecutorQueryTimeoutMs"/>.
/// </summary>
public sealed class ObservabilityQueries(Reconciler reconciler, SchedulerHome home, SchedulerTls tls, IClusterRuntime runtime) : IDisposable
{
    private readonly string _scheme = tls.Scheme;

    private readonly HttpClient _http = new(tls.ConfigureClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(ObservabilityLimits.ExecutorQueryTimeoutMs) }))
    {
        Timeout = TimeSpan.FromMilliseconds(ObservabilityLimits.ExecutorQueryTimeoutMs),
    };

    // ================================ logs ================================

    /// <summary>The tail (and with follow, the growth) of the instances' executor.log.</summary>
    public async Task StreamLogsAsync(GetLogsRequest request, Func<LogLine, Task> write, CancellationToken cancellationToken)
    {
        if (runtime is AgentClusterRuntime agents)
        {
            await StreamAgentLogsAsync(agents, request, write, cancellationToken).ConfigureAwait(false);
            return;
        }
        OperatorStatus op;
        try
        {
            op = await FindAsync(request.OperatorName, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && KeptFailedLog(request.OperatorName) is { } killed)
        {
            // No longer deployed: the log of its last failed instance still says why it died.
            await WriteKeptAsync(killed, request, write).ConfigureAwait(false);
            return;
        }
        var count = op.Spec.Instances;
        var indexes = request.InstanceIndexes.Count == 0 ? Enumerable.Range(0, count).ToList() : request.InstanceIndexes.Distinct().Order().ToList();
        if (indexes.Count == 1 && indexes[0] >= count && KeptFailedLog(op.Spec.Name) is { } scaledAway && scaledAway.Index == indexes[0])
        {
            await WriteKeptAsync(scaledAway, request, write).ConfigureAwait(false);
            return;
        }
        foreach (var index in indexes)
        {
            if (index < 0 || index >= count)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"instance {index} of '{op.Spec.Name}' does not exist; it has {count} instance(s), 0..{count - 1}"));
            }
        }
        var tail = request.TailLines switch
        {
            0 => ObservabilityLimits.LogTailLinesDefault,
            -1 => 0,
            < 0 => throw new RpcException(new Status(StatusCode.InvalidArgument, $"tail_lines: {request.TailLines} is out of range; use -1 (none), 0 (default) .. {ObservabilityLimits.LogTailLinesMax}")),
            _ => Math.Min(request.TailLines, ObservabilityLimits.LogTailLinesMax),
        };
        var files = indexes.Select(i => new LogFile(op.Spec.Name, i, LogPath(op.Spec.Name, i))).ToList();
        foreach (var file in files)
        {
            // Reading the tail also sets where following starts: the end of the file now.
            foreach (var line in file.ReadTail(tail))
            {
                await write(file.Line(line)).ConfigureAwait(false);
            }
        }
        if (!request.Follow)
        {
            return;
        }
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(ObservabilityLimits.LogFollowPollMs, cancellationToken).ConfigureAwait(false);
            foreach (var file in files)
            {
                foreach (var line in file.ReadNew())
                {
                    await write(file.Line(line)).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>
    /// The logs of instances on agents: the same answers as for local instances (tail, kept log
    /// of the last failed instance, following), each asked of the agent that runs the instance;
    /// following asks every <see cref="ObservabilityLimits.LogFollowPollMs"/> for what was
    /// written after the previous answer.
    /// </summary>
    private async Task StreamAgentLogsAsync(AgentClusterRuntime agents, GetLogsRequest request, Func<LogLine, Task> write, CancellationToken cancellationToken)
    {
        if (request.TailLines < -1)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"tail_lines: {request.TailLines} is out of range; use -1 (none), 0 (default) .. {ObservabilityLimits.LogTailLinesMax}"));
        }
        var tail = request.TailLines switch
        {
            0 => ObservabilityLimits.LogTailLinesDefault,
            -1 => 0,
            _ => Math.Min(request.TailLines, ObservabilityLimits.LogTailLinesMax),
        };
        OperatorStatus op;
        try
        {
            op = await FindAsync(request.OperatorName, cancellationToken).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && IsPlainName(request.OperatorName))
        {
            // No longer deployed: an agent may keep the log of its last failed instance.
            if (tail > 0 && await agents.ReadKeptLogAsync(request.OperatorName, tail, cancellationToken).ConfigureAwait(false) is { } killed)
            {
                await WriteLinesAsync(request.OperatorName, killed.Index, killed.Lines, write).ConfigureAwait(false);
                return;
            }
            throw;
        }
        var count = op.Spec.Instances;
        var indexes = request.InstanceIndexes.Count == 0 ? Enumerable.Range(0, count).ToList() : request.InstanceIndexes.Distinct().Order().ToList();
        if (indexes.Count == 1 && indexes[0] >= count && tail > 0
            && await agents.ReadKeptLogAsync(op.Spec.Name, tail, cancellationToken).ConfigureAwait(false) is { } scaledAway && scaledAway.Index == indexes[0])
        {
            await WriteLinesAsync(op.Spec.Name, scaledAway.Index, scaledAway.Lines, write).ConfigureAwait(false);
            return;
        }
        foreach (var index in indexes)
        {
            if (index < 0 || index >= count)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"instance {index} of '{op.Spec.Name}' does not exist; it has {count} instance(s), 0..{count - 1}"));
            }
        }
        if (!request.Follow)
        {
            if (tail == 0)
            {
                return;
            }
            foreach (var index in indexes)
            {
                var log = await agents.ReadLogAsync(op.Spec.Name, index, tail, fromOffset: null, cancellationToken).ConfigureAwait(false);
                await WriteLinesAsync(op.Spec.Name, index, log.Lines, write).ConfigureAwait(false);
            }
            return;
        }
        // Following: per instance, the agent that answered last and where its file was read to.
        var followed = new (string Agent, long Offset)?[indexes.Count];
        for (var i = 0; i < indexes.Count; i++)
        {
            followed[i] = await FollowedTailAsync(agents, op.Spec.Name, indexes[i], tail, null, write, cancellationToken).ConfigureAwait(false);
        }
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(ObservabilityLimits.LogFollowPollMs, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < indexes.Count; i++)
            {
                followed[i] = await FollowedTailAsync(agents, op.Spec.Name, indexes[i], tail, followed[i], write, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// One step of following an instance on an agent: the tail first, then what was written since.
    /// An instance not launched yet has nothing to show yet; one relaunched on another agent is
    /// followed there from the start of its file.
    /// </summary>
    private static async Task<(string Agent, long Offset)?> FollowedTailAsync(AgentClusterRuntime agents, string operatorName, int index, int tail,
        (string Agent, long Offset)? previous, Func<LogLine, Task> write, CancellationToken cancellationToken)
    {
        AgentLogTail log;
        try
        {
            log = previous is null
                ? await agents.ReadLogAsync(operatorName, index, tail, fromOffset: null, cancellationToken).ConfigureAwait(false)
                : await agents.ReadLogAsync(operatorName, index, 0, fromOffset: previous.Value.Offset, cancellationToken).ConfigureAwait(false);
            if (previous is { } before && before.Agent != log.Agent)
            {
                log = await agents.ReadLogAsync(operatorName, index, 0, fromOffset: 0, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return previous;
        }
        await WriteLinesAsync(operatorName, index, log.Lines, write).ConfigureAwait(false);
        return (log.Agent, log.NextOffset);
    }

    private static async Task WriteLinesAsync(string operatorName, int index, IEnumerable<string> lines, Func<LogLine, Task> write)
    {
        foreach (var line in lines)
        {
            await write(new LogLine { OperatorName = operatorName, InstanceIndex = index, Line = line }).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The log the local runtime kept of the operator's last failed instance it removed
    /// (LocalProcessRuntime.LastFailedDirectoryName), with its index; null when there is none.
    /// </summary>
    private LogFile? KeptFailedLog(string operatorName)
    {
        // The name comes from the request: only a plain directory name may reach the path.
        if (!IsPlainName(operatorName))
        {
            return null;
        }
        var kept = Path.Combine(home.Directory, "instances", operatorName, Runtime.LocalProcessRuntime.LastFailedDirectoryName);
        var log = Path.Combine(kept, "executor.log");
        try
        {
            return File.Exists(log) && int.TryParse(File.ReadAllText(Path.Combine(kept, Runtime.LocalProcessRuntime.LastFailedIndexFileName)), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
                ? new LogFile(operatorName, index, log)
                : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The tail of a kept log; it no longer grows, so following ends at once.</summary>
    private static async Task WriteKeptAsync(LogFile file, GetLogsRequest request, Func<LogLine, Task> write)
    {
        var tail = request.TailLines switch
        {
            > 0 => Math.Min(request.TailLines, ObservabilityLimits.LogTailLinesMax),
            -1 => 0,
            _ => ObservabilityLimits.LogTailLinesDefault,
        };
        foreach (var line in file.ReadTail(tail))
        {
            await write(file.Line(line)).ConfigureAwait(false);
        }
    }

    /// <summary>Whether a name from a request may become one directory name: [A-Za-z0-9._-], not starting with '.'.</summary>
    internal static bool IsPlainName(string name) =>
        name.Length > 0 && name[0] != '.' && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>
    /// The log of the instance's current release: a rolling replace runs the new release in
    /// <c>&lt;index&gt;.b</c> (odd releases, LocalProcessRuntime.OddReleaseSuffix) beside the old one,
    /// and the status does not say which release runs, so the log written last wins.
    /// </summary>
    private string LogPath(string operatorName, int index)
    {
        var even = Path.Combine(home.Directory, "instances", operatorName, index.ToString(CultureInfo.InvariantCulture), "executor.log");
        var odd = Path.Combine(home.Directory, "instances", operatorName, index.ToString(CultureInfo.InvariantCulture) + Runtime.LocalProcessRuntime.OddReleaseSuffix, "executor.log");
        return File.Exists(odd) && (!File.Exists(even) || File.GetLastWriteTimeUtc(odd) > File.GetLastWriteTimeUtc(even)) ? odd : even;
    }

    /// <summary>One followed log file: where reading stopped, and a partial last line kept for the next read.</summary>
    internal sealed class LogFile(string operatorName, int index, string path)
    {
        private long _position;
        private string _partial = "";

        public int Index => index;

        /// <summary>Byte offset after the last complete line read: where the next read of new lines starts.</summary>
        public long FollowOffset => _position - Encoding.UTF8.GetByteCount(_partial);

        /// <summary>Byte offset where the last read stopped (past any partial line).</summary>
        public long ReadPosition => _position;

        /// <summary>The complete lines written from byte <paramref name="offset"/> on (a shorter file starts over at 0).</summary>
        public List<string> ReadFrom(long offset)
        {
            _position = Math.Max(0, offset);
            _partial = "";
            return ReadNew();
        }

        public LogLine Line(string text) => new()
        {
            OperatorName = operatorName,
            InstanceIndex = index,
            Line = text.Length <= ObservabilityLimits.LogLineCharsMax ? text : text[..ObservabilityLimits.LogLineCharsMax] + "…",
        };

        public List<string> ReadTail(int lines)
        {
            if (!File.Exists(path))
            {
                return [];
            }
            List<string> all;
            using (var stream = Open(path))
            {
                var start = Math.Max(0, stream.Length - ObservabilityLimits.LogTailBytesMax);
                all = Read(stream, start);
                if (start > 0 && all.Count > 0)
                {
                    all.RemoveAt(0); // the read began mid-line
                }
            }
            if (all.Count < lines && File.Exists(RolledPath))
            {
                // Just rolled: the lines before are the end of executor.log.1 (the runtime's copy).
                all.InsertRange(0, ReadRolledTail(lines - all.Count));
            }
            return all.Count <= lines ? all : all.GetRange(all.Count - lines, lines);
        }

        /// <summary>The newest rolled file the local runtime keeps (LocalProcessRuntime: executor.log.1).</summary>
        private string RolledPath => path + ".1";

        private List<string> ReadRolledTail(int lines)
        {
            try
            {
                using var stream = Open(RolledPath);
                var start = Math.Max(0, stream.Length - ObservabilityLimits.LogTailBytesMax);
                stream.Position = start;
                var buffer = new byte[(int)(stream.Length - start)];
                stream.ReadExactly(buffer);
                var all = Encoding.UTF8.GetString(buffer).Split('\n').Select(l => l.TrimEnd('\r')).ToList();
                if (all.Count > 0 && all[^1].Length == 0)
                {
                    all.RemoveAt(all.Count - 1);
                }
                if (start > 0 && all.Count > 0)
                {
                    all.RemoveAt(0); // the read began mid-line
                }
                return all.Count <= lines ? all : all.GetRange(all.Count - lines, lines);
            }
            catch (IOException)
            {
                return []; // rolled again meanwhile
            }
        }

        public List<string> ReadNew()
        {
            if (!File.Exists(path))
            {
                return [];
            }
            using var stream = Open(path);
            if (stream.Length < _position)
            {
                // Truncated or replaced: start again from its beginning.
                _position = 0;
                _partial = "";
            }
            return stream.Length == _position ? [] : Read(stream, _position);
        }

        private static FileStream Open(string file) => new(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

        private List<string> Read(FileStream stream, long from)
        {
            stream.Position = from;
            var length = (int)Math.Min(stream.Length - from, ObservabilityLimits.LogTailBytesMax);
            var buffer = new byte[length];
            stream.ReadExactly(buffer);
            _position = from + length;
            var text = _partial + Encoding.UTF8.GetString(buffer);
            var end = text.LastIndexOf('\n');
            _partial = end < 0 ? text : text[(end + 1)..];
            if (end < 0)
            {
                return [];
            }
            return text[..end].Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        }
    }

    // ================================ metrics ================================

    /// <summary>Scrapes every running instance (of one operator, or all) and extracts the figures `concord top` shows.</summary>
    public async Task<GetInstanceMetricsResponse> InstanceMetricsAsync(GetInstanceMetricsRequest request, CancellationToken cancellationToken)
    {
        var operators = await reconciler.ListAsync(cancellationToken).ConfigureAwait(false);
        if (request.OperatorName.Length > 0)
        {
            operators = [await FindAsync(request.OperatorName, cancellationToken).ConfigureAwait(false)];
        }
        var scrapes = operators
            .SelectMany(o => o.Instances.Where(i => i.State == InstanceState.Running && i.MetricsAddress.Length > 0)
                .Select(i => ScrapeAsync(o.Spec.Name, i.Index, i.MetricsAddress, cancellationToken)))
            .ToList();
        var response = new GetInstanceMetricsResponse();
        response.Instances.AddRange(await Task.WhenAll(scrapes).ConfigureAwait(false));
        return response;
    }

    private async Task<InstanceMetrics> ScrapeAsync(string operatorName, int index, string address, CancellationToken cancellationToken)
    {
        var figures = new InstanceMetrics { OperatorName = operatorName, InstanceIndex = index, MetricsAddress = address };
        try
        {
            var text = await _http.GetStringAsync($"{_scheme}://{address}/metrics", cancellationToken).ConfigureAwait(false);
            PrometheusText.Fill(figures, text);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            figures.Error = $"scrape of {_scheme}://{address}/metrics failed: {e.Message}";
        }
        figures.ScrapedUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return figures;
    }

    // ================================ traces ================================

    public async Task<ListTracesResponse> ListTracesAsync(ListTracesRequest request, CancellationToken cancellationToken)
    {
        var limit = request.Limit switch
        {
            0 => ObservabilityLimits.TraceListDefault,
            < 0 => throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit: {request.Limit} is negative; use 0 (default {ObservabilityLimits.TraceListDefault}) .. {ObservabilityLimits.TraceListMax}")),
            _ => Math.Min(request.Limit, ObservabilityLimits.TraceListMax),
        };
        var spans = await CollectSpansAsync(null, cancellationToken).ConfigureAwait(false);
        var response = new ListTracesResponse();
        response.Traces.AddRange(spans
            .GroupBy(s => s.TraceId, StringComparer.Ordinal)
            .Select(g => Summarize(g.Key, g.OrderBy(s => s.StartUnixUs).ToList()))
            .OrderByDescending(t => t.StartUnixUs)
            .Take(limit));
        return response;
    }

    public async Task<GetTraceResponse> GetTraceAsync(GetTraceRequest request, CancellationToken cancellationToken)
    {
        var id = request.TraceId.Trim().ToLowerInvariant();
        if (id.Length != 32 || !id.All(Uri.IsHexDigit))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"trace id '{request.TraceId}' is not 32 hex digits; copy one from `concord trace`"));
        }
        var spans = await CollectSpansAsync(id, cancellationToken).ConfigureAwait(false);
        if (spans.Count == 0)
        {
            throw new RpcException(new Status(StatusCode.NotFound,
                $"trace {id} is not in any running executor's span store (each keeps its most recent spans only); run `concord trace` to list recent traces"));
        }
        var response = new GetTraceResponse();
        response.Spans.AddRange(WithNetworkHops(spans).OrderBy(s => s.StartUnixUs).ThenBy(s => s.Kind == "network" ? 0 : 1));
        return response;
    }

    /// <summary>
    /// Adds a derived "network" span between each send span and the queue span under it in the
    /// next executor: from the end of the sender's write to the receiver's receipt.
    /// </summary>
    public static List<Span> WithNetworkHops(List<Span> spans)
    {
        var sends = spans.Where(s => s.Kind == "send").ToDictionary(s => s.SpanId, StringComparer.Ordinal);
        var result = new List<Span>(spans);
        foreach (var queue in spans.Where(s => s.Kind == "queue"))
        {
            if (sends.TryGetValue(queue.ParentSpanId, out var send))
            {
                var sentEnd = send.StartUnixUs + send.DurationUs;
                var id = Convert.FromHexString(queue.SpanId);
                id[0] ^= 0xff;
                result.Add(new Span
                {
                    TraceId = queue.TraceId,
                    SpanId = Convert.ToHexStringLower(id),
                    ParentSpanId = send.SpanId,
                    Kind = "network",
                    OperatorName = queue.OperatorName,
                    InstanceIndex = queue.InstanceIndex,
                    Stream = queue.Stream,
                    StartUnixUs = Math.Min(sentEnd, queue.StartUnixUs),
                    DurationUs = Math.Max(0, queue.StartUnixUs - sentEnd),
                });
            }
        }
        return result;
    }

    private static TraceSummary Summarize(string traceId, List<Span> spans)
    {
        var start = spans.Min(s => s.StartUnixUs);
        var end = spans.Max(s => s.StartUnixUs + s.DurationUs);
        var summary = new TraceSummary { TraceId = traceId, StartUnixUs = start, DurationUs = end - start, SpanCount = spans.Count };
        summary.Operators.AddRange(spans.Select(s => s.OperatorName).Distinct(StringComparer.Ordinal));
        return summary;
    }

    private async Task<List<Span>> CollectSpansAsync(string? traceId, CancellationToken cancellationToken)
    {
        var operators = await reconciler.ListAsync(cancellationToken).ConfigureAwait(false);
        var query = traceId is null ? "" : $"?trace_id={traceId}";
        var fetches = operators
            .SelectMany(o => o.Instances.Where(i => i.State == InstanceState.Running && i.MetricsAddress.Length > 0))
            .Select(async i =>
            {
                try
                {
                    var json = await _http.GetStringAsync($"{_scheme}://{i.MetricsAddress}/traces{query}", cancellationToken).ConfigureAwait(false);
                    return JsonParser.Default.Parse<GetTraceResponse>(json).Spans.ToList();
                }
                catch (Exception e) when (e is HttpRequestException or InvalidProtocolBufferException or InvalidJsonException
                    or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    // An executor that does not answer just contributes nothing.
                    return [];
                }
            })
            .ToList();
        return (await Task.WhenAll(fetches).ConfigureAwait(false)).SelectMany(s => s).ToList();
    }

    // ================================ tail ================================

    /// <summary>The last records on one stream, from every running instance of the operators that write it.</summary>
    public async Task<TailStreamResponse> TailStreamAsync(TailStreamRequest request, CancellationToken cancellationToken)
    {
        var count = request.RecordsMax switch
        {
            0 => ObservabilityLimits.TailRecordsDefault,
            < 0 => throw new RpcException(new Status(StatusCode.InvalidArgument, $"records_max: {request.RecordsMax} is negative; use 0 (default {ObservabilityLimits.TailRecordsDefault}) .. {ObservabilityLimits.TailRecordsMax}")),
            _ => Math.Min(request.RecordsMax, ObservabilityLimits.TailRecordsMax),
        };
        if (string.IsNullOrEmpty(request.Stream))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "stream: is required; give a stream's name (see `concord graph`)"));
        }
        var operators = await reconciler.ListAsync(cancellationToken).ConfigureAwait(false);
        var writers = operators.Where(o => OutputsOf(o).Contains(request.Stream)).ToList();
        if (writers.Count == 0)
        {
            var streams = operators.SelectMany(OutputsOf).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            throw new RpcException(new Status(StatusCode.NotFound,
                $"no deployed operator writes stream '{request.Stream}'; streams: " + (streams.Count == 0 ? "none" : string.Join(", ", streams))));
        }
        var query = $"/tail?stream={Uri.EscapeDataString(request.Stream)}&n={count}";
        var fetches = writers
            .SelectMany(o => o.Instances.Where(i => i.State == InstanceState.Running && i.MetricsAddress.Length > 0))
            .Select(async i =>
            {
                try
                {
                    var json = await _http.GetStringAsync($"{_scheme}://{i.MetricsAddress}{query}", cancellationToken).ConfigureAwait(false);
                    return JsonParser.Default.Parse<TailStreamResponse>(json).Records.ToList();
                }
                catch (Exception e) when (e is HttpRequestException or InvalidProtocolBufferException or InvalidJsonException
                    or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    // An executor that does not answer just contributes nothing.
                    return [];
                }
            })
            .ToList();
        var all = (await Task.WhenAll(fetches).ConfigureAwait(false)).SelectMany(r => r).ToList();
        var response = new TailStreamResponse();
        response.Records.AddRange(all.Skip(Math.Max(0, all.Count - count)));
        return response;
    }

    // ================================ helpers ================================

    // What the operator said it writes (metadata), else what its deploy file declares.
    private static IEnumerable<string> OutputsOf(OperatorStatus o) =>
        o.Metadata is { Outputs.Count: > 0 } ? o.Metadata.Outputs : o.Spec.ExpectedOutputs;

    private async Task<OperatorStatus> FindAsync(string name, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "operator_name: is required; give the operator's name (see `concord list`)"));
        }
        var operators = await reconciler.ListAsync(cancellationToken).ConfigureAwait(false);
        return operators.FirstOrDefault(o => o.Spec.Name == name)
            ?? throw new RpcException(new Status(StatusCode.NotFound,
                $"operator '{name}' is not deployed; deployed: " + (operators.Count == 0 ? "none" : string.Join(", ", operators.Select(o => o.Spec.Name)))));
    }

    public void Dispose() => _http.Dispose();
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Grpc.Core;
using Spectre.Console;

namespace Concord.Cli.Internal.Commands;

/// <summary>
/// <c>logs</c>, <c>top</c>, <c>trace</c> and <c>graph --format svg</c>: reading a running
/// topology through the scheduler (docs/observability.md).
/// </summary>
internal static class ObservabilityCommands
{
    /// <summary>Adds <c>logs</c>, <c>top</c> and <c>trace</c> to <paramref name="root"/>.</summary>
    public static void Register(RootCommand root, CliContext ctx, Func<ParseResult, SchedulerConnection> connect,
        Action<Command, Func<ParseResult, CancellationToken, Task<int>>> setAction)
    {
        // ---- logs ----
        var logsName = new Argument<string>("NAME") { Description = "Operator name" };
        var logsInstance = new Option<int?>("--instance", "-i") { Description = "Only this instance (0-based; default: every instance)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new lines until Ctrl-C" };
        var tail = new Option<int>("--tail", "-n")
        {
            Description = $"Lines of history per instance (default {ObservabilityCliLimits.LogTailLinesDefault}, at most {ObservabilityCliLimits.LogTailLinesMax})",
            DefaultValueFactory = _ => ObservabilityCliLimits.LogTailLinesDefault,
        };
        var logs = new Command("logs", "Print an operator's logs: its executor's events and the operator's own stdout/stderr") { logsName, logsInstance, follow, tail };
        setAction(logs, async (parse, ct) =>
        {
            using var scheduler = connect(parse);
            return await LogsAsync(ctx, scheduler, parse.GetValue(logsName)!, parse.GetValue(logsInstance), parse.GetValue(follow), parse.GetValue(tail), ct);
        });
        root.Add(logs);

        // ---- top ----
        var once = new Option<bool>("--once") { Description = "Measure over one second, print one table and exit (for scripts)" };
        var top = new Command("top", "Live table per operator: instances, records in/out per second, p99 latency, queue fill, CPU, memory") { once };
        setAction(top, async (parse, ct) =>
        {
            using var scheduler = connect(parse);
            return await TopAsync(ctx, scheduler, parse.GetValue(once), ct);
        });
        root.Add(top);

        // ---- trace ----
        var traceId = new Argument<string?>("ID") { Description = "Trace id to show hop by hop (default: list recent traces)", Arity = ArgumentArity.ZeroOrOne };
        var limit = new Option<int>("--limit")
        {
            Description = $"Traces to list (default {ObservabilityCliLimits.TraceListDefault})",
            DefaultValueFactory = _ => ObservabilityCliLimits.TraceListDefault,
        };
        var trace = new Command("trace", "List recent sampled traces, or show one hop by hop with times in ms") { traceId, limit };
        setAction(trace, async (parse, ct) =>
        {
            using var scheduler = connect(parse);
            return await TraceAsync(ctx, scheduler, parse.GetValue(traceId), parse.GetValue(limit), ct);
        });
        root.Add(trace);

        // ---- tail ----
        var tailStream = new Argument<string>("STREAM") { Description = "Stream name (see `concord graph`)" };
        var tailCount = new Option<int>("-n") { Description = $"Records to show, 1..{ObservabilityCliLimits.TailRecordsMax} (default {ObservabilityCliLimits.TailRecordsDefault})", DefaultValueFactory = _ => ObservabilityCliLimits.TailRecordsDefault };
        var tailFollow = new Option<bool>("--follow", "-f") { Description = "Keep printing new records until Ctrl-C" };
        var tailCommand = new Command("tail", "Show the last records on a stream as key<TAB>value (deploys nothing)") { tailStream, tailCount, tailFollow };
        setAction(tailCommand, async (parse, ct) =>
        {
            using var scheduler = connect(parse);
            return await TailAsync(ctx, scheduler, parse.GetValue(tailStream)!, parse.GetValue(tailCount), parse.GetValue(tailFollow), ct);
        });
        root.Add(tailCommand);
    }

    // ================================ logs ================================

    public static async Task<int> LogsAsync(CliContext ctx, SchedulerConnection scheduler, string name, int? instance, bool follow, int tail, CancellationToken cancellationToken)
    {
        if (!OperatorSpecValidator.IsValidOperatorName(name))
        {
            throw new CliException($"'{name}' is not a valid operator name; use the name shown by `concord list`");
        }
        if (instance < 0)
        {
            throw new CliException($"--instance {instance} is negative; instances are numbered from 0 (see `concord list`)");
        }
        if (tail is < 0 or > ObservabilityCliLimits.LogTailLinesMax)
        {
            throw new CliException($"--tail {tail} is out of range; use 0..{ObservabilityCliLimits.LogTailLinesMax}");
        }
        var request = new GetLogsRequest { OperatorName = name, Follow = follow, TailLines = tail == 0 ? -1 : tail };
        if (instance is { } index)
        {
            request.InstanceIndexes.Add(index);
        }
        // Without --follow the call is bounded like any other; with it, it runs until Ctrl-C.
        var options = new CallOptions(deadline: follow ? null : DateTime.UtcNow.AddSeconds(CliLimits.RpcDeadlineSeconds), cancellationToken: cancellationToken);
        try
        {
            using var call = scheduler.Client.GetLogs(request, options);
            while (await call.ResponseStream.MoveNext(cancellationToken))
            {
                var line = call.ResponseStream.Current;
                await ctx.Out.WriteLineAsync(instance is null ? $"{line.OperatorName}/{line.InstanceIndex} | {line.Line}" : line.Line);
            }
        }
        catch (RpcException e)
        {
            throw SchedulerConnection.Translate(e, scheduler.Address, cancellationToken);
        }
        return ExitCodes.Success;
    }

    // ================================ top ================================

    public static async Task<int> TopAsync(CliContext ctx, SchedulerConnection scheduler, bool once, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromMilliseconds(ObservabilityCliLimits.TopRefreshMs);
        var before = await scheduler.CallAsync((c, o) => c.GetInstanceMetricsAsync(new GetInstanceMetricsRequest(), o), cancellationToken);
        async Task<List<TopRow>> NextAsync()
        {
            await Task.Delay(interval, ctx.Time, cancellationToken);
            var list = await scheduler.CallAsync((c, o) => c.ListAsync(new ListRequest(), o), cancellationToken);
            var after = await scheduler.CallAsync((c, o) => c.GetInstanceMetricsAsync(new GetInstanceMetricsRequest(), o), cancellationToken);
            var rows = TopFigures.Rows(list, before, after);
            before = after;
            return rows;
        }

        if (once || !ctx.Interactive)
        {
            do
            {
                var rows = await NextAsync();
                if (rows.Count == 0)
                {
                    await ctx.Out.WriteLineAsync("no operators deployed; deploy one with `concord deploy FILE.json`");
                }
                else
                {
                    ctx.Console.Write(TopFigures.Table(rows));
                }
            }
            while (!once);
            return ExitCodes.Success;
        }
        var first = await NextAsync();
        await ctx.Console.Live(TopFigures.Table(first)).StartAsync(async live =>
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                live.UpdateTarget(TopFigures.Table(await NextAsync()));
                live.Refresh();
            }
        });
        return ExitCodes.Success;
    }

    // ================================ trace ================================

    public static async Task<int> TraceAsync(CliContext ctx, SchedulerConnection scheduler, string? traceId, int limit, CancellationToken cancellationToken)
    {
        if (traceId is null)
        {
            if (limit is < 1 or > ObservabilityCliLimits.TraceListMax)
            {
                throw new CliException($"--limit {limit} is out of range; use 1..{ObservabilityCliLimits.TraceListMax}");
            }
            var list = await scheduler.CallAsync((c, o) => c.ListTracesAsync(new ListTracesRequest { Limit = limit }, o), cancellationToken);
            await ctx.Out.WriteAsync(RenderTraceList(list));
            return ExitCodes.Success;
        }
        var id = traceId.Trim();
        if (id.Length != 32 || !id.All(Uri.IsHexDigit))
        {
            throw new CliException($"'{traceId}' is not a trace id (32 hex digits); run `concord trace` to list recent traces");
        }
        var trace = await scheduler.CallAsync((c, o) => c.GetTraceAsync(new GetTraceRequest { TraceId = id.ToLowerInvariant() }, o), cancellationToken);
        await ctx.Out.WriteAsync(RenderTrace(trace));
        return ExitCodes.Success;
    }

    /// <summary>One line per trace: id, start time, duration, spans, path.</summary>
    public static string RenderTraceList(ListTracesResponse list)
    {
        if (list.Traces.Count == 0)
        {
            return "no traces yet: sources sample one record in CONCORD_TRACE_SAMPLE_EVERY (default 1024); wait for records to flow, or lower it in the source's deploy file \"environment\"\n";
        }
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{"TRACE ID",-32}  {"START (UTC)",-12}  {"DURATION",10}  {"SPANS",5}  PATH\n");
        foreach (var t in list.Traces)
        {
            var start = DateTimeOffset.UnixEpoch.AddTicks(t.StartUnixUs * 10).ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"{t.TraceId,-32}  {start,-12}  {Ms(t.DurationUs),10}  {t.SpanCount,5}  {string.Join(" -> ", t.Operators)}\n");
        }
        return text.ToString();
    }

    /// <summary>Every span of a trace by start: offset from the trace's start and duration in ms, kind, where.</summary>
    public static string RenderTrace(GetTraceResponse trace)
    {
        var spans = trace.Spans.OrderBy(s => s.StartUnixUs).ToList();
        var start = spans.Min(s => s.StartUnixUs);
        var end = spans.Max(s => s.StartUnixUs + s.DurationUs);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"trace {spans[0].TraceId}: {Ms(end - start)} over {spans.Select(s => s.OperatorName).Distinct().Count()} operator(s), {spans.Count} spans\n");
        text.Append(CultureInfo.InvariantCulture, $"{"AT",10}  {"TOOK",10}  {"HOP",-9}  {"WHERE",-20}  STREAM\n");
        foreach (var s in spans)
        {
            var where = s.Kind == "network" ? $"-> {s.OperatorName}/{s.InstanceIndex}" : $"{s.OperatorName}/{s.InstanceIndex}";
            text.Append(CultureInfo.InvariantCulture, $"{"+" + Ms(s.StartUnixUs - start),10}  {Ms(s.DurationUs),10}  {s.Kind,-9}  {where,-20}  {s.Stream}\n");
        }
        return text.ToString();
    }

    private static string Ms(long microseconds) => (microseconds / 1000.0).ToString("0.000", CultureInfo.InvariantCulture) + " ms";

    // ================================ tail ================================

    public static async Task<int> TailAsync(CliContext ctx, SchedulerConnection scheduler, string stream, int count, bool follow, CancellationToken cancellationToken)
    {
        if (count is < 1 or > ObservabilityCliLimits.TailRecordsMax)
        {
            throw new CliException($"-n {count} is out of range; use 1..{ObservabilityCliLimits.TailRecordsMax}");
        }
        var request = new TailStreamRequest { Stream = stream, RecordsMax = count };
        var seen = new Dictionary<(string, int), ulong>();
        try
        {
            while (true)
            {
                var response = await scheduler.CallAsync((c, o) => c.TailStreamAsync(request, o), cancellationToken);
                await ctx.Out.WriteAsync(RenderTail(response, seen));
                if (!follow)
                {
                    return ExitCodes.Success;
                }
                await Task.Delay(TimeSpan.FromMilliseconds(ObservabilityCliLimits.TailFollowPollMs), ctx.Time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (follow && cancellationToken.IsCancellationRequested)
        {
            return ExitCodes.Success;
        }
    }

    /// <summary>
    /// One <c>key&lt;TAB&gt;value</c> line per record not yet in <paramref name="seen"/> (the last
    /// seq printed per instance, updated), UTF-8 when valid, else hex.
    /// </summary>
    public static string RenderTail(TailStreamResponse response, Dictionary<(string, int), ulong> seen)
    {
        var text = new StringBuilder();
        foreach (var r in response.Records)
        {
            var instance = (r.OperatorName, r.InstanceIndex);
            if (seen.TryGetValue(instance, out var last) && r.Seq <= last)
            {
                continue;
            }
            seen[instance] = r.Seq;
            text.Append(Shown(r.Key.Span, false)).Append('\t').Append(Shown(r.Value.Span, r.ValueTruncated)).Append('\n');
        }
        return text.ToString();
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(false, true);

    // A cut value may end inside a UTF-8 sequence (at most 3 bytes of one): drop those, not the text.
    private static string Utf8Prefix(ReadOnlySpan<byte> bytes, bool cut)
    {
        for (var drop = 0; ; drop++)
        {
            try
            {
                return StrictUtf8.GetString(bytes[..(bytes.Length - drop)]);
            }
            catch (DecoderFallbackException) when (cut && drop < 3 && drop < bytes.Length)
            {
            }
        }
    }

    private static string Shown(ReadOnlySpan<byte> bytes, bool truncated)
    {
        var cut = truncated || bytes.Length > ObservabilityCliLimits.TailShownBytesMax;
        bytes = bytes[..Math.Min(bytes.Length, ObservabilityCliLimits.TailShownBytesMax)];
        string text;
        try
        {
            text = Utf8Prefix(bytes, cut);
            // Tabs and newlines would break the one-line-per-record shape: shown escaped.
            text = text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal)
                .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);
        }
        catch (DecoderFallbackException)
        {
            // A cut may split a UTF-8 sequence, or the bytes are binary: hex says exactly what is there.
            text = "0x" + Convert.ToHexStringLower(bytes);
        }
        return cut ? text + "…" : text;
    }

    // ================================ graph svg ================================

    /// <summary>
    /// <c>concord graph --format svg</c>: the DOT graph with each edge labelled by its current
    /// rate (the producing operator's records out per second, measured over one second),
    /// rendered by Graphviz <c>dot -Tsvg</c>.
    /// </summary>
    public static async Task<int> GraphSvgAsync(CliContext ctx, SchedulerConnection scheduler, CancellationToken cancellationToken)
    {
        var before = await scheduler.CallAsync((c, o) => c.GetInstanceMetricsAsync(new GetInstanceMetricsRequest(), o), cancellationToken);
        await Task.Delay(TimeSpan.FromMilliseconds(ObservabilityCliLimits.TopRefreshMs), ctx.Time, cancellationToken);
        var graph = await scheduler.CallAsync((c, o) => c.GraphAsync(new GraphRequest(), o), cancellationToken);
        var after = await scheduler.CallAsync((c, o) => c.GetInstanceMetricsAsync(new GetInstanceMetricsRequest(), o), cancellationToken);
        var list = new ListResponse();
        list.Operators.AddRange(graph.Operators);
        var rates = TopFigures.Rows(list, before, after).ToDictionary(r => r.Operator, r => r.OutPerSecond, StringComparer.Ordinal);
        var svg = await RunDotAsync(RenderDotWithRates(graph, rates), cancellationToken);
        await ctx.Out.WriteAsync(svg);
        return ExitCodes.Success;
    }

    /// <summary>Graphviz DOT like <c>graph --format dot</c>, with "N rec/s" on every edge.</summary>
    public static string RenderDotWithRates(GraphResponse graph, IReadOnlyDictionary<string, double> outPerSecond)
    {
        var dot = new StringBuilder();
        dot.Append("digraph concord {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
        var names = new SortedSet<string>(graph.Operators.Select(o => o.Spec.Name).Concat(graph.Edges.SelectMany(e => new[] { e.FromOperator, e.ToOperator })), StringComparer.Ordinal);
        foreach (var name in names)
        {
            var op = graph.Operators.FirstOrDefault(o => o.Spec.Name == name);
            var label = op is null ? name : $"{name}\\n{StatusText.RunningCount(op)}/{op.Instances.Count} {StatusText.Aggregate(op)}";
            dot.Append(CultureInfo.InvariantCulture, $"  {Quote(name)} [label={Quote(label)}];\n");
        }
        var loops = GraphRenderer.CycleEdges(graph);
        foreach (var edge in graph.Edges.OrderBy(e => e.FromOperator, StringComparer.Ordinal).ThenBy(e => e.Stream, StringComparer.Ordinal).ThenBy(e => e.ToOperator, StringComparer.Ordinal))
        {
            var rate = outPerSecond.TryGetValue(edge.FromOperator, out var r) ? r.ToString("0", CultureInfo.InvariantCulture) + " rec/s" : "? rec/s";
            var inLoop = loops.Contains(edge);
            var label = $"{edge.Stream} [{StatusText.Of(edge.Grouping)}]{(inLoop ? GraphRenderer.CycleMark : "")}\\n{rate}";
            dot.Append(CultureInfo.InvariantCulture, $"  {Quote(edge.FromOperator)} -> {Quote(edge.ToOperator)} [label={Quote(label)}{(inLoop ? GraphRenderer.DotCycleStyle : "")}];\n");
        }
        dot.Append("}\n");
        return dot.ToString();
    }

    private static string Quote(string text) => "\"" + text.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static async Task<string> RunDotAsync(string dot, CancellationToken cancellationToken)
    {
        Process process;
        try
        {
            process = Process.Start(new ProcessStartInfo("dot", ["-Tsvg"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new CliException("Graphviz `dot` is not installed; run scripts/install-graphviz.sh (or `apt-get install graphviz`), or use `concord graph --format dot`");
        }
        using (process)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(ObservabilityCliLimits.DotTimeoutSeconds));
            var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
            var error = process.StandardError.ReadToEndAsync(timeout.Token);
            await process.StandardInput.WriteAsync(dot.AsMemory(), timeout.Token);
            process.StandardInput.Close();
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                process.Kill();
                throw new CliException($"Graphviz `dot` did not finish within {ObservabilityCliLimits.DotTimeoutSeconds} s; use `concord graph --format dot` and render it yourself");
            }
            if (process.ExitCode != 0)
            {
                throw new CliException($"Graphviz `dot` failed (exit {process.ExitCode}): {(await error).Trim()}; use `concord graph --format dot` to see the input");
            }
            return await output;
        }
    }
}

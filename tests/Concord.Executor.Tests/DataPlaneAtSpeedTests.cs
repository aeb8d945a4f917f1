using System.Text.Json;
using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;
using Concord.Executor.Builtins;
using Concord.Executor.Builtins.Internal;
using Concord.Executor.DataPlane;
using Concord.Executor.Records;
using Concord.Executor.Routing;
using Concord.Executor.Session;
using Concord.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using static Concord.Executor.Tests.TestSupport;
using Metadata = Concord.Contracts.Operator.V1.Metadata;

namespace Concord.Executor.Tests;

/// <summary>Issue 3: bad input on the data plane, reconnects, the memory bound and the benchmark's instruments.</summary>
public sealed class DataPlaneAtSpeedTests : IAsyncDisposable
{
    private readonly DataPlaneClients _clients = new();
    private readonly List<IAsyncDisposable> _disposables = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var d in Enumerable.Reverse(_disposables))
        {
            await d.DisposeAsync();
        }
        _clients.Dispose();
    }

    private static BatchDone Produced(string stream, params ConcordRecord[] records)
    {
        var done = new BatchDone { Seq = 1 };
        foreach (var r in records)
        {
            done.Produced.Add(new ProducedRecord { Stream = stream, Record = r });
        }
        return done;
    }

    [Fact]
    public async Task Record_larger_than_the_limit_is_rejected_and_counted_while_the_rest_of_the_answer_is_routed()
    {
        var created = new List<OutboundChannel>();
        var metrics = TestTelemetry.Metrics();
        await using var router = new Router(new StreamTable(["words"]), (stream, reader, index) =>
        {
            var channel = new OutboundChannel(stream, reader, index, "source/0", _clients, NullLogger.Instance, TimeProvider.System, metrics, TestTelemetry.Tracing(metrics));
            created.Add(channel);
            return channel;
        }, NullLogger.Instance, TimeProvider.System, metrics);
        var table = RoutingTests.Table("words", Grouping.Shuffle, 1);
        table.Streams[0].Readers[0].Instances[0].DataAddress = ""; // not running: routed records wait in the queue
        await router.ApplyAsync(table).WaitAsync(Bound);
        var big = new ConcordRecord { Key = ByteString.CopyFromUtf8("big"), Value = ByteString.CopyFrom(new byte[ProtocolLimits.RecordBytesMax]) };
        var metric = metrics.RecordsDropped.WithLabels("words", "too_large", "");
        var countedBefore = metric.Value;

        await router.RouteAsync(Produced("words", Record("before"), big, Record("after")), CancellationToken.None).AsTask().WaitAsync(Bound);
        await router.RouteAsync(Produced("words", big, Record("next-batch")), CancellationToken.None).AsTask().WaitAsync(Bound);

        Assert.Equal(2, router.RejectedTooLargeTotal);
        Assert.Equal(2, metric.Value - countedBefore); // concord_records_dropped_total{reason="too_large"}
        Assert.Equal(3, Assert.Single(created).QueuedRows); // before, after, next-batch: the stream went on
    }

    [Fact]
    public async Task Upstream_reconnects_when_the_routing_table_says_the_restarted_downstream_is_back()
    {
        var identity1 = new DataPlaneIdentity("counter", 0, "inc-1", new HashSet<string> { "words" });
        var queue1 = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 100_000);
        var first = await TestTelemetry.StartServerAsync(identity1, queue1).WaitAsync(Bound);
        await using var sender = new OutboundChannel("words", "counter", 0, "source/0", _clients, NullLogger.Instance, TimeProvider.System, TestTelemetry.Metrics(), TestTelemetry.Tracing());
        sender.SetTarget(new OutboundTarget(first.Address, "inc-1"));
        await sender.EnqueueAsync(Raw("one"), CancellationToken.None).AsTask().WaitAsync(Bound);
        Assert.Equal(["one"], await TakeAsync(queue1, 1));

        // The downstream executor disappears. What was on the wire is lost with it (at-most-once);
        // once the sender has noticed, records wait in its bounded queue while it retries.
        await first.DisposeAsync();
        await Eventually(() => sender.FailedAttempts >= 1, "the sender to notice the receiver is gone");
        await sender.EnqueueAsync(Raw("two"), CancellationToken.None).AsTask().WaitAsync(Bound);
        await sender.EnqueueAsync(Raw("three"), CancellationToken.None).AsTask().WaitAsync(Bound);

        // It comes back restarted (new incarnation, new port) and the routing table says so.
        var queue2 = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 100_000);
        var second = await TestTelemetry.StartServerAsync(identity1 with { Incarnation = "inc-2" }, queue2).WaitAsync(Bound);
        _disposables.Add(second);
        sender.SetTarget(new OutboundTarget(second.Address, "inc-2"));

        Assert.Equal(["two", "three"], await TakeAsync(queue2, 2));
        Assert.Equal(0, sender.QueuedRows);
    }

    [Fact]
    public async Task Retries_to_a_vanished_target_are_bounded_then_the_channel_waits_for_a_new_routing_table()
    {
        // A port nothing listens on: every connection attempt fails at once.
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var deadAddress = listener.LocalEndpoint.ToString()!;
        listener.Stop();
        await using var sender = new OutboundChannel("words", "counter", 0, "source/0", _clients, NullLogger.Instance, TimeProvider.System, TestTelemetry.Metrics(), TestTelemetry.Tracing(),
            reconnectAttemptsMax: 3);
        sender.SetTarget(new OutboundTarget(deadAddress, "inc-1"));
        await sender.EnqueueAsync(Raw("waits"), CancellationToken.None).AsTask().WaitAsync(Bound);

        await Eventually(() => sender.WaitingForNewTarget, "the channel to give up after 3 attempts");
        Assert.Equal(3, sender.FailedAttempts);
        Assert.Equal(1, sender.QueuedRows); // nothing dropped while retrying or waiting

        var identity = new DataPlaneIdentity("counter", 0, "inc-2", new HashSet<string> { "words" });
        var queue = new InboundQueue(channelsMax: 2, channelCreditRows: 100, channelCreditBytes: 100_000);
        var server = await TestTelemetry.StartServerAsync(identity, queue).WaitAsync(Bound);
        _disposables.Add(server);
        sender.SetTarget(new OutboundTarget(server.Address, "inc-2"));
        Assert.Equal(["waits"], await TakeAsync(queue, 1));
        Assert.False(sender.WaitingForNewTarget);
    }

    [Fact]
    public async Task An_answer_over_the_protocol_cap_fails_the_session_naming_the_limit()
    {
        using var temp = new TempDirectory();
        var dir = temp.Path;
        var socket = Path.Combine(dir, "op.sock");
        var host = new LoopbackHost(null, LoopbackEndpoint.UnixSocket("operator", socket, HttpProtocols.Http2));
        host.Builder.Services.AddGrpc(o => o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax);
        host.Build().MapGrpcService<OversizedAnswerOperator>();
        await host.StartAsync().WaitAsync(Bound);
        try
        {
            await using var session = GrpcOperatorSession.Connect(socket, NullLogger.Instance, TimeProvider.System);
            await session.StartAsync(new Init { OperatorName = "big", InstanceCount = 1, MaxBatchesInFlight = 1, MaxRecordBytes = 1 }, CancellationToken.None).WaitAsync(Bound);
            var e = await Assert.ThrowsAsync<OperatorProtocolException>(async () =>
            {
                await foreach (var _ in session.ReadAnswersAsync(CancellationToken.None).WithCancellation(CancellationToken.None))
                {
                }
            }).WaitAsync(Bound);
            Assert.Contains("BatchDoneBytesMax", e.Message);
        }
        finally
        {
            await host.DisposeAsync().AsTask().WaitAsync(Bound);
        }
    }

    /// <summary>Answers Init with Metadata and then a BatchDone{0} of ~5 MiB (records of 1 MiB each, within the record limit).</summary>
    private sealed class OversizedAnswerOperator : Operator.OperatorBase
    {
        public override async Task Session(IAsyncStreamReader<ExecutorMessage> requestStream, IServerStreamWriter<OperatorMessage> responseStream, ServerCallContext context)
        {
            Assert.True(await requestStream.MoveNext());
            await responseStream.WriteAsync(new OperatorMessage
            {
                Metadata = new Metadata { ProtocolVersion = ProtocolLimits.ProtocolVersion, Metadata_ = new OperatorMetadata { Name = "big", Outputs = { "out" } } },
            });
            var done = new BatchDone { Seq = 0 };
            var value = ByteString.CopyFrom(new byte[ProtocolLimits.RecordBytesMax - 16]);
            for (var i = 0; i < 5; i++)
            {
                done.Produced.Add(new ProducedRecord { Stream = "out", Record = new ConcordRecord { Value = value } });
            }
            await responseStream.WriteAsync(new OperatorMessage { BatchDone = done });
            while (await requestStream.MoveNext())
            {
            }
        }
    }

    [Fact]
    public void Memory_bound_of_the_benchmark_topology_plus_the_runtime_fits_150_MB()
    {
        // The word count's busiest executor: one inbound channel, two outbound (docs/data-plane.md).
        const long RuntimeBaselineBytes = 70L * 1024 * 1024; // measured RSS of an idle executor is 55-70 MB
        var bound = ExecutorLimits.BufferedBytesMax(inboundChannels: 1, outboundChannels: 2);
        Assert.True(bound + RuntimeBaselineBytes <= 150L * 1000 * 1000, $"derived bound {bound / 1048576.0:0.0} MiB + runtime exceeds 150 MB");
        Assert.True(ExecutorLimits.InboundChannelCreditBytes >= ExecutorLimits.RecordSerializedBytesMax, "a largest record must fit a credit window");
        Assert.True(ExecutorLimits.OutboundQueueBytesMax >= ExecutorLimits.RecordSerializedBytesMax, "a largest record must fit an outbound queue");
        Assert.True(ProtocolLimits.BatchDoneBytesMax >= ProtocolLimits.RecordBytesMax + ExecutorLimits.RecordOverheadBytesMax, "an answer must hold a largest record");
        Assert.True(ProtocolLimits.BatchDoneRecordsMax >= ExecutorLimits.BatchesInFlightMax * ExecutorLimits.BatchRowsMax, "a one-to-one operator's answer must fit");
    }

    [Fact]
    public void Latency_histogram_buckets_are_contiguous_and_within_three_percent()
    {
        var previous = -1L;
        for (var i = 0; i < LatencyHistogram.BucketCount; i++)
        {
            var lower = LatencyHistogram.LowerBoundOf(i);
            Assert.True(lower > previous, $"bucket {i} starts at {lower}, not after {previous}");
            Assert.Equal(i, LatencyHistogram.IndexOf(lower));
            if (i + 1 < LatencyHistogram.BucketCount)
            {
                var upper = LatencyHistogram.LowerBoundOf(i + 1) - 1;
                Assert.Equal(i, LatencyHistogram.IndexOf(upper));
                Assert.True(upper - lower <= Math.Max(0, lower * 0.032), $"bucket {i} [{lower}, {upper}] is wider than 3.2 %");
            }
            previous = lower;
        }
    }

    [Fact]
    public async Task Csv_sink_with_stats_summarises_records_and_source_to_sink_latency()
    {
        using var temp = new TempDirectory();
        var dir = temp.Path;
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));
        var spec = new OperatorSpec
        {
            Name = "sink",
            ExpectedInputs = { new InputStream { Name = "counts" } },
            Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = "out.csv", ["stats"] = "stats.json" } },
        };
        var sink = new CsvSinkOperator(spec, dir, 0, time);
        await sink.StartAsync(new Init(), CancellationToken.None).WaitAsync(Bound);
        var nowUs = time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        var batch = new ProcessBatch { Seq = 1 };
        for (var i = 0; i < 100; i++)
        {
            var record = Record($"w{i}", "1");
            record.IngestTimeUnixUs = nowUs - (i < 99 ? 2_000 : 50_000); // 99 records 2 ms old, one 50 ms old
            batch.Records.Add(record);
        }
        await sink.SendAsync(batch, CancellationToken.None).AsTask().WaitAsync(Bound);
        await sink.SendShutdownAsync("done", CancellationToken.None);

        using var stats = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "stats.json")));
        Assert.Equal(100, stats.RootElement.GetProperty("records").GetInt64());
        var latency = stats.RootElement.GetProperty("latency_us");
        Assert.Equal(100, latency.GetProperty("count").GetInt64());
        Assert.Equal(50_000, latency.GetProperty("max_us").GetInt64());
        var buckets = latency.GetProperty("buckets").EnumerateArray().Select(b => (Lower: b[0].GetInt64(), Count: b[1].GetInt64())).ToList();
        Assert.Equal(99, buckets.Single(b => b.Lower <= 2_000 && 2_000 < b.Lower * 1.04).Count);
    }

    private static async Task<List<string>> TakeAsync(InboundQueue queue, int rows)
    {
        var keys = new List<string>();
        while (keys.Count < rows)
        {
            var item = await queue.Reader.ReadAsync().AsTask().WaitAsync(Bound);
            keys.AddRange(item.Records.Select(r => r.Key.ToStringUtf8()));
            queue.Release(item.Source, item.Records.Length, item.Records.Sum(r => (long)r.Length));
        }
        return keys;
    }

    /// <summary>Polls a condition that has no event to await, with a deadline.</summary>
    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}");
            await Task.Delay(10);
        }
    }
}

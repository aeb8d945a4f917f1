using Concord.Cli.Internal;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Cli.Tests;

public sealed class RenderingTests
{
    internal static OperatorStatus Operator(string name, int desired, int running, string[]? inputs = null, string[]? outputs = null, Grouping grouping = Grouping.Shuffle)
    {
        var spec = new OperatorSpec { Name = name, Executable = "x", Instances = desired };
        foreach (var input in inputs ?? [])
        {
            spec.ExpectedInputs.Add(new InputStream { Name = input, Grouping = grouping });
        }
        spec.ExpectedOutputs.AddRange(outputs ?? []);
        var status = new OperatorStatus { Spec = spec, Version = 1 };
        for (var i = 0; i < desired; i++)
        {
            status.Instances.Add(new InstanceStatus { Index = i, State = i < running ? InstanceState.Running : InstanceState.Starting });
        }
        return status;
    }

    private static GraphResponse WordCount()
    {
        var graph = new GraphResponse();
        graph.Operators.Add(Operator("counter", 2, 2, ["words"], ["counts"], Grouping.GroupBy));
        graph.Operators.Add(Operator("sink", 1, 1, ["counts"]));
        graph.Operators.Add(Operator("source", 1, 0, outputs: ["words"]));
        graph.Edges.Add(new StreamEdge { Stream = "words", FromOperator = "source", ToOperator = "counter", Grouping = Grouping.GroupBy });
        graph.Edges.Add(new StreamEdge { Stream = "counts", FromOperator = "counter", ToOperator = "sink", Grouping = Grouping.Shuffle });
        return graph;
    }

    [Fact]
    public void Graph_text_shows_one_line_per_edge_with_stream_and_grouping()
    {
        var text = GraphRenderer.RenderText(WordCount());

        Assert.Equal(
            "counter --counts[shuffle]--> sink\n" +
            "source --words[group_by]--> counter\n",
            text);
    }

    [Fact]
    public void Graph_text_shows_streams_without_reader_or_producer_and_lone_operators()
    {
        var graph = new GraphResponse();
        graph.Operators.Add(Operator("lonely", 1, 1));
        graph.Operators.Add(Operator("reader", 1, 1, ["orphan"], grouping: Grouping.Broadcast));
        graph.Operators.Add(Operator("writer", 1, 1, outputs: ["nowhere"]));

        var text = GraphRenderer.RenderText(graph);

        Assert.Equal(
            "lonely (no streams)\n" +
            "(no producer) --orphan[broadcast]--> reader\n" +
            "writer --nowhere--> (no reader: records are dropped)\n",
            text);
    }

    [Fact]
    public void Graph_text_of_an_empty_topology_says_how_to_deploy()
    {
        Assert.Contains("concord deploy", GraphRenderer.RenderText(new GraphResponse()));
    }

    [Fact]
    public void Graph_dot_is_a_digraph_with_labelled_nodes_and_edges()
    {
        var dot = GraphRenderer.RenderDot(WordCount());

        Assert.StartsWith("digraph concord {\n", dot);
        Assert.EndsWith("}\n", dot);
        Assert.Contains("  \"counter\" [label=\"counter\\n2/2 running\"];\n", dot);
        Assert.Contains("  \"source\" [label=\"source\\n0/1 starting\"];\n", dot);
        Assert.Contains("  \"source\" -> \"counter\" [label=\"words [group_by]\"];\n", dot);
        Assert.Contains("  \"counter\" -> \"sink\" [label=\"counts [shuffle]\"];\n", dot);
    }

    private static GraphResponse WordCountWithLoop()
    {
        var graph = WordCount();
        graph.Operators.Add(Operator("loop", 1, 1, ["counts"], ["words"]));
        graph.Edges.Add(new StreamEdge { Stream = "counts", FromOperator = "counter", ToOperator = "loop", Grouping = Grouping.Shuffle });
        graph.Edges.Add(new StreamEdge { Stream = "words", FromOperator = "loop", ToOperator = "counter", Grouping = Grouping.GroupBy });
        return graph;
    }

    [Fact]
    public void Graph_text_marks_the_edges_of_a_loop_and_says_what_a_loop_does()
    {
        var text = GraphRenderer.RenderText(WordCountWithLoop());

        Assert.Equal(
            "counter --counts[shuffle]--> loop (cycle)\n" +
            "counter --counts[shuffle]--> sink\n" +
            "loop --words[group_by]--> counter (cycle)\n" +
            "source --words[group_by]--> counter\n" +
            GraphRenderer.CycleNote + "\n",
            text);
    }

    [Fact]
    public void Graph_dot_draws_the_edges_of_a_loop_in_red_and_only_those()
    {
        var dot = GraphRenderer.RenderDot(WordCountWithLoop());

        Assert.Contains("  \"loop\" -> \"counter\" [label=\"words [group_by] (cycle)\", color=\"red\", fontcolor=\"red\", penwidth=2];\n", dot);
        Assert.Contains("  \"counter\" -> \"loop\" [label=\"counts [shuffle] (cycle)\", color=\"red\"", dot);
        Assert.Contains("  \"counter\" -> \"sink\" [label=\"counts [shuffle]\"];\n", dot);
        Assert.DoesNotContain("cycle", GraphRenderer.RenderDot(WordCount()));
    }

    [Fact]
    public void Graph_svg_input_marks_the_loop_like_dot()
    {
        var dot = Concord.Cli.Internal.Commands.ObservabilityCommands.RenderDotWithRates(WordCountWithLoop(), new Dictionary<string, double> { ["loop"] = 5 });

        Assert.Contains("\"loop\" -> \"counter\" [label=\"words [group_by] (cycle)\\n5 rec/s\", color=\"red\"", dot);
        Assert.Contains("\"source\" -> \"counter\" [label=\"words [group_by]\\n? rec/s\"];", dot);
    }

    [Theory]
    [InlineData(new[] { InstanceState.Running, InstanceState.Running }, "running")]
    [InlineData(new[] { InstanceState.Running, InstanceState.Starting }, "starting")]
    [InlineData(new[] { InstanceState.Pending }, "starting")]
    [InlineData(new[] { InstanceState.Running, InstanceState.Failed }, "failed")]
    [InlineData(new[] { InstanceState.Failed, InstanceState.CrashLooping }, "crash-looping")]
    [InlineData(new[] { InstanceState.Running, InstanceState.Draining }, "draining")]
    [InlineData(new[] { InstanceState.Stopped }, "stopped")]
    [InlineData(new[] { InstanceState.Running, InstanceState.Stopped }, "degraded")]
    [InlineData(new InstanceState[0], "no instances")]
    public void Aggregate_state_is_the_worst_instance_state(InstanceState[] states, string expected)
    {
        var status = new OperatorStatus { Spec = new OperatorSpec { Name = "x" } };
        status.Instances.AddRange(states.Select((s, i) => new InstanceStatus { Index = i, State = s }));

        Assert.Equal(expected, StatusText.Aggregate(status));
    }

    [Fact]
    public void Truncate_keeps_the_first_line_and_marks_the_cut()
    {
        Assert.Equal("short", StatusText.Truncate("short", 10));
        Assert.Equal("abcdefghi…", StatusText.Truncate("abcdefghijklmnop", 10));
        Assert.Equal("first…", StatusText.Truncate("first\nsecond", 10));
    }

    [Fact]
    public void List_json_is_the_protobuf_json_of_the_response()
    {
        var list = new ListResponse();
        list.Operators.Add(Operator("counter", 1, 1, ["words"]));

        var json = ListRenderer.RenderJson(list);

        var parsed = ListResponse.Parser.ParseJson(json);
        Assert.Equal(list, parsed);
        Assert.Contains("\"INSTANCE_STATE_RUNNING\"", json);
    }

    [Fact]
    public void The_leader_line_names_the_leader_and_says_when_a_standby_answered_and_is_absent_for_a_lone_scheduler()
    {
        Assert.Null(ListRenderer.LeaderLine(new ListResponse(), "http://127.0.0.1:7400"));
        Assert.Equal("leader: https://10.0.0.2:7400", ListRenderer.LeaderLine(new ListResponse { Leader = "https://10.0.0.2:7400" }, "https://10.0.0.2:7400"));
        var fromStandby = ListRenderer.LeaderLine(new ListResponse { Leader = "https://10.0.0.2:7400", FromStandby = true }, "https://10.0.0.1:7400")!;
        Assert.StartsWith("leader: https://10.0.0.2:7400 (not reachable from here; answered by the standby https://10.0.0.1:7400", fromStandby, StringComparison.Ordinal);
        Assert.StartsWith("leader: none right now (an election is under way", ListRenderer.LeaderLine(new ListResponse { FromStandby = true }, "https://10.0.0.1:7400"), StringComparison.Ordinal);
    }

    [Fact]
    public void Tail_prints_key_tab_value_utf8_or_hex_and_skips_records_already_printed()
    {
        var response = new TailStreamResponse();
        response.Records.Add(new TailRecord { OperatorName = "source", InstanceIndex = 0, Seq = 1, Key = ByteString.CopyFromUtf8("hello"), Value = ByteString.CopyFromUtf8("wörld") });
        response.Records.Add(new TailRecord { OperatorName = "source", InstanceIndex = 0, Seq = 2, Key = ByteString.CopyFromUtf8("a\tb"), Value = ByteString.CopyFrom(0xff, 0x00) });
        response.Records.Add(new TailRecord { OperatorName = "source", InstanceIndex = 1, Seq = 1, Key = ByteString.Empty, Value = ByteString.CopyFromUtf8("cut"), ValueTruncated = true });
        var seen = new Dictionary<(string, int), ulong>();

        Assert.Equal("hello\twörld\na\\tb\t0xff00\n\tcut…\n", Concord.Cli.Internal.Commands.ObservabilityCommands.RenderTail(response, seen));
        response.Records.Add(new TailRecord { OperatorName = "source", InstanceIndex = 0, Seq = 3, Key = ByteString.CopyFromUtf8("new"), Value = ByteString.Empty });
        Assert.Equal("new\t\n", Concord.Cli.Internal.Commands.ObservabilityCommands.RenderTail(response, seen));

        var cutInsideUtf8 = new TailStreamResponse();
        cutInsideUtf8.Records.Add(new TailRecord { OperatorName = "x", Seq = 1, Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFrom(0x61, 0xc3), ValueTruncated = true });
        Assert.Equal("k\ta…\n", Concord.Cli.Internal.Commands.ObservabilityCommands.RenderTail(cutInsideUtf8, []));
    }
}

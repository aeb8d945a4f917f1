using System.CommandLine;
using Concord.Cli.Internal;
using Concord.Cli.Internal.Commands;

namespace Concord.Cli;

/// <summary>
/// The <c>concord</c> command line (docs/cli.md). <see cref="RunAsync(string[], TextWriter, TextWriter, CancellationToken)"/>
/// is the whole program, callable in-process by tests; <c>Program.Main</c> only adds the real
/// console and signal handling.
/// </summary>
public static class ConcordCli
{
    /// <summary>Runs the CLI with the process environment, writing to the given writers.</summary>
    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default) =>
        RunAsync(args, output, error, Environment.GetEnvironmentVariable, interactive: false, TimeProvider.System, cancellationToken);

    /// <summary>
    /// Runs the CLI with an explicit environment lookup (tests use it to check the
    /// CONCORD_SCHEDULER / CONCORD_HOME rules without touching the process environment).
    /// </summary>
    public static async Task<int> RunAsync(
        string[] args,
        TextWriter output,
        TextWriter error,
        Func<string, string?> environment,
        bool interactive,
        TimeProvider time,
        CancellationToken cancellationToken = default)
    {
        var ctx = new CliContext(output, error, environment, interactive, time);
        var root = Build(ctx);
        var configuration = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // Program.Main owns SIGINT/SIGTERM and cancels the token; System.CommandLine must not
            // install its own handler on top.
            ProcessTerminationTimeout = null,
        };
        if (args.Length == 0)
        {
            args = ["--help"];
        }
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.CommandResult.Command == root && !args[0].StartsWith('-'))
        {
            var commands = root.Subcommands.Select(c => c.Name).ToList();
            var hint = DeployFile.ClosestName(args[0], commands) is { } close ? $"did you mean `concord {close}`? " : "";
            await error.WriteLineAsync($"error: '{args[0]}' is not a concord command; {hint}commands: {string.Join(", ", commands)} (see `concord --help`)");
            return ExitCodes.Failure;
        }
        if (parse.Errors.Count > 0)
        {
            // System.CommandLine would print the errors and the whole help text; one line per
            // problem and a pointer to --help reads better in a terminal and in CI logs.
            foreach (var problem in parse.Errors)
            {
                var message = string.Join(" ", problem.Message.Split(['\n', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                await error.WriteLineAsync($"error: {message}");
            }
            var command = parse.CommandResult.Command == root ? "concord" : $"concord {parse.CommandResult.Command.Name}";
            await error.WriteLineAsync($"run `{command} --help` for usage");
            return ExitCodes.Failure;
        }
        return await parse.InvokeAsync(configuration, cancellationToken);
    }

    private static RootCommand Build(CliContext ctx)
    {
        var home = new Option<string?>("--home")
        {
            Description = "Scheduler home directory (default: $CONCORD_HOME, else ~/.concord)",
            Recursive = true,
        };
        var schedulerOption = new Option<string?>("--scheduler")
        {
            Description = "Scheduler address, http://HOST:PORT or https://HOST:PORT (with --tls-*) (default: $CONCORD_SCHEDULER, else <home>/scheduler.json, else http://127.0.0.1:7400)",
            Recursive = true,
        };

        var tokenOption = new Option<string?>("--token")
        {
            Description = $"Operator token for the scheduler API (default: ${Contracts.Credentials.TokenVariable}, else <home>/{Contracts.Credentials.TokenFileName}); visible in `ps`, so prefer the variable",
            Recursive = true,
        };

        var root = new RootCommand("Concord: deploy and run stream-processing operators written in any language.");
        root.Add(home);
        root.Add(schedulerOption);
        root.Add(tokenOption);
        var tls = CliTls.Register(root);

        string HomeOf(ParseResult parse) => ConcordHome.Resolve(parse.GetValue(home), ctx.Environment);
        SchedulerConnection Connect(ParseResult parse)
        {
            var (token, source) = SchedulerToken.Resolve(parse.GetValue(tokenOption), ctx.Environment, HomeOf(parse));
            var address = SchedulerAddress.Resolve(parse.GetValue(schedulerOption), ctx.Environment, HomeOf(parse)).Address;
            return new(address, token, source, tls.For(address, parse, ctx.Environment));
        }

        // ---- up ----
        var port = new Option<int?>("--port") { Description = "Port to serve on (default 7400; 0 picks a free port)" };
        var detach = new Option<bool>("--detach", "-d") { Description = "Start in the background (output to <home>/scheduler.log), wait until it serves, print its address" };
        var executor = new Option<string?>("--executor") { Description = "Concord.Executor.dll the scheduler launches (default: the scheduler's own lookup, CONCORD_EXECUTOR_DLL or the artifacts layout)" };
        var runtime = new Option<string?>("--runtime") { Description = "Where instances run: local (default: executor processes on this machine) or agents (on the hosts that run `concord agent`, docs/cluster.md)" };
        var listen = new Option<string?>("--listen")
        {
            HelpName = "HOST:PORT",
            Description = "Where the scheduler listens, e.g. 10.0.0.5:7400 (instead of --port; beyond 127.0.0.1 only with TLS, docs/cluster.md)",
        };
        var advertise = new Option<string?>("--advertise")
        {
            HelpName = "HOST[:PORT]",
            Description = "The address other hosts dial (default: the --listen address)",
        };
        var store = new Option<string?>("--store")
        {
            Description = "Where the topology is kept: file (default: <home>/topology.json) or zookeeper (with --zookeeper; several schedulers on one ensemble: one leads, the others stand by, docs/cluster.md)",
        };
        var zooKeeper = new Option<string?>("--zookeeper")
        {
            HelpName = "HOST:PORT,...",
            Description = "The ZooKeeper ensemble of --store zookeeper (its client addresses)",
        };
        var zooKeeperSessionTimeout = new Option<int?>("--zookeeper-session-timeout-ms")
        {
            HelpName = "MS",
            Description = "The ZooKeeper session timeout of --store zookeeper (default 10000): how long a dead leader holds office before a standby takes over",
        };
        var up = new Command("up", "Start the scheduler (in the foreground until Ctrl-C, or with --detach in the background)")
            { port, listen, advertise, detach, executor, runtime, store, zooKeeper, zooKeeperSessionTimeout };
        SetAction(ctx, up, (parse, ct) => SchedulerProcessCommands.UpAsync(ctx, HomeOf(parse), parse.GetValue(port), parse.GetValue(detach), parse.GetValue(executor), ct,
            parse.GetValue(listen), parse.GetValue(advertise), tls.GivenOptions(parse), parse.GetValue(runtime), parse.GetValue(store), parse.GetValue(zooKeeper),
            parse.GetValue(zooKeeperSessionTimeout)));
        root.Add(up);

        // ---- agent ----
        var agentCpus = new Option<double?>("--cpus") { Description = "Required. CPUs the scheduler may place on this host" };
        var agentMem = new Option<int?>("--mem") { Description = "Required. Memory in MiB the scheduler may place on this host" };
        var agentId = new Option<string?>("--agent-id") { Description = "Name of this agent, shown by `concord list` as the host of its instances (default: the host name)" };
        var advertiseHost = new Option<string?>("--advertise-host") { Description = "Host name or address other hosts reach this host's executors at (default 127.0.0.1)" };
        var agentSecretFile = new Option<string?>("--agent-secret-file") { Description = "A copy of <scheduler home>/agent.secret (default: agent.secret in $CONCORD_HOME, else ~/.concord)" };
        var agentExecutor = new Option<string?>("--executor") { Description = "Concord.Executor.dll the agent launches (default: CONCORD_EXECUTOR_DLL or the artifacts layout)" };
        var agentNoContainment = new Option<bool>("--no-containment") { Description = "Run instances without cgroups (mem/cpus not enforced); only where the host has none" };
        var agent = new Command("agent",
            "Run an agent on this host (in the foreground until Ctrl-C): it registers --cpus and --mem with the scheduler (--scheduler, started with --runtime agents) and runs the executors placed here; --home is the agent's own directory")
            { agentCpus, agentMem, agentId, advertiseHost, agentSecretFile, agentExecutor, agentNoContainment };
        SetAction(ctx, agent, (parse, ct) => SchedulerProcessCommands.AgentAsync(ctx,
            new AgentArguments(
                parse.GetValue(home) ?? throw new CliException("concord agent needs --home DIR: the agent's own state directory (not the scheduler's home)"),
                SchedulerAddress.Resolve(parse.GetValue(schedulerOption), ctx.Environment, HomeOf(parse)).Address,
                parse.GetValue(agentCpus), parse.GetValue(agentMem), parse.GetValue(agentId), parse.GetValue(advertiseHost), parse.GetValue(agentSecretFile),
                parse.GetValue(agentExecutor), parse.GetValue(agentNoContainment),
                tls.Options(parse, ctx.Environment)),
            ct));
        root.Add(agent);

        // ---- down ----
        var down = new Command("down", "Stop the scheduler recorded in <home>/scheduler.json (SIGTERM, then SIGKILL after a bounded wait)");
        SetAction(ctx, down, (parse, ct) => SchedulerProcessCommands.DownAsync(ctx, HomeOf(parse), ct));
        root.Add(down);

        // ---- deploy ----
        var file = new Argument<string>("FILE") { Description = "Deploy file (JSON; see docs/deploy-file.md)" };
        var wait = new Option<bool>("--wait") { Description = "Wait until every instance is running (the default)" };
        var noWait = new Option<bool>("--no-wait") { Description = "Return as soon as the scheduler accepted the operator" };
        var timeout = new Option<int>("--timeout")
        {
            Description = $"Seconds to wait for the instances to run (default {CliLimits.DeployWaitTimeoutSecondsDefault})",
            DefaultValueFactory = _ => CliLimits.DeployWaitTimeoutSecondsDefault,
        };
        var replaceFlag = new Option<bool>("--replace")
        {
            Description = "Rolling replace of the deployed operator of the same name: start the new version, move routing to it, stop the old one",
        };
        var dropState = new Option<bool>("--drop-state")
        {
            Description = "With --replace, for an operator with a delivery guarantee: restart every operator with a guarantee from the last checkpoint, " +
                          "this one as the new version with empty state (docs/live-changes.md)",
        };
        var deploy = new Command("deploy", "Deploy an operator from a deploy file and wait until its instances run") { file, wait, noWait, timeout, replaceFlag, dropState };
        deploy.Validators.Add(result =>
        {
            if (result.GetValue(dropState) && !result.GetValue(replaceFlag))
            {
                result.AddError("--drop-state only applies to a replace; add --replace (or use `concord replace --drop-state FILE`)");
            }
            if (result.GetValue(replaceFlag) && result.GetValue(noWait))
            {
                result.AddError("--replace always waits for the new version to run (it rolls back otherwise); drop --no-wait");
            }
            if (result.GetValue(wait) && result.GetValue(noWait))
            {
                result.AddError("--wait and --no-wait contradict each other; give one (waiting is the default)");
            }
        });
        SetAction(ctx, deploy, async (parse, ct) =>
        {
            using var scheduler = Connect(parse);
            return parse.GetValue(replaceFlag)
                ? await TopologyCommands.ReplaceAsync(ctx, scheduler, parse.GetValue(file)!, parse.GetValue(timeout), parse.GetValue(dropState), ct)
                : await TopologyCommands.DeployAsync(ctx, scheduler, parse.GetValue(file)!, !parse.GetValue(noWait), parse.GetValue(timeout), ct);
        });
        root.Add(deploy);

        // ---- replace (same as deploy --replace) ----
        var replaceFile = new Argument<string>("FILE") { Description = "Deploy file of the new version (same name as the deployed operator)" };
        var replaceTimeout = new Option<int>("--timeout")
        {
            Description = $"Seconds the new instances may take to run, at most {CliLimits.ReplaceRunningTimeoutSecondsMax} (default {CliLimits.DeployWaitTimeoutSecondsDefault})",
            DefaultValueFactory = _ => CliLimits.DeployWaitTimeoutSecondsDefault,
        };
        var replaceDropState = new Option<bool>("--drop-state")
        {
            Description = "For an operator with a delivery guarantee (refused without it): restart every operator with a guarantee from the last checkpoint, " +
                          "this one as the new version with empty state (docs/live-changes.md)",
        };
        var replace = new Command("replace", "Rolling replace: start the new version of a deployed operator, move routing to it, stop the old one (same as deploy --replace)")
            { replaceFile, replaceTimeout, replaceDropState };
        SetAction(ctx, replace, async (parse, ct) =>
        {
            using var scheduler = Connect(parse);
            return await TopologyCommands.ReplaceAsync(ctx, scheduler, parse.GetValue(replaceFile)!, parse.GetValue(replaceTimeout), parse.GetValue(replaceDropState), ct);
        });
        root.Add(replace);

        // ---- kill ----
        var killName = new Argument<string>("NAME") { Description = "Operator name" };
        var kill = new Command("kill", "Stop every instance of an operator and remove it from the topology") { killName };
        SetAction(ctx, kill, async (parse, ct) =>
        {
            using var scheduler = Connect(parse);
            return await TopologyCommands.KillAsync(ctx, scheduler, parse.GetValue(killName)!, ct);
        });
        root.Add(kill);

        // ---- scale ----
        var scaleName = new Argument<string>("NAME") { Description = "Operator name" };
        // A string, not an int, so "zero", "-1" or "1.5" get the CLI's own message with the fix.
        var scaleCount = new Argument<string>("N") { Description = "New number of instances (1 or more)" };
        var scale = new Command("scale", "Change the number of instances of an operator") { scaleName, scaleCount };
        SetAction(ctx, scale, async (parse, ct) =>
        {
            using var scheduler = Connect(parse);
            return await TopologyCommands.ScaleAsync(ctx, scheduler, parse.GetValue(scaleName)!, parse.GetValue(scaleCount)!, ct);
        });
        root.Add(scale);

        // ---- list ----
        var listFormat = new Option<string>("--format") { Description = "table (default) or json", DefaultValueFactory = _ => "table" };
        listFormat.AcceptOnlyFromAmong("table", "json");
        var list = new Command("list", "Show every deployed operator with its instances, state, streams and last error") { listFormat };
        SetAction(ctx, list, async (parse, ct) =>
        {
            using var scheduler = Connect(parse);
            return await TopologyCommands.ListAsync(ctx, scheduler, parse.GetValue(listFormat)!, ct);
        });
        root.Add(list);

        // ---- graph ----
        var graphFormat = new Option<string>("--format") { Description = "text (default), dot (Graphviz) or svg (rendered by Graphviz dot, with current rates)", DefaultValueFactory = _ => "text" };
        graphFormat.AcceptOnlyFromAmong("text", "dot", "svg");
        var graph = new Command("graph", "Show the topology: which operator feeds which, over which stream and grouping") { graphFormat };
        SetAction(ctx, graph, async (parse, ct) =>
        {
            using var scheduler = Connect(parse);
            return parse.GetValue(graphFormat) == "svg"
                ? await ObservabilityCommands.GraphSvgAsync(ctx, scheduler, ct)
                : await TopologyCommands.GraphAsync(ctx, scheduler, parse.GetValue(graphFormat)!, ct);
        });
        root.Add(graph);

        // ---- logs, top, trace ----
        ObservabilityCommands.Register(root, ctx, Connect, (command, action) => SetAction(ctx, command, action));

        // ---- checkpoints, savepoint ----
        CheckpointCommands.Register(root, ctx, Connect, (command, action) => SetAction(ctx, command, action));

        // ---- certs ----
        CertsCommand.Register(root, ctx, (command, action) => SetAction(ctx, command, action));

        // ---- kafka-dev ----
        var kafkaPartitions = new Option<int>("--partitions") { Description = "Partitions of each topic created (default 16)", DefaultValueFactory = _ => 16 };
        var kafkaTopics = new Option<string?>("--topics") { Description = "Topics to create, comma-separated (e.g. words,counts)" };
        var kafkaBrokers = new Option<int>("--brokers") { Description = "Brokers in the mock cluster (default 3)", DefaultValueFactory = _ => 3 };
        var kafkaDetach = new Option<bool>("--detach", "-d") { Description = "Start in the background (output to <home>/kafka-dev.log) and wait until it serves" };
        var kafkaStop = new Option<bool>("--stop") { Description = "Stop the development Kafka recorded in <home>/kafka.json" };
        var kafkaDev = new Command("kafka-dev", "Run an in-memory development Kafka (librdkafka's mock cluster; capped retention, nothing persisted) and write its address to <home>/kafka.json (docs/kafka.md)")
        {
            kafkaPartitions, kafkaTopics, kafkaBrokers, kafkaDetach, kafkaStop,
        };
        SetAction(ctx, kafkaDev, (parse, ct) => KafkaDevCommand.RunAsync(ctx, HomeOf(parse), parse.GetValue(kafkaPartitions), parse.GetValue(kafkaTopics),
            parse.GetValue(kafkaBrokers), parse.GetValue(kafkaDetach), parse.GetValue(kafkaStop), ct));
        root.Add(kafkaDev);

        return root;
    }

    /// <summary>Every command's failure becomes one line on stderr and an exit code, never a stack trace.</summary>
    private static void SetAction(CliContext ctx, Command command, Func<ParseResult, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                return await action(parse, cancellationToken);
            }
            catch (CliException e)
            {
                await ctx.Err.WriteLineAsync($"error: {e.Message}");
                return e.ExitCode;
            }
            catch (DeployFileException e)
            {
                await ctx.Err.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await ctx.Err.WriteLineAsync("interrupted");
                return ExitCodes.Interrupted;
            }
        });
    }
}

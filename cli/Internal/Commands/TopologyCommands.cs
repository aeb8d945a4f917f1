using System.Globalization;
using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Spectre.Console;

namespace Concord.Cli.Internal.Commands;

/// <summary><c>deploy</c>, <c>kill</c>, <c>scale</c>, <c>list</c>, <c>graph</c>: calls to a running scheduler.</summary>
internal static class TopologyCommands
{
    public static async Task<int> DeployAsync(CliContext ctx, SchedulerConnection scheduler, string file, bool wait, int timeoutSeconds, CancellationToken cancellationToken)
    {
        if (timeoutSeconds is < 1 or > CliLimits.DeployWaitTimeoutSecondsMax)
        {
            throw new CliException($"--timeout {timeoutSeconds} is out of range; use 1..{CliLimits.DeployWaitTimeoutSecondsMax} seconds (default {CliLimits.DeployWaitTimeoutSecondsDefault})");
        }
        // Parse and validate before connecting: a typo in the file is reported even with no scheduler.
        var spec = DeployFile.Parse(file);
        var response = await scheduler.CallAsync((c, o) => c.DeployAsync(new DeployRequest { Spec = spec }, o), cancellationToken);
        var name = response.Operator?.Spec?.Name is { Length: > 0 } stored ? stored : spec.Name;
        ctx.Out.WriteLine($"deployed '{name}' ({Plural(spec.Instances, "instance")}) to {scheduler.Address}");
        if (!wait)
        {
            return ExitCodes.Success;
        }
        var timeout = TimeSpan.FromSeconds(timeoutSeconds);
        if (ctx.Interactive)
        {
            await ctx.Console.Status().StartAsync($"waiting for '{name}' to start...", status =>
                WaitUntilRunningAsync(ctx, scheduler, name, timeout, progress => status.Status(progress), cancellationToken));
        }
        else
        {
            string? last = null;
            await WaitUntilRunningAsync(ctx, scheduler, name, timeout, progress =>
            {
                if (progress != last)
                {
                    ctx.Out.WriteLine(progress);
                    last = progress;
                }
            }, cancellationToken);
        }
        ctx.Out.WriteLine($"'{name}' is running ({Plural(spec.Instances, "instance")})");
        return ExitCodes.Success;
    }

    /// <summary>
    /// <c>concord deploy --replace FILE</c> / <c>concord replace FILE</c>: rolling replace of the
    /// deployed operator of the same name. Answers once routing has moved to the new instances
    /// and the old ones have stopped, or with the scheduler's reason when it rolled back. An
    /// operator with a delivery guarantee is replaced by a restart from a fresh checkpoint that
    /// keeps its state (answers once the new version runs; rolled back when it cannot take the
    /// state, e.g. a state name it does not declare).
    /// </summary>
    /// <param name="dropState">
    /// Send <c>drop_state</c>: an operator with a delivery guarantee is then replaced by a restart
    /// from the last checkpoint with empty state for it.
    /// </param>
    public static async Task<int> ReplaceAsync(CliContext ctx, SchedulerConnection scheduler, string file, int timeoutSeconds, bool dropState, CancellationToken cancellationToken)
    {
        if (timeoutSeconds is < 1 or > CliLimits.DeployWaitTimeoutSecondsMax)
        {
            throw new CliException($"--timeout {timeoutSeconds} is out of range; use 1..{CliLimits.DeployWaitTimeoutSecondsMax} seconds (default {CliLimits.DeployWaitTimeoutSecondsDefault})");
        }
        var spec = DeployFile.Parse(file);
        var runningTimeoutMs = Math.Min(timeoutSeconds, CliLimits.ReplaceRunningTimeoutSecondsMax) * 1000;
        ctx.Out.WriteLine(dropState
            ? $"replacing '{spec.Name}' (--drop-state)..."
            : OperatorSpecValidator.HasGuarantee(spec.Delivery)
                ? $"replacing '{spec.Name}' keeping its state: a checkpoint, then a restart of every operator with a delivery guarantee from it (up to {runningTimeoutMs / 1000} s to run)..."
                : $"replacing '{spec.Name}': starting the new version beside the running one (up to {runningTimeoutMs / 1000} s to run)...");
        var response = await scheduler.CallAsync(
            (c, o) => c.ReplaceAsync(new ReplaceRequest { Spec = spec, RunningTimeoutMs = runningTimeoutMs, DropState = dropState }, o),
            CliLimits.ReplaceRpcDeadlineSeconds, cancellationToken);
        var instances = response.Operator?.Instances.Count ?? 0;
        var note = spec.Instances != instances && instances > 0
            ? $"; kept the running {Plural(instances, "instance")} (the file says {spec.Instances}: use `concord scale {spec.Name} {spec.Instances}`)"
            : "";
        if (response.Restarted && !dropState)
        {
            var restored = response.Operator?.Instances.Select(i => i.RestoredCheckpointId).DefaultIfEmpty().Max() ?? 0;
            ctx.Out.WriteLine($"replaced '{spec.Name}' ({Plural(instances, "instance")}) by a restart keeping its state: every operator with a delivery guarantee " +
                              $"restarted from checkpoint {restored}, '{spec.Name}' as the new version; it ran after {response.SwitchMs} ms{note}");
            return ExitCodes.Success;
        }
        if (response.Restarted)
        {
            ctx.Out.WriteLine($"replaced '{spec.Name}' ({Plural(instances, "instance")}) by a restart: every operator with a delivery guarantee restarts " +
                              $"from the last completed checkpoint, '{spec.Name}' as the new version with empty state{note}; `concord list` shows them starting");
            return ExitCodes.Success;
        }
        ctx.Out.WriteLine($"replaced '{spec.Name}' ({Plural(instances, "instance")}): routing moved after {response.SwitchMs} ms, old instances stopped after {response.TotalMs} ms{note}");
        return ExitCodes.Success;
    }

    public static async Task<int> KillAsync(CliContext ctx, SchedulerConnection scheduler, string name, CancellationToken cancellationToken)
    {
        CheckName(name);
        await scheduler.CallAsync((c, o) => c.KillAsync(new KillRequest { Name = name }, o), cancellationToken);
        ctx.Out.WriteLine($"killed '{name}'");
        return ExitCodes.Success;
    }

    public static async Task<int> ScaleAsync(CliContext ctx, SchedulerConnection scheduler, string name, string instancesText, CancellationToken cancellationToken)
    {
        CheckName(name);
        var instances = ParseInstances(instancesText);
        // An operator with a delivery guarantee is scaled through a checkpoint, which may take a while.
        var response = await scheduler.CallAsync((c, o) => c.ScaleAsync(new ScaleRequest { Name = name, Instances = instances }, o),
            CliLimits.CheckpointRpcDeadlineSeconds, cancellationToken);
        var running = response.Operator is { } op ? StatusText.RunningCount(op) : 0;
        ctx.Out.WriteLine($"scaled '{name}' to {Plural(instances, "instance")} ({running} running now; see `concord list`)");
        return ExitCodes.Success;
    }

    public static async Task<int> ListAsync(CliContext ctx, SchedulerConnection scheduler, string format, CancellationToken cancellationToken)
    {
        var list = await scheduler.CallAsync((c, o) => c.ListAsync(new ListRequest(), o), cancellationToken);
        var answeredBy = scheduler.Address;
        if (list.FromStandby && list.Leader.Length > 0 && list.Leader != scheduler.Address)
        {
            // A standby knows the stored topology but not the instances: ask the leader it names.
            try
            {
                scheduler.Follow(list.Leader);
                list = await scheduler.CallAsync((c, o) => c.ListAsync(new ListRequest(), o), cancellationToken);
                answeredBy = scheduler.Address;
            }
            catch (CliException)
            {
                // The leader cannot be reached from here: the standby's answer is still the topology.
            }
        }
        if (format == "json")
        {
            ctx.Out.Write(ListRenderer.RenderJson(list));
        }
        else if (list.Operators.Count == 0)
        {
            ctx.Out.WriteLine(ListRenderer.EmptyMessage);
        }
        else
        {
            ctx.Console.Write(ListRenderer.RenderTable(list));
        }
        if (format != "json" && ListRenderer.LeaderLine(list, answeredBy) is { } leaderLine)
        {
            ctx.Out.WriteLine(leaderLine);
        }
        return ExitCodes.Success;
    }

    public static async Task<int> GraphAsync(CliContext ctx, SchedulerConnection scheduler, string format, CancellationToken cancellationToken)
    {
        var graph = await scheduler.CallAsync((c, o) => c.GraphAsync(new GraphRequest(), o), cancellationToken);
        ctx.Out.Write(format == "dot" ? GraphRenderer.RenderDot(graph) : GraphRenderer.RenderText(graph));
        return ExitCodes.Success;
    }

    /// <summary>The N of <c>concord scale NAME N</c>: a whole number in 1..InstancesMax.</summary>
    public static int ParseInstances(string text)
    {
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var instances))
        {
            throw new CliException($"instances must be a whole number, got '{text}'; e.g. `concord scale counter 4`");
        }
        if (instances < 1 || instances > ProtocolLimits.InstancesMax)
        {
            var fix = instances < 1 ? "; to remove an operator use `concord kill NAME`" : "";
            throw new CliException($"instances must be between 1 and {ProtocolLimits.InstancesMax}, got {instances}{fix}");
        }
        return instances;
    }

    private static void CheckName(string name)
    {
        if (!OperatorSpecValidator.IsValidOperatorName(name))
        {
            throw new CliException($"'{name}' is not a valid operator name; use the name shown by `concord list` (lower-case letters, digits and '-')");
        }
    }

    private static async Task WaitUntilRunningAsync(CliContext ctx, SchedulerConnection scheduler, string name, TimeSpan timeout, Action<string> progress, CancellationToken cancellationToken)
    {
        // The scheduler has no client-side watch, so poll List with a deadline.
        var began = ctx.Time.GetTimestamp();
        while (true)
        {
            var list = await scheduler.CallAsync((c, o) => c.ListAsync(new ListRequest(), o), cancellationToken);
            var op = list.Operators.FirstOrDefault(o => o.Spec?.Name == name)
                ?? throw new CliException($"'{name}' is no longer deployed (killed while starting?); see `concord list`");
            var failed = op.Instances.FirstOrDefault(i => i.State is InstanceState.Failed or InstanceState.CrashLooping);
            if (failed is not null)
            {
                var error = !string.IsNullOrEmpty(failed.LastError) ? failed.LastError : StatusText.LastError(op);
                if (string.IsNullOrEmpty(error))
                {
                    error = "no error reported; see its executor.log under <home>/instances/" + name;
                }
                throw new CliException($"'{name}' instance {failed.Index} failed: {error.ReplaceLineEndings(" ").Trim()} (it stays deployed and is restarted with back-off; fix it, then `concord kill {name}` and deploy again)");
            }
            var running = StatusText.RunningCount(op);
            var desired = op.Spec?.Instances ?? op.Instances.Count;
            if (running >= desired && op.Instances.Count >= desired && desired > 0)
            {
                return;
            }
            progress($"{name}: {running}/{desired} running");
            if (ctx.Time.GetElapsedTime(began) >= timeout)
            {
                throw new CliException($"timed out after {timeout.TotalSeconds:0} s waiting for '{name}': {running}/{desired} instances running; it stays deployed: see `concord list`, or wait longer with --timeout");
            }
            await Task.Delay(TimeSpan.FromMilliseconds(CliLimits.DeployPollIntervalMs), ctx.Time, cancellationToken);
        }
    }

    private static string Plural(int count, string noun) => count == 1 ? $"1 {noun}" : $"{count} {noun}s";
}

using Concord.Scheduler;

// Exit codes: 0 clean stop, 2 bad command line, home in use or no usable cgroups, 1 anything else.
if (args.Length > 0 && args[0] == Concord.Scheduler.Runtime.Agents.AgentCommandLine.ModeArgument)
{
    // `concord agent`: this binary as an agent (docs/cluster.md "Agents").
    return await Concord.Scheduler.Runtime.Agents.AgentProgram.RunAsync(args[1..]);
}

SchedulerOptions? options;
try
{
    options = SchedulerCommandLine.Parse(args);
}
catch (UsageException e)
{
    Console.Error.WriteLine($"concord-scheduler: {e.Message}");
    return 2;
}
if (options is null)
{
    Console.WriteLine(SchedulerCommandLine.Usage);
    return 0;
}

SchedulerHome home;
try
{
    home = SchedulerHome.Acquire(options.Home);
}
catch (HomeInUseException e)
{
    Console.Error.WriteLine($"concord-scheduler: {e.Message}");
    return 2;
}

using (home)
{
    try
    {
        return await Concord.Scheduler.Internal.SchedulerRuns.RunAsync(options, home);
    }
    catch (Concord.Scheduler.Runtime.Containment.ContainmentException e)
    {
        // No usable cgroups: the message names the cause, and --no-containment as the explicit way out.
        Console.Error.WriteLine($"concord-scheduler: {e.Message}");
        return 2;
    }
    catch (UsageException e)
    {
        // A --store or --runtime the parser accepted but the registry cannot build.
        Console.Error.WriteLine($"concord-scheduler: {e.Message}");
        return 2;
    }
    catch (InvalidDataException e)
    {
        // A topology file that cannot be read: the message names the file and the fix.
        Console.Error.WriteLine($"concord-scheduler: {e.Message}");
        return 2;
    }
    catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException or Microsoft.AspNetCore.Connections.AddressInUseException)
    {
        Console.Error.WriteLine($"concord-scheduler: cannot listen on {Concord.Hosting.NetworkAddress.Format(options.ListenAddress.ToString(), options.Port)} ({e.Message}); pass --port (or --listen) with a free port, or port 0, or an address of this host");
        return 2;
    }
}

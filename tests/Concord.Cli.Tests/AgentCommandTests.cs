using Concord.Cli.Internal;
using Concord.Contracts.Scheduler.V1;
using Spectre.Console;

namespace Concord.Cli.Tests;

/// <summary>`concord agent`'s checks before it starts anything, and the host column of `list` (docs/cluster.md "Agents").</summary>
public sealed class AgentCommandTests : IDisposable
{
    private static readonly TimeSpan CommandTimeout = TestTimeouts.Process;

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<(int ExitCode, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string? Lookup(string name) => name == "CONCORD_HOME" ? _dir.Path : null;
        var code = await ConcordCli.RunAsync(args, output, error, Lookup, interactive: false, TimeProvider.System).WaitAsync(CommandTimeout);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Agent_without_cpus_and_mem_says_what_to_give_and_starts_nothing()
    {
        var (code, _, error) = await RunAsync("agent", "--home", _dir.Combine("agent"), "--scheduler", "http://127.0.0.1:7400");

        Assert.NotEqual(0, code);
        Assert.Contains("concord agent needs --cpus N and --mem MB", error);
        Assert.False(Directory.Exists(_dir.Combine("agent")));
    }

    [Fact]
    public async Task Agent_without_an_explicit_home_asks_for_one_instead_of_taking_the_schedulers()
    {
        var (code, _, error) = await RunAsync("agent", "--scheduler", "http://127.0.0.1:7400", "--cpus", "2", "--mem", "1024");

        Assert.NotEqual(0, code);
        Assert.Contains("concord agent needs --home DIR", error);
    }

    [Fact]
    public void List_shows_the_host_of_each_instance_only_where_instances_have_one()
    {
        var list = new ListResponse { Operators = { RenderingTests.Operator("counter", 2, 2), RenderingTests.Operator("sink", 1, 1) } };
        var local = Render(list);
        list.Operators[0].Instances[0].Host = "h1";
        list.Operators[0].Instances[1].Host = "h2";
        list.Operators[1].Instances[0].Host = "h2";

        var spread = Render(list);

        Assert.DoesNotContain("HOSTS", local);
        Assert.Contains("HOSTS", spread);
        Assert.EndsWith("h1, h2", spread.Split('\n').Single(l => l.StartsWith("counter", StringComparison.Ordinal)).TrimEnd());
        Assert.EndsWith("h2", spread.Split('\n').Single(l => l.StartsWith("sink", StringComparison.Ordinal)).TrimEnd());
    }

    private static string Render(ListResponse list)
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(text),
            ColorSystem = ColorSystemSupport.NoColors,
            Ansi = AnsiSupport.No,
        });
        console.Profile.Width = 200;
        console.Write(ListRenderer.RenderTable(list));
        return text.ToString().ReplaceLineEndings("\n");
    }
}

using System.Globalization;
using Concord.Bench;
using Concord.Bench.Internal;

// bench/run.sh [--seconds N] [--counter dotnet|python|go|CMD|deploy.json] — see bench/README in RESULTS.md;
// bench/run-guarantees.sh runs --scenario guarantees (delivery modes, checkpoints, recovery, state size).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"bench: {e.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

try
{
    if (options.Scenario == "guarantees")
    {
        var markdown = await GuaranteesBench.RunAsync(options, Console.Out);
        Console.WriteLine();
        Console.WriteLine(markdown);
        if (options.ResultsPath is { } guaranteesResults)
        {
            ResultsFile.Write(guaranteesResults, markdown, ResultsFile.GuaranteesBegin, ResultsFile.GuaranteesEnd);
            Console.WriteLine($"results written to {guaranteesResults}");
        }
        return 0;
    }
    var report = await WordCountBench.RunAsync(options, Console.Out);
    Console.WriteLine();
    Console.WriteLine(report.Markdown);
    if (options.ResultsPath is { } results)
    {
        ResultsFile.Write(results, report.Markdown);
        Console.WriteLine($"results written to {results}");
    }
    return 0;
}
catch (OnlyPartException e)
{
    Console.WriteLine(e.Message);
    return 0;
}
catch (Exception e) when (e is TimeoutException or InvalidOperationException or FileNotFoundException or Grpc.Core.RpcException)
{
    Console.Error.WriteLine($"bench failed: {e.Message}");
    return 1;
}

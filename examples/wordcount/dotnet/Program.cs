using Concord.Examples.WordCount;
using Concord.Sdk;

// One program, three operators: the first argument picks which one this process serves.
Computation computation;
try
{
    computation = args.FirstOrDefault() switch
    {
        "source" => new WordSource(WordSourceOptions.FromEnvironment(), TimeProvider.System),
        "counter" => new WordCounter(),
        "sink" => new CountSink(CountSink.OutputPathFromEnvironment(), TimeProvider.System),
        _ => throw new ArgumentException(
            $"unknown operator '{args.FirstOrDefault()}'; usage: WordCount source|counter|sink " +
            "(deploy it with examples/wordcount/source.json, counter.json, sink.json)"),
    };
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"WordCount: {e.Message}");
    return SessionOutcome.ExitCodeUsage;
}

await ComputationHost.ServeAsync(computation);
return SessionOutcome.ExitCodeClean; // not reached: ServeAsync exits the process

using Concord.Contracts.Types.V1;

namespace Concord.EndToEnd.Tests.Harness;

/// <summary>Operator specs for the word-count example, as the CLI would build them from its deploy files.</summary>
public static class Specs
{
    public static OperatorSpec Source(string name = "source", long rate = 5_000, long limit = 0, string? emittedLog = null)
    {
        var spec = WordCount(name, "source", instances: 1);
        spec.Environment["WORDCOUNT_DICTIONARY"] = Repo.Dictionary;
        spec.Environment["WORDCOUNT_RATE"] = rate.ToString();
        spec.Environment["WORDCOUNT_LIMIT"] = limit.ToString();
        if (emittedLog is not null)
        {
            spec.Environment["WORDCOUNT_EMITTED_LOG"] = emittedLog;
        }
        spec.ExpectedOutputs.Add("words");
        return spec;
    }

    public static OperatorSpec Counter(string name = "counter", int instances = 2)
    {
        var spec = WordCount(name, "counter", instances);
        spec.ExpectedInputs.Add(new InputStream { Name = "words", Grouping = Grouping.GroupBy });
        spec.ExpectedOutputs.Add("counts");
        return spec;
    }

    public static OperatorSpec Sink(string output, string name = "sink")
    {
        var spec = WordCount(name, "sink", instances: 1);
        spec.Environment["WORDCOUNT_OUTPUT"] = output;
        spec.ExpectedInputs.Add(new InputStream { Name = "counts", Grouping = Grouping.Shuffle });
        return spec;
    }

    /// <summary>The built-in CSV sink reading <paramref name="stream"/>: a reader with no user process.</summary>
    public static OperatorSpec CsvSink(string name, string stream, string path, int instances = 1) => new()
    {
        Name = name,
        Instances = instances,
        Builtin = new BuiltinOperator { Kind = "csv-sink", Options = { ["path"] = path } },
        ExpectedInputs = { new InputStream { Name = stream, Grouping = Grouping.Shuffle } },
    };

    /// <summary>The built-in file source: the lines of <paramref name="path"/> (a file or directory) on <paramref name="stream"/>, once.</summary>
    public static OperatorSpec FileSource(string name, string stream, string path) => new()
    {
        Name = name,
        Instances = 1,
        Builtin = new BuiltinOperator { Kind = "file-source", Options = { ["path"] = path, ["stream"] = stream } },
        ExpectedOutputs = { stream },
    };

    private static OperatorSpec WordCount(string name, string mode, int instances) => new()
    {
        Name = name,
        Executable = Repo.WordCountExe,
        Args = { mode },
        Instances = instances,
        Cpus = 0.5,
        MemMb = 256,
        SourceDirectory = Path.GetDirectoryName(Repo.Dictionary)!,
    };
}

using System.Text.Json;
using System.Text.RegularExpressions;

namespace Concord.Contracts.Tests;

/// <summary>
/// proto/concord/limits.json is the one source of the protocol constants; ProtocolLimits is the
/// C# copy. The Python and Go SDKs check their own copies against the same file
/// (sdk/python/tests/test_limits.py, sdk/go/sdk/limits_test.go).
/// </summary>
public class ProtocolLimitsFileTests
{
    private static readonly JsonElement Limits = Load();

    [Fact]
    public void Numbers_match_the_limits_file()
    {
        Assert.Equal(ProtocolLimits.ProtocolVersion, Int("protocolVersion"));
        Assert.Equal(ProtocolLimits.RecordBytesMax, Int("recordBytesMax"));
        Assert.Equal(ProtocolLimits.GrpcMessageBytesMax, Int("grpcMessageBytesMax"));
        Assert.Equal(ProtocolLimits.BatchDoneBytesMax, Int("batchDoneBytesMax"));
        Assert.Equal(ProtocolLimits.BatchDoneRecordsMax, Int("batchDoneRecordsMax"));
        Assert.Equal(ProtocolLimits.KeyGroupCount, Int("keyGroupCount"));
        Assert.Equal(ProtocolLimits.UnixSocketPathBytesMax, Int("unixSocketPathBytesMax"));
        Assert.Equal(ProtocolLimits.StreamNameCharsMax, Int("streamNameCharsMax"));
        Assert.Equal(ProtocolLimits.OperatorNameCharsMax, Int("operatorNameCharsMax"));
        Assert.Equal(ProtocolLimits.UnavailableReaderDropAfterMsMax, Int("unavailableReaderDropAfterMsMax"));
    }

    [Fact]
    public void Strings_match_the_limits_file()
    {
        Assert.Equal(ProtocolLimits.OperatorAddressVariable, Str("operatorAddressVariable"));
        Assert.Equal(ProtocolLimits.StreamNamePattern, Str("streamNamePattern"));
        Assert.Equal(ProtocolLimits.OperatorNamePattern, Str("operatorNamePattern"));
        Assert.Equal(Limits.GetProperty("capabilities").EnumerateArray().Select(c => c.GetString()!), Capabilities.All);
    }

    [Fact]
    public void Stream_name_pattern_allows_exactly_up_to_the_length_bound()
    {
        var max = ProtocolLimits.StreamNameCharsMax;
        Assert.True(OperatorSpecValidator.IsValidStreamName(new string('a', max)));
        Assert.False(OperatorSpecValidator.IsValidStreamName(new string('a', max + 1)));
        Assert.False(OperatorSpecValidator.IsValidStreamName(""));
        Assert.True(OperatorSpecValidator.IsValidStreamName("A-z_0.9"));
        Assert.False(OperatorSpecValidator.IsValidStreamName("a b"));
    }

    [Fact]
    public void Operator_name_pattern_allows_exactly_up_to_the_length_bound()
    {
        var max = ProtocolLimits.OperatorNameCharsMax;
        Assert.True(OperatorSpecValidator.IsValidOperatorName(new string('a', max)));
        Assert.False(OperatorSpecValidator.IsValidOperatorName(new string('a', max + 1)));
        Assert.False(OperatorSpecValidator.IsValidOperatorName(""));
        Assert.False(OperatorSpecValidator.IsValidOperatorName("-a"));
        Assert.False(OperatorSpecValidator.IsValidOperatorName("Upper"));
    }

    [Fact]
    public void Kafka_topic_pattern_allows_exactly_up_to_its_bound()
    {
        Assert.True(OperatorSpecValidator.IsValidKafkaTopic(new string('t', ProtocolLimits.KafkaTopicCharsMax)));
        Assert.False(OperatorSpecValidator.IsValidKafkaTopic(new string('t', ProtocolLimits.KafkaTopicCharsMax + 1)));
        Assert.True(OperatorSpecValidator.IsValidKafkaTopic("orders.eu_v2-x"));
        Assert.False(OperatorSpecValidator.IsValidKafkaTopic(""));
    }

    [Fact]
    public void No_other_source_file_spells_out_the_stream_name_pattern()
    {
        // The pattern lives in ProtocolLimits (C#), _limits.py and limits.go; every other
        // check calls those. A new literal copy would drift, so it fails here.
        var root = RepoRoot();
        var allowed = new HashSet<string>(StringComparer.Ordinal)
        {
            Path.Combine("sdk", "dotnet", "Concord.Contracts", "ProtocolLimits.cs"),
            Path.Combine("sdk", "python", "concord", "_limits.py"),
            Path.Combine("sdk", "go", "sdk", "limits.go"),
        };
        var literal = new Regex(@"\[A-Za-z0-9_\.-\]\{1,\d+\}");
        var copies = new[] { "sdk", "services", "cli", "examples", "tools" }
            .SelectMany(dir => SourceFiles(Path.Combine(root, dir)))
            .Select(f => Path.GetRelativePath(root, f))
            .Where(f => !allowed.Contains(f) && literal.IsMatch(File.ReadAllText(Path.Combine(root, f))))
            .ToList();
        Assert.True(copies.Count == 0, "these files spell out the stream name pattern; use the language's limits constant instead: " + string.Join(", ", copies));
    }

    /// <summary>
    /// Hand-written C#, Python and Go files under <paramref name="directory"/>: build output,
    /// generated code (it repeats the proto comments) and vendored Go sources are skipped.
    /// </summary>
    private static IEnumerable<string> SourceFiles(string directory)
    {
        string[] skipped = ["obj", "bin", "gen", "vendor", "__pycache__"];
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            if (file.EndsWith(".cs", StringComparison.Ordinal) || file.EndsWith(".py", StringComparison.Ordinal) || file.EndsWith(".go", StringComparison.Ordinal))
            {
                yield return file;
            }
        }
        foreach (var child in Directory.EnumerateDirectories(directory))
        {
            if (!skipped.Contains(Path.GetFileName(child)) && new DirectoryInfo(child).LinkTarget is null)
            {
                foreach (var file in SourceFiles(child))
                {
                    yield return file;
                }
            }
        }
    }

    private static int Int(string name) => Limits.GetProperty(name).GetInt32();

    private static string Str(string name) => Limits.GetProperty(name).GetString()!;

    private static JsonElement Load()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoRoot(), "proto", "concord", "limits.json")));
        return document.RootElement.Clone();
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Concord.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Concord.sln not found above " + AppContext.BaseDirectory + "; run the tests from a checkout of the repository");
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using Xunit.Abstractions;

namespace Concord.Cli.Tests;

/// <summary>
/// The example deploy files (examples/wordcount/*.json) mutated byte-wise and structurally
/// (huge numbers, deep nesting, long strings, invalid UTF-8, control characters, lone surrogate
/// escapes, duplicate keys, wrong types) and read by <see cref="DeployFile"/>: the only exception
/// is <see cref="DeployFileException"/>, every problem names a field and quotes a bounded amount
/// of the input, and a file that is accepted gives a spec the validator accepts again, unchanged,
/// after the protobuf round-trip the store makes.
/// </summary>
public sealed class DeployFileFuzzTests(ITestOutputHelper output) : IDisposable
{
    /// <summary>Inputs per property: thousands of mutations of four seeds, in a few seconds.</summary>
    private const int InputsPerProperty = 2_000;

    /// <summary>
    /// Longest problem (field and message): the fixed text (under 400 characters) and at most four
    /// quoted values of <see cref="ProtocolLimits.ProblemEchoCharsMax"/> characters, each escaped
    /// (a control character takes 6) and closed with "…".
    /// </summary>
    private const int ProblemCharsMax = 400 + (4 * ((ProtocolLimits.ProblemEchoCharsMax * 6) + 1));

    /// <summary>Fields a problem may name: the deploy file's, and json / encoding / file for the document itself.</summary>
    private static readonly HashSet<string> Fields = [.. DeployFile.Fields, "json", "encoding", "file"];

    private static readonly string Examples = Path.Combine(RepoPaths.Root, "examples", "wordcount");

    // counter-go.json and counter-java.json are left out: their executables come from the Go and
    // Java builds, which these tests do not need.
    private static readonly string[] Seeds = [.. Directory.GetFiles(Examples, "*.json").Where(f => !f.EndsWith("-go.json", StringComparison.Ordinal) && !f.EndsWith("-java.json", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal).Select(File.ReadAllText),
        // A built-in source, so builtin.kind / builtin.options are mutated too.
        """{"name": "gen", "builtin": {"kind": "generator", "options": {"dictionary": "words.txt", "rate": 1000}}, "outputs": ["words"]}"""];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Gen<string> Seed => Gen.Elements(Seeds);

    private static Gen<string> HostileString =>
        Gen.Frequency(
            (4, Gen.Elements("", "x", "counter", "words", "group_by", "generator", "csv-sink", "kafka-source", "../../x", "/etc/shadow", "words.txt",
                "CONCORD_HOME", "a\0b", "\u001b[2J", "\ud800", "é", "\u2028", "1e400", "name", "inputs", "kafka.x")),
            (2, Gen.Choose(0, 30).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 0xFFFF).Select(c => (char)c), n)).Select(c => new string(c))),
            (1, Gen.Choose(0, 70_000).SelectMany(n => Gen.Elements('a', '\0', '\u001b', '/').Select(c => new string(c, n)))));

    /// <summary>Raw JSON for one value: every type, huge numbers, deep nesting, long strings, bad escapes, duplicates.</summary>
    private static Gen<string> HostileValue => Gen.Frequency(
        (3, HostileString.Select(s => JsonSerializer.Serialize(s))),
        (3, Gen.Elements("1e400", "-1e400", "1e-400", "-0", "0", "-1", "0.5", "2147483648", "99999999999999999999999999", "128", "129",
            "1.0", "true", "false", "null", "{}", "[]", "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"", "\"a\u0001b\"", "\"\\x\"",
            "{\"a\": 1, \"a\": 2}", "[\"words\", \"words\"]", "{\"stream\": 1}", "{\"stream\": \"w\", \"stream\": \"w\"}",
            "{\"kind\": \"generator\", \"kind\": \"csv-sink\"}", "{\"options\": []}", "[{\"grouping\": \"group-by\"}]")),
        (1, Gen.Choose(1, 20_000).Select(n => new string('9', n))),
        (1, Gen.Choose(1, 2_000).Select(n => new string('[', n) + new string(']', n))),
        (1, Gen.Choose(1, 200).Select(n => string.Concat(Enumerable.Repeat("{\"a\":", n)) + "1" + new string('}', n))));

    private static Gen<string> Key => Gen.Frequency((6, Gen.Elements([.. DeployFile.Fields])), (1, HostileString));

    /// <summary>
    /// A seed with its fields replaced, added (also twice) or dropped, or a nested value
    /// (environment, inputs, builtin.options) replaced; written out as raw JSON text.
    /// </summary>
    private static Gen<string> Structural =>
        from seed in Seed
        from edits in Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(
            from kind in Gen.Choose(0, 4)
            from key in Key
            from nestedKey in HostileString
            from value in HostileValue
            select (kind, key, nestedKey, value), n))
        select Restructure(seed, edits);

    private static string Restructure(string seed, (int Kind, string Key, string NestedKey, string Value)[] edits)
    {
        var fields = JsonNode.Parse(seed)!.AsObject().Select(p => (p.Key, Raw: p.Value?.ToJsonString() ?? "null")).ToList();
        foreach (var (kind, key, nestedKey, value) in edits)
        {
            switch (kind)
            {
                case 0: // replace (or add) a field
                    fields.RemoveAll(f => f.Key == key);
                    fields.Add((key, value));
                    break;
                case 1: // the same field twice
                    fields.Add((key, value));
                    break;
                case 2: // drop a field
                    fields.RemoveAll(f => f.Key == key);
                    break;
                case 3: // a hostile entry inside an object field
                    fields.RemoveAll(f => f.Key == key);
                    var inner = key == "builtin"
                        ? $"{{\"kind\": \"generator\", \"options\": {{{JsonSerializer.Serialize(nestedKey)}: {value}}}}}"
                        : $"{{{JsonSerializer.Serialize(nestedKey)}: {value}}}";
                    fields.Add((key == "inputs" ? "inputs" : key, key == "inputs" ? $"[{inner}]" : inner));
                    break;
                default: // a hostile entry inside an array field
                    fields.RemoveAll(f => f.Key == key);
                    fields.Add((key, $"[\"words\", {value}]"));
                    break;
            }
        }
        return "{" + string.Join(", ", fields.Select(f => JsonSerializer.Serialize(f.Key) + ": " + f.Raw)) + "}";
    }

    /// <summary>Byte edits of a seed; the special edit is an overlong, surrogate or truncated UTF-8 sequence.</summary>
    private static Gen<byte[]> ByteMutated =>
        ByteMutations.Mutated(
            Gen.Frequency((3, Seed), (1, Structural)).Select(seed => Encoding.UTF8.GetBytes(seed)),
            value => value % 3 == 0 ? [0xC0, 0x80] : value % 3 == 1 ? [0xED, 0xA0, 0x80] : [0xF0, 0x9F]);

    private (int Tried, int Accepted) Run<T>(Gen<T> inputs, Func<T, OperatorSpec> parse, string name)
    {
        var tried = 0;
        var accepted = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(InputsPerProperty), Prop.ForAll(Arb.From(inputs), (T input) =>
        {
            tried++;
            OperatorSpec spec;
            try
            {
                spec = parse(input);
            }
            catch (DeployFileException e)
            {
                Assert.NotEmpty(e.Problems);
                foreach (var problem in e.Problems)
                {
                    // An unknown field is named as written (quoted within bounds), with the known ones listed;
                    // a repeated key is named as written too, known or not (seed (9295432458792478068,5860252198586147453,38)).
                    var root = problem.Field.Split('.', '[')[0];
                    Assert.True(Fields.Contains(root) || problem.Message.StartsWith("is not a known field", StringComparison.Ordinal)
                        || problem.Message.StartsWith("appears twice", StringComparison.Ordinal),
                        $"problem names no field: {OperatorSpecValidator.Echo(problem.ToString())}");
                    Assert.True(problem.ToString().Length <= ProblemCharsMax, $"{problem.ToString().Length}-character problem: {OperatorSpecValidator.Echo(problem.ToString())}");
                    Assert.DoesNotContain(problem.ToString(), c => char.IsControl(c));
                }
                Assert.True(e.Message.Length <= ProblemCharsMax * (e.Problems.Count + 1), $"{e.Message.Length}-character message for {e.Problems.Count} problems");
                return;
            }
            accepted++;
            Assert.Empty(OperatorSpecValidator.Validate(spec));
            var loaded = OperatorSpec.Parser.ParseFrom(spec.ToByteArray());
            Assert.Empty(OperatorSpecValidator.Validate(loaded));
            Assert.Equal(spec, loaded);
        }));
        output.WriteLine($"{name}: {tried} inputs, {accepted} accepted, 0 failures");
        return (tried, accepted);
    }

    [Fact]
    public void Structurally_mutated_deploy_files_fail_only_with_bounded_problems_that_name_a_field() =>
        Assert.Equal(InputsPerProperty, Run(Structural, json => DeployFile.ParseText(json, Examples, "op.json"), "ParseText(structural)").Tried);

    [Fact]
    public void Byte_mutated_deploy_files_fail_only_with_bounded_problems_that_name_a_field()
    {
        // Parse reads the file (size, UTF-8) and resolves paths against its folder: lay out a copy
        // of examples/wordcount whose ../../artifacts is the build's, so unmutated seeds resolve.
        Directory.CreateSymbolicLink(_dir.Combine("artifacts"), Path.Combine(RepoPaths.Root, "artifacts"));
        Directory.CreateDirectory(_dir.Combine("examples", "wordcount"));
        File.Copy(Path.Combine(Examples, "words.txt"), _dir.Combine("examples", "wordcount", "words.txt"));
        Directory.CreateSymbolicLink(_dir.Combine("examples", "wordcount", "python"), Path.Combine(Examples, "python"));
        var path = _dir.Combine("examples", "wordcount", "op.json");
        var (tried, _) = Run(ByteMutated, bytes =>
        {
            File.WriteAllBytes(path, bytes);
            return DeployFile.Parse(path);
        }, "Parse(bytes)");
        Assert.Equal(InputsPerProperty, tried);
    }

    [Fact]
    public void The_unmutated_examples_are_accepted_and_survive_the_round_trip()
    {
        var (_, accepted) = Run(Seed, json => DeployFile.ParseText(json, Examples, "op.json"), "ParseText(seeds)");
        Assert.Equal(InputsPerProperty, accepted);
    }
}

/// <summary>The bugs the fuzzing above found or guards against, each pinned by one example.</summary>
public sealed class DeployFileHostileInputTests
{
    private static readonly string Examples = Path.Combine(RepoPaths.Root, "examples", "wordcount");

    private static DeployFileException Fails(string json) =>
        Assert.Throws<DeployFileException>(() => DeployFile.ParseText(json, Examples, "op.json"));

    [Fact]
    public void A_NUL_in_a_relative_path_is_a_problem_not_an_ArgumentException()
    {
        var error = Fails("""{"name": "c", "executable": "./run\u0000x", "files": ["words.txt", "a/\u0000"]}""");

        Assert.Equal(["executable", "files[1]"], error.Problems.Select(p => p.Field));
        Assert.All(error.Problems, p => Assert.Contains("NUL character", p.Message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("{\"name\": \"c\"\n\n\u001b[2J}")]
    [InlineData("{\"name\": \"c\",\n\u0007}")]
    public void A_syntax_error_quotes_the_offending_character_escaped(string json)
    {
        var problem = Assert.Single(Fails(json).Problems);

        Assert.Equal("json", problem.Field);
        Assert.DoesNotContain(problem.Message, char.IsControl);
    }

    [Fact]
    public void Half_a_surrogate_pair_is_refused_instead_of_becoming_U_FFFD_in_the_store()
    {
        var error = Fails("""{"name": "c", "executable": "x", "args": ["\ud800"]}""");

        var problem = Assert.Single(error.Problems);
        Assert.Equal("json", problem.Field);
        Assert.Contains("surrogate pair", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_huge_unknown_field_and_number_are_quoted_only_in_part_with_control_characters_escaped()
    {
        var name = "\u001b[2J" + new string('x', 100_000);
        var error = Fails($$"""{"name": "c", "executable": "x", "{{name.Replace("\u001b", "\\u001b", StringComparison.Ordinal)}}": 1, "instances": {{new string('9', 50_000)}}}""");

        Assert.Equal(2, error.Problems.Count);
        Assert.All(error.Problems, p => Assert.True(p.ToString().Length < 1_000, p.ToString().Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.StartsWith("\\u001b[2Jxxx", error.Problems[0].Field, StringComparison.Ordinal);
        Assert.EndsWith("…", error.Problems[0].Field, StringComparison.Ordinal);
        Assert.Equal("instances", error.Problems[1].Field);
    }
}

using Concord.Contracts.Types.V1;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using Xunit.Abstractions;

namespace Concord.Contracts.Tests;

/// <summary>
/// Random and mutated specs thrown at <see cref="OperatorSpecValidator"/>, the check the CLI,
/// the scheduler and the store (on load) share: it never throws, every problem names a deploy-file
/// field and quotes a bounded amount of the input, and a spec it accepts is accepted again, and is
/// the same spec, after the protobuf round-trip the store makes.
/// </summary>
public sealed class OperatorSpecValidatorFuzzTests(ITestOutputHelper output)
{
    /// <summary>Inputs per property: enough to hit every field's hostile values, small enough to run in a second or two.</summary>
    private const int InputsPerProperty = 2_000;

    /// <summary>
    /// Longest problem (field and message): the fixed text (under 400 characters) and at most four
    /// quoted values of <see cref="ProtocolLimits.ProblemEchoCharsMax"/> characters, each escaped
    /// (a control character takes 6) and closed with "…".
    /// </summary>
    private const int ProblemCharsMax = 400 + (4 * ((ProtocolLimits.ProblemEchoCharsMax * 6) + 1));

    /// <summary>Deploy-file fields a problem may name (its part before '.' or '[').</summary>
    private static readonly HashSet<string> Fields =
        ["name", "executable", "args", "instances", "cpus", "mem", "environment", "files", "inputs", "outputs", "builtin"];

    /// <summary>Strings that break naive code: empty, long, control characters, NUL, lone surrogates, escapes, paths.</summary>
    private static Gen<string> Hostile =>
        Gen.Frequency(
            (3, Gen.Elements("", "a", "counter", "words", "counts", "/tmp/x", "./x", "../../x", "CONCORD_HOME", "CONCORD_BATCH_TIMEOUT_MS",
                "generator", "csv-sink", "kafka-source", "kafka-sink", "kafka.", "kafka.fetch.max.bytes", "rate", "count", "stream", "topic",
                "dictionary", "path", "start", "acks", "linger_ms", "-1", "1e400", "NaN", "99999999999", "2.5", "true", "\0", "a\0b", "\u001b[2J", "\ud800",
                "\udfff\ud800", "é", "\u2028", "..", ".", "a b", "x/../../etc/shadow")),
            (2, Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 0xFFFF).Select(c => (char)c), n)).Select(c => new string(c))),
            (1, Gen.Choose(0, 4000).SelectMany(n => Gen.Elements('a', '\0', '\u001b', '-', '\ud800').Select(c => new string(c, n)))));

    private static Gen<string> ValidName => Gen.Elements("counter", "source", "sink", "a", "x-1", new string('n', ProtocolLimits.OperatorNameCharsMax));

    private static Gen<string> ValidStream => Gen.Elements("words", "counts", "a.b_c-d", new string('s', ProtocolLimits.StreamNameCharsMax));

    /// <summary>Up to <paramref name="max"/> items; when hostile, sometimes one more than the protocol allows, and duplicates.</summary>
    private static Gen<T[]> List<T>(Gen<T> item, int max, int h) =>
        h == 0
            ? Gen.Choose(0, max).SelectMany(n => Gen.ArrayOf(item, n)).Select(items => items.Distinct().ToArray())
            : Gen.Frequency((8, Gen.Choose(0, max)), (h, Gen.Constant(ProtocolLimits.ListEntriesMax + 1))).SelectMany(n => Gen.ArrayOf(item, n));

    /// <summary>A spec that is valid (an operator program, or a generator source) when <paramref name="hostile"/> is never chosen.</summary>
    private static Gen<OperatorSpec> Specs(int hostileWeight) =>
        from builtin in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from spec in builtin ? Builtin(hostileWeight) : Program(hostileWeight)
        select spec;

    private static Gen<string> Either(Gen<string> valid, int hostileWeight) =>
        hostileWeight == 0 ? valid : Gen.Frequency((8, valid), (hostileWeight, Hostile));

    private static Gen<OperatorSpec> Program(int h) =>
        from name in Either(ValidName, h)
        from executable in Either(Gen.Elements("/bin/true", "python3", "/opt/op/run"), h)
        from args in List(Either(Gen.Elements("--verbose", "in.txt", "", "é ü"), h), 4, h)
        from instances in Numbers(h, 1, ProtocolLimits.InstancesMax)
        from cpus in Gen.Frequency((8, Gen.Elements(0.5, 1.0, 2.0, 0.0)), (h, Gen.Elements(double.NaN, double.PositiveInfinity, -1.0, 1e300, double.Epsilon)))
        from mem in Numbers(h, 1, ProtocolLimits.MemMbMax)
        from environment in List(
            from key in Either(Gen.Elements("LOG_LEVEL", "PORT", "_X", "CONCORD_TRACE_SAMPLE_EVERY"), h)
            from value in Either(Gen.Elements("debug", "", "8080"), h)
            select (key, value), 4, h)
        from files in List(Either(Gen.Elements("/data/words.txt", "/opt/model.bin"), h), 3, h)
        from inputs in List(
            from stream in Either(ValidStream, h)
            from grouping in Gen.Frequency((8, Gen.Elements(Grouping.Shuffle, Grouping.GroupBy, Grouping.Broadcast)), (h, Gen.Choose(-3, 9).Select(g => (Grouping)g)))
            select new InputStream { Name = stream, Grouping = grouping }, 3, h).Select(i => h == 0 ? i.DistinctBy(input => input.Name).ToArray() : i)
        from outputs in List(Either(ValidStream, h), 3, h)
        select Build(name, executable, args, instances, cpus, mem, environment, files, inputs, outputs, builtin: null);

    private static Gen<OperatorSpec> Builtin(int h) =>
        from name in Either(ValidName, h)
        from kind in Either(Gen.Elements("generator"), h)
        from options in List(
            from option in Either(Gen.Elements("rate", "count", "stats"), h)
            from value in Either(Gen.Elements("1000", "0"), h)
            select (option, value), 3, h)
        from executable in h == 0 ? Gen.Constant("") : Gen.Frequency((8, Gen.Constant("")), (h, Hostile))
        from outputs in Gen.Frequency((4, Gen.Constant(Array.Empty<string>())), (4, Gen.Constant(new[] { "words" })), (h, List(Hostile, 3, h)))
        from inputs in Gen.Frequency((8, Gen.Constant(Array.Empty<InputStream>())), (h, Gen.Constant(new[] { new InputStream { Name = "words" } })))
        select Build(name, executable, [], 1, 1, 256, [], [], inputs, outputs,
            new BuiltinOperator { Kind = kind, Options = { options.Prepend(("dictionary", "/data/words.txt")).DistinctBy(o => o.Item1).ToDictionary(o => o.Item1, o => o.Item2) } });

    private static Gen<int> Numbers(int h, int min, int max) =>
        Gen.Frequency((8, Gen.Choose(min, Math.Min(max, 64))), (h, Gen.Elements(0, -1, int.MinValue, int.MaxValue, max + 1, max)));

    private static OperatorSpec Build(string name, string executable, string[] args, int instances, double cpus, int mem,
        (string Key, string Value)[] environment, string[] files, InputStream[] inputs, string[] outputs, BuiltinOperator? builtin)
    {
        var spec = new OperatorSpec { Name = name, Executable = executable, Instances = instances, Cpus = cpus, MemMb = mem, Builtin = builtin };
        spec.Args.AddRange(args);
        foreach (var (key, value) in environment)
        {
            spec.Environment[key] = value;
        }
        spec.Files.AddRange(files);
        spec.ExpectedInputs.AddRange(inputs);
        spec.ExpectedOutputs.AddRange(outputs);
        return spec;
    }

    private (int Tried, int Accepted) Run(Gen<OperatorSpec> specs, Action<OperatorSpec, IReadOnlyList<SpecProblem>> property, string name)
    {
        var tried = 0;
        var accepted = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(InputsPerProperty), Prop.ForAll(Arb.From(specs), (OperatorSpec spec) =>
        {
            tried++;
            var problems = OperatorSpecValidator.Validate(spec);
            if (problems.Count == 0)
            {
                accepted++;
            }
            property(spec, problems);
        }));
        output.WriteLine($"{name}: {tried} inputs, {accepted} accepted, 0 failures");
        return (tried, accepted);
    }

    [Fact]
    public void Hostile_specs_get_problems_that_name_a_field_and_quote_a_bounded_amount_of_input()
    {
        var (tried, _) = Run(Specs(hostileWeight: 3), (spec, problems) =>
        {
            foreach (var problem in problems)
            {
                var root = problem.Field.Split('.', '[')[0];
                Assert.True(Fields.Contains(root), $"problem names no deploy-file field: {problem.Field}");
                Assert.False(string.IsNullOrWhiteSpace(problem.Message), problem.Field);
                Assert.True(problem.ToString().Length <= ProblemCharsMax, $"{problem.ToString().Length}-character problem: {OperatorSpecValidator.Echo(problem.ToString())}");
                Assert.DoesNotContain(problem.ToString(), c => char.IsControl(c) && c != '\n');
            }
            var described = OperatorSpecValidator.Describe(spec, problems);
            Assert.True(described.Length <= ProblemCharsMax * (problems.Count + 1), $"{described.Length} characters for {problems.Count} problems");
        }, "Validate(hostile)");
        Assert.Equal(InputsPerProperty, tried);
    }

    [Fact]
    public void A_spec_the_validator_accepts_is_accepted_and_unchanged_after_the_stores_protobuf_round_trip()
    {
        var (_, accepted) = Run(Specs(hostileWeight: 1), (spec, problems) =>
        {
            if (problems.Count > 0)
            {
                return;
            }
            var loaded = OperatorSpec.Parser.ParseFrom(spec.ToByteArray());
            Assert.Empty(OperatorSpecValidator.Validate(loaded));
            Assert.Equal(spec, loaded);
        }, "Validate(round trip)");
        // The property says nothing unless some inputs pass: the mostly-valid generator makes many.
        Assert.True(accepted >= InputsPerProperty / 10, $"only {accepted} of {InputsPerProperty} specs were valid");
    }

    [Fact]
    public void Valid_specs_are_accepted() =>
        Run(Specs(hostileWeight: 0), (spec, problems) => Assert.Empty(problems), "Validate(valid)");
}

/// <summary>The bugs the fuzzing above found or guards against, each pinned by one example.</summary>
public sealed class OperatorSpecValidatorHostileInputTests
{
    [Fact]
    public void Text_a_launch_or_the_store_would_change_is_refused_where_it_is()
    {
        var spec = new OperatorSpec { Name = "c", Executable = "/bin/op\0", Instances = 1, Args = { "ok", "\ud800" }, Environment = { ["A"] = "x\0" }, Files = { "/a\udc00" } };

        var problems = OperatorSpecValidator.Validate(spec);

        Assert.Equal(["executable", "args[1]", "environment.A", "files[0]"], problems.Select(p => p.Field));
    }

    [Fact]
    public void Echo_quotes_at_most_the_bound_and_escapes_control_characters()
    {
        Assert.Equal("a\\u001bb\\u0000", OperatorSpecValidator.Echo("a\u001bb\0"));
        var echoed = OperatorSpecValidator.Echo(new string('n', 1_000_000));
        Assert.Equal(new string('n', ProtocolLimits.ProblemEchoCharsMax) + "…", echoed);
    }

    [Fact]
    public void A_huge_invalid_name_is_quoted_only_in_part()
    {
        var spec = new OperatorSpec { Name = new string('N', 25_000_000), Executable = "x", Instances = 1 };

        var problem = Assert.Single(OperatorSpecValidator.Validate(spec));

        Assert.Equal("name", problem.Field);
        Assert.True(problem.Message.Length < 500, $"{problem.Message.Length} characters");
        Assert.True(OperatorSpecValidator.Describe(spec, [problem]).Length < 1_000);
    }
}

using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Concord.Contracts.Types.V1;

namespace Concord.Contracts;

/// <summary>One problem with an operator spec: the field (deploy-file name) and what to do.</summary>
public sealed record SpecProblem(string Field, string Message)
{
    public override string ToString() => $"{Field}: {Message}";
}

/// <summary>
/// Checks an <see cref="OperatorSpec"/> the same way in the CLI, the client SDKs and the
/// scheduler, so an error reads the same wherever it is caught. Field names in messages are
/// the deploy file's (docs/deploy-file.md), since that is what the user edits.
/// </summary>
public static partial class OperatorSpecValidator
{
    /// <summary>Built-in operator kinds and the options each accepts.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlySet<string>> BuiltinOptions =
        new Dictionary<string, IReadOnlySet<string>>
        {
            ["generator"] = new HashSet<string> { "stream", "rate", "dictionary", "count", "seed", "stats" },
            ["csv-sink"] = new HashSet<string> { "path", "stats" },
            // docs/kafka.md; options starting with KafkaPassThroughPrefix are handed to librdkafka.
            ["kafka-source"] = new HashSet<string> { "topic", "bootstrap", "group", "start", "stream", "oversize", "rate" },
            ["kafka-sink"] = new HashSet<string> { "topic", "bootstrap", "acks", "linger_ms", "compression" },
            ["file-source"] = new HashSet<string> { "path", "stream", "format", "key_column", "rate", "stats" },
        };

    /// <summary>Options of the Kafka built-ins with this prefix go to librdkafka as they are (without the prefix).</summary>
    public const string KafkaPassThroughPrefix = "kafka.";

    /// <summary>Values a Kafka built-in option accepts, where it accepts a fixed set (checked here so deploy fails early).</summary>
    private static readonly IReadOnlyDictionary<string, string[]> KafkaOptionValues = new Dictionary<string, string[]>
    {
        ["start"] = ["earliest", "latest"],
        ["oversize"] = ["fail", "skip"],
        ["acks"] = ["all", "-1", "0", "1"],
        ["compression"] = ["none", "gzip", "snappy", "lz4", "zstd"],
    };

    [GeneratedRegex(ProtocolLimits.OperatorNamePattern)]
    private static partial Regex OperatorNamePattern();

    [GeneratedRegex(ProtocolLimits.StreamNamePattern)]
    private static partial Regex StreamNamePattern();

    [GeneratedRegex(ProtocolLimits.ImageReferencePattern, RegexOptions.CultureInvariant)]
    private static partial Regex ImageReferencePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvironmentNamePattern();

    public static bool IsValidOperatorName(string name) => OperatorNamePattern().IsMatch(name);

    /// <summary>
    /// CONCORD_ variables a deploy file may set in "environment": per-operator Concord settings
    /// the executor reads from the spec (CONCORD_TRACE_SAMPLE_EVERY: trace one record in N at a
    /// source, docs/observability.md; CONCORD_BATCH_TIMEOUT_MS: how long the operator may take to
    /// answer a batch, docs/data-plane.md). Every other CONCORD_ name is reserved.
    /// </summary>
    public static readonly IReadOnlySet<string> OperatorSettableVariables = new HashSet<string>(StringComparer.Ordinal) { "CONCORD_TRACE_SAMPLE_EVERY", "CONCORD_BATCH_TIMEOUT_MS" };

    public static bool IsValidStreamName(string name) => StreamNamePattern().IsMatch(name);

    /// <summary>
    /// <paramref name="value"/> as quoted in a problem: at most <see cref="ProtocolLimits.ProblemEchoCharsMax"/>
    /// characters (then "…"), control characters written as \uXXXX. Specs come from untrusted
    /// requests and their problems reach logs and terminals: a huge value must not come back
    /// whole, and an escape sequence must not reach a terminal.
    /// </summary>
    public static string Echo(string value)
    {
        var text = new StringBuilder(Math.Min(value.Length, ProtocolLimits.ProblemEchoCharsMax) + 8);
        for (var i = 0; i < value.Length; i++)
        {
            if (i == ProtocolLimits.ProblemEchoCharsMax)
            {
                text.Append('…');
                break;
            }
            var c = value[i];
            if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029')
            {
                text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                text.Append(c);
            }
        }
        return text.ToString();
    }

    /// <summary>Every problem with <paramref name="spec"/>; empty when it is valid.</summary>
    public static IReadOnlyList<SpecProblem> Validate(OperatorSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var problems = new List<SpecProblem>();

        if (string.IsNullOrEmpty(spec.Name))
        {
            problems.Add(new("name", "is required; give the operator a name such as \"counter\""));
        }
        else if (!IsValidOperatorName(spec.Name))
        {
            problems.Add(new("name", $"'{Echo(spec.Name)}' is not a valid operator name; use 1-{ProtocolLimits.OperatorNameCharsMax} lower-case letters, digits and '-', starting with a letter or digit"));
        }

        var isBuiltin = spec.Builtin is not null;
        if (isBuiltin && !string.IsNullOrEmpty(spec.Executable))
        {
            problems.Add(new("executable", "must be empty for a built-in operator; remove \"executable\" or \"builtin\""));
        }
        if (!isBuiltin && string.IsNullOrEmpty(spec.Executable))
        {
            problems.Add(new("executable", "is required; name the program that runs the operator (an absolute path, a path relative to the deploy file, or a command on PATH)"));
        }
        if (TextProblem(spec.Executable) is { } executableProblem)
        {
            problems.Add(new("executable", executableProblem));
        }
        if (isBuiltin)
        {
            ValidateBuiltin(spec.Builtin!, problems);
            ValidateBuiltinStreams(spec, problems);
        }

        if (spec.Instances < 1 || spec.Instances > ProtocolLimits.InstancesMax)
        {
            problems.Add(new("instances", $"{spec.Instances} is out of range; use 1..{ProtocolLimits.InstancesMax}"));
        }
        if (double.IsNaN(spec.Cpus) || spec.Cpus < 0 || spec.Cpus > ProtocolLimits.CpusMax)
        {
            problems.Add(new("cpus", $"{spec.Cpus} is out of range; use a number of cores greater than 0 and at most {ProtocolLimits.CpusMax} (fractions allowed)"));
        }
        if (spec.MemMb < 0 || spec.MemMb > ProtocolLimits.MemMbMax)
        {
            problems.Add(new("mem", $"{spec.MemMb} is out of range; use 1..{ProtocolLimits.MemMbMax} (megabytes per instance)"));
        }
        if (spec.UnavailableReaderDropAfterMs < 0 || spec.UnavailableReaderDropAfterMs > ProtocolLimits.UnavailableReaderDropAfterMsMax)
        {
            problems.Add(new("unavailable_reader_drop_after_ms",
                $"{spec.UnavailableReaderDropAfterMs} is out of range; use 1..{ProtocolLimits.UnavailableReaderDropAfterMsMax} (ms), or leave it out for the default"));
        }
        if (spec.WatermarkOutOfOrdernessMs < 0 || spec.WatermarkOutOfOrdernessMs > ProtocolLimits.WatermarkOutOfOrdernessMsMax)
        {
            problems.Add(new("watermark_out_of_orderness_ms",
                $"{spec.WatermarkOutOfOrdernessMs} is out of range; use 0..{ProtocolLimits.WatermarkOutOfOrdernessMsMax} (ms), or leave it out for the default (0)"));
        }
        if (spec.Args.Count > ProtocolLimits.ListEntriesMax)
        {
            problems.Add(new("args", $"has {spec.Args.Count} entries; at most {ProtocolLimits.ListEntriesMax} are allowed"));
        }
        if (spec.Environment.Count > ProtocolLimits.ListEntriesMax)
        {
            problems.Add(new("environment", $"has {spec.Environment.Count} entries; at most {ProtocolLimits.ListEntriesMax} are allowed"));
        }
        for (var i = 0; i < spec.Args.Count; i++)
        {
            if (TextProblem(spec.Args[i]) is { } argProblem)
            {
                problems.Add(new($"args[{i}]", argProblem));
            }
        }
        foreach (var (name, value) in spec.Environment)
        {
            if (TextProblem(value) is { } valueProblem)
            {
                problems.Add(new($"environment.{Echo(name)}", valueProblem));
            }
            if (!EnvironmentNamePattern().IsMatch(name))
            {
                problems.Add(new($"environment.{Echo(name)}", "is not a valid variable name; use letters, digits and '_', not starting with a digit"));
            }
            else if (name.StartsWith("CONCORD_", StringComparison.Ordinal) && !OperatorSettableVariables.Contains(name))
            {
                problems.Add(new($"environment.{Echo(name)}", "names starting with CONCORD_ are reserved for Concord; rename the variable"));
            }
        }
        if (spec.Files.Count > ProtocolLimits.ListEntriesMax)
        {
            problems.Add(new("files", $"has {spec.Files.Count} entries; at most {ProtocolLimits.ListEntriesMax} are allowed"));
        }
        for (var i = 0; i < spec.Files.Count; i++)
        {
            if (TextProblem(spec.Files[i]) is { } fileProblem)
            {
                problems.Add(new($"files[{i}]", fileProblem));
            }
            else if (!Path.IsPathFullyQualified(spec.Files[i]))
            {
                problems.Add(new($"files[{i}]", $"'{Echo(spec.Files[i])}' must be an absolute path once resolved; the CLI resolves paths relative to the deploy file"));
            }
        }

        var seenInputs = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.ExpectedInputs.Count; i++)
        {
            var input = spec.ExpectedInputs[i];
            if (!IsValidStreamName(input.Name))
            {
                problems.Add(new($"inputs[{i}].stream", $"'{Echo(input.Name)}' is not a valid stream name; use {ProtocolLimits.StreamNameRule}"));
            }
            else if (!seenInputs.Add(input.Name))
            {
                problems.Add(new($"inputs[{i}].stream", $"'{Echo(input.Name)}' is listed twice; list each input stream once"));
            }
            if (!Enum.IsDefined(input.Grouping))
            {
                problems.Add(new($"inputs[{i}].grouping", $"{(int)input.Grouping} is not a grouping; use shuffle, group_by or broadcast"));
            }
        }
        var seenOutputs = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < spec.ExpectedOutputs.Count; i++)
        {
            var output = spec.ExpectedOutputs[i];
            if (!IsValidStreamName(output))
            {
                problems.Add(new($"outputs[{i}]", $"'{Echo(output)}' is not a valid stream name; use {ProtocolLimits.StreamNameRule}"));
            }
            else if (!seenOutputs.Add(output))
            {
                problems.Add(new($"outputs[{i}]", $"'{Echo(output)}' is listed twice; list each output stream once"));
            }
        }
        if (!Enum.IsDefined(spec.Delivery))
        {
            problems.Add(new("delivery", $"{(int)spec.Delivery} is not a delivery guarantee; use {string.Join(", ", DeliveryNames.Keys)}"));
        }
        if (spec.Image.Length > 0)
        {
            if (isBuiltin)
            {
                problems.Add(new("image", "must be empty for a built-in operator, which runs inside the executor's image; remove \"image\" or \"builtin\""));
            }
            else if (ImageProblem(spec.Image) is { } imageProblem)
            {
                problems.Add(new("image", imageProblem));
            }
        }
        return problems;
    }

    /// <summary>
    /// Null when <paramref name="image"/> is a container image reference
    /// (<see cref="ProtocolLimits.ImageReferencePattern"/>), else what is wrong and the fix.
    /// </summary>
    public static string? ImageProblem(string image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (string.IsNullOrWhiteSpace(image))
        {
            return "the image is empty; give an image reference such as registry.example.com/team/counter:1.0";
        }
        if (image.Length > ProtocolLimits.ImageCharsMax || !ImageReferencePattern().IsMatch(image))
        {
            return $"'{Echo(image)}' is not an image reference name[:tag][@sha256:digest] of at most {ProtocolLimits.ImageCharsMax} characters " +
                   "(such as registry.example.com/team/counter:1.0 or registry.example.com/team/counter@sha256:<64 hex digits>); fix it";
        }
        return null;
    }

    /// <summary>Delivery names of the deploy file's "delivery" field (docs/guarantees.md), weakest first.</summary>
    public static readonly IReadOnlyDictionary<string, DeliveryGuarantee> DeliveryNames = new Dictionary<string, DeliveryGuarantee>(StringComparer.Ordinal)
    {
        ["at_most_once"] = DeliveryGuarantee.DeliveryAtMostOnce,
        ["at_least_once"] = DeliveryGuarantee.DeliveryAtLeastOnce,
        ["exactly_once"] = DeliveryGuarantee.DeliveryExactlyOnce,
    };

    /// <summary>The deploy-file name of <paramref name="delivery"/> (unspecified is at_most_once, the default).</summary>
    public static string DeliveryName(DeliveryGuarantee delivery) => delivery switch
    {
        DeliveryGuarantee.DeliveryAtLeastOnce => "at_least_once",
        DeliveryGuarantee.DeliveryExactlyOnce => "exactly_once",
        _ => "at_most_once",
    };

    /// <summary>Whether the operator takes part in checkpoints: at_least_once or exactly_once.</summary>
    public static bool HasGuarantee(DeliveryGuarantee delivery) =>
        delivery is DeliveryGuarantee.DeliveryAtLeastOnce or DeliveryGuarantee.DeliveryExactlyOnce;

    /// <summary>
    /// Why free text (executable, args, environment values, files, built-in options) is refused,
    /// or null. A NUL: the operating system takes these as C strings, so the launch would fail
    /// (or run a truncated path) after the spec was stored. Half a surrogate pair: no character,
    /// protobuf stores U+FFFD instead, so the spec the store reloads is not the one validated.
    /// </summary>
    private static string? TextProblem(string text)
    {
        if (text.Contains('\0', StringComparison.Ordinal))
        {
            return "contains a NUL character (\\u0000), which a program path, argument, variable or option cannot hold; remove it";
        }
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                return $"contains half of a surrogate pair (\\u{(int)text[i]:x4} at character {i}), which is no character and would be stored as U+FFFD; remove it or write the whole character";
            }
        }
        return null;
    }

    /// <summary>A message listing every problem, one per line, for CLI and gRPC errors.</summary>
    public static string Describe(OperatorSpec spec, IReadOnlyList<SpecProblem> problems)
    {
        var who = string.IsNullOrEmpty(spec.Name) ? "operator spec" : $"operator '{Echo(spec.Name)}'";
        return $"invalid {who}:" + string.Concat(problems.Select(p => "\n  " + p));
    }

    private static void ValidateBuiltin(BuiltinOperator builtin, List<SpecProblem> problems)
    {
        if (!BuiltinOptions.TryGetValue(builtin.Kind, out var allowed))
        {
            problems.Add(new("builtin.kind", $"'{Echo(builtin.Kind)}' is not a built-in operator; use one of: {string.Join(", ", BuiltinOptions.Keys)}"));
            return;
        }
        var isKafka = builtin.Kind.StartsWith("kafka-", StringComparison.Ordinal);
        foreach (var (option, value) in builtin.Options)
        {
            if ((TextProblem(option) ?? TextProblem(value)) is { } textProblem)
            {
                problems.Add(new($"builtin.options.{Echo(option)}", textProblem));
                continue;
            }
            if (isKafka && option.StartsWith(KafkaPassThroughPrefix, StringComparison.Ordinal))
            {
                if (option.Length == KafkaPassThroughPrefix.Length)
                {
                    problems.Add(new($"builtin.options.{Echo(option)}", "names no librdkafka property; write it as \"kafka.<property>\", e.g. \"kafka.fetch.max.bytes\""));
                }
                continue;
            }
            if (!allowed.Contains(option))
            {
                var passThrough = isKafka ? $", or \"{KafkaPassThroughPrefix}<librdkafka property>\"" : "";
                problems.Add(new($"builtin.options.{Echo(option)}", $"is not an option of '{builtin.Kind}'; use one of: {string.Join(", ", allowed)}{passThrough}"));
            }
            else if (isKafka)
            {
                ValidateKafkaOption(option, value, problems);
            }
        }
        if (isKafka && (!builtin.Options.TryGetValue("topic", out var topic) || topic.Length == 0))
        {
            problems.Add(new("builtin.options.topic", $"is required for '{builtin.Kind}'; name the Kafka topic, e.g. \"topic\": \"words\""));
        }
    }

    /// <summary>The stream a built-in source produces to, or null for a sink or an unknown kind.</summary>
    public static string? BuiltinOutputStream(BuiltinOperator builtin)
    {
        string? Option(string name) => builtin.Options.TryGetValue(name, out var value) && value.Length > 0 ? value : null;
        return builtin.Kind switch
        {
            "generator" => Option("stream") ?? GeneratorStreamDefault,
            "file-source" => Option("stream") ?? FileSourceStreamDefault,
            "kafka-source" => Option("stream") ?? Option("topic"),
            _ => null,
        };
    }

    /// <summary>The generator's stream when option "stream" is not given (the executor's default too).</summary>
    public const string GeneratorStreamDefault = "words";

    /// <summary>The file-source's stream when option "stream" is not given (the executor's default too).</summary>
    public const string FileSourceStreamDefault = "lines";

    /// <summary>
    /// What the executor would refuse when the instance starts, checked at deploy instead with the
    /// deploy file's names: required and numeric options, and the streams a built-in reads and
    /// produces (a source reads none and produces exactly its stream; a sink produces none and
    /// reads what "inputs" lists). The executor keeps its own checks for specs sent without this.
    /// </summary>
    private static void ValidateBuiltinStreams(OperatorSpec spec, List<SpecProblem> problems)
    {
        var builtin = spec.Builtin;
        if (!BuiltinOptions.ContainsKey(builtin.Kind))
        {
            return;
        }
        string? Option(string name) => builtin.Options.TryGetValue(name, out var value) && value.Length > 0 ? value : null;
        switch (builtin.Kind)
        {
            case "generator":
                if (Option("dictionary") is null)
                {
                    problems.Add(new("builtin.options.dictionary", "is required for 'generator'; give a word list, one word per line, e.g. \"dictionary\": \"words.txt\" (relative to the deploy file)"));
                }
                if (Option("count") is { } count
                    && (!long.TryParse(count, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var records) || records < 0))
                {
                    problems.Add(new("builtin.options.count", $"'{Echo(count)}' is not a whole number of records ≥ 0; use e.g. 10000 (0 = never stop)"));
                }
                if (Option("seed") is { } seed
                    && !long.TryParse(seed, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out _))
                {
                    problems.Add(new("builtin.options.seed", $"'{Echo(seed)}' is not a whole number; use e.g. 42 (the words are a function of seed, instance and position)"));
                }
                if (Option("stream") is { } stream && !IsValidStreamName(stream))
                {
                    problems.Add(new("builtin.options.stream", $"'{Echo(stream)}' is not a valid stream name; use {ProtocolLimits.StreamNameRule}"));
                }
                break;
            case "file-source":
                if (Option("path") is null)
                {
                    problems.Add(new("builtin.options.path", "is required for 'file-source'; name the file, or directory of files, to read, e.g. \"path\": \"words.txt\" (relative to the deploy file)"));
                }
                if (Option("format") is { } format && format is not ("lines" or "csv"))
                {
                    problems.Add(new("builtin.options.format", $"'{Echo(format)}' is not a format; use \"lines\" (default) or \"csv\""));
                }
                if (Option("key_column") is { } keyColumn)
                {
                    if (!int.TryParse(keyColumn, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
                    {
                        problems.Add(new("builtin.options.key_column", $"'{Echo(keyColumn)}' is not a 0-based column number; use e.g. 0"));
                    }
                    if (Option("format") != "csv")
                    {
                        problems.Add(new("builtin.options.key_column", "needs \"format\": \"csv\"; add it, or remove key_column to key records by the whole line"));
                    }
                }
                if (Option("stream") is { } fileStream && !IsValidStreamName(fileStream))
                {
                    problems.Add(new("builtin.options.stream", $"'{Echo(fileStream)}' is not a valid stream name; use {ProtocolLimits.StreamNameRule}"));
                }
                break;
            case "csv-sink":
                if (Option("path") is null)
                {
                    problems.Add(new("builtin.options.path", "is required for 'csv-sink'; name the file to append key,value lines to, e.g. \"path\": \"counts.csv\""));
                }
                break;
            case "kafka-source":
                if (Option("stream") is null && Option("topic") is { } topic && IsValidKafkaTopic(topic) && !IsValidStreamName(topic))
                {
                    problems.Add(new("builtin.options.stream", $"is needed: the topic '{Echo(topic)}' is not a valid stream name, so it cannot be the default; set \"stream\" to {ProtocolLimits.StreamNameRule}"));
                }
                break;
        }
        if (builtin.Kind is "generator" or "file-source" or "kafka-source")
        {
            if (Option("rate") is { } rate
                && (!double.TryParse(rate, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var perSecond)
                    || !double.IsFinite(perSecond) || perSecond < 0))
            {
                problems.Add(new("builtin.options.rate", $"'{Echo(rate)}' is not a number of records per second ≥ 0; use e.g. 1000 (0 = as fast as credit allows)"));
            }
            if (spec.ExpectedInputs.Count > 0)
            {
                problems.Add(new("inputs", $"'{builtin.Kind}' is a source and reads no streams; remove \"inputs\""));
            }
            if (BuiltinOutputStream(builtin) is { } produces && spec.ExpectedOutputs.Count > 0 && IsValidStreamName(produces)
                && (spec.ExpectedOutputs.Count != 1 || spec.ExpectedOutputs[0] != produces))
            {
                problems.Add(new("outputs", $"'{builtin.Kind}' produces only stream '{Echo(produces)}' (builtin.options.stream) but \"outputs\" lists [{Echo(string.Join(", ", spec.ExpectedOutputs))}]; " +
                    $"set \"outputs\": [\"{Echo(produces)}\"], or change builtin.options.stream"));
            }
        }
        else
        {
            if (spec.ExpectedInputs.Count == 0)
            {
                problems.Add(new("inputs", $"'{builtin.Kind}' writes the streams listed in \"inputs\", and none are listed; add them, e.g. \"inputs\": [\"counts\"]"));
            }
            if (spec.ExpectedOutputs.Count > 0)
            {
                problems.Add(new("outputs", $"'{builtin.Kind}' is a sink and produces no streams; remove \"outputs\""));
            }
        }
    }

    private static void ValidateKafkaOption(string option, string value, List<SpecProblem> problems)
    {
        if (KafkaOptionValues.TryGetValue(option, out var values) && !values.Contains(value, StringComparer.Ordinal))
        {
            problems.Add(new($"builtin.options.{option}", $"'{Echo(value)}' is not accepted; use one of: {string.Join(", ", values)}"));
        }
        else if (option == "linger_ms" && (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var linger) || linger > ProtocolLimits.KafkaLingerMsMax))
        {
            problems.Add(new($"builtin.options.{option}", $"'{Echo(value)}' is not a whole number of milliseconds in 0..{ProtocolLimits.KafkaLingerMsMax}"));
        }
        else if (option == "topic" && !KafkaTopicPattern().IsMatch(value))
        {
            problems.Add(new($"builtin.options.{option}", $"'{Echo(value)}' is not a valid Kafka topic name; use 1-{ProtocolLimits.KafkaTopicCharsMax} of A-Z a-z 0-9 . _ -"));
        }
        else if (option == "stream" && !IsValidStreamName(value))
        {
            problems.Add(new($"builtin.options.{option}", $"'{Echo(value)}' is not a valid stream name; use {ProtocolLimits.StreamNameRule}"));
        }
        else if (option == "bootstrap" && value.Length == 0)
        {
            problems.Add(new($"builtin.options.{option}", "is empty; give host:port[,host:port…], or \"dev\" for the development Kafka (docs/kafka.md)"));
        }
    }

    // The bound is ProtocolLimits.KafkaTopicCharsMax, written out because the attribute needs a
    // constant string (Contracts tests check they agree).
    [GeneratedRegex("^[A-Za-z0-9._-]{1,249}$")]
    private static partial Regex KafkaTopicPattern();

    /// <summary>Whether <paramref name="topic"/> is a name Kafka accepts for a topic.</summary>
    public static bool IsValidKafkaTopic(string topic) => KafkaTopicPattern().IsMatch(topic);
}

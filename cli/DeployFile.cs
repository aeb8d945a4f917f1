using System.Globalization;
using System.Text.Json;
using Concord.Contracts;
using Concord.Contracts.Types.V1;

namespace Concord.Cli;

/// <summary>A deploy file that cannot be turned into a valid spec; lists every problem found.</summary>
public sealed class DeployFileException : Exception
{
    public DeployFileException(string path, IReadOnlyList<SpecProblem> problems)
        : base(Format(path, problems))
    {
        Path = path;
        Problems = problems;
    }

    /// <summary>The deploy file as given by the user.</summary>
    public string Path { get; }

    /// <summary>Every problem, each naming the field (deploy-file name) and the fix.</summary>
    public IReadOnlyList<SpecProblem> Problems { get; }

    private static string Format(string path, IReadOnlyList<SpecProblem> problems) =>
        problems.Count == 1
            ? $"{path}: {problems[0]}"
            : $"{path}: {problems.Count} problems:" + string.Concat(problems.Select(p => "\n  " + p));
}

/// <summary>
/// Reads a deploy file (docs/deploy-file.md) into an <see cref="OperatorSpec"/>. Parsed by hand
/// from a <see cref="JsonDocument"/> rather than bound to a class so that every mistake — an
/// unknown or misspelt field, a wrong type, a missing file — is reported with the field's name
/// and the fix, and all of them at once instead of one per attempt.
/// </summary>
public static class DeployFile
{
    /// <summary>Grouping names accepted in <c>inputs[].grouping</c>.</summary>
    public static readonly IReadOnlyDictionary<string, Grouping> Groupings = new Dictionary<string, Grouping>(StringComparer.Ordinal)
    {
        ["shuffle"] = Grouping.Shuffle,
        ["group_by"] = Grouping.GroupBy,
        ["broadcast"] = Grouping.Broadcast,
    };

    /// <summary>Top-level fields, in the order the docs list them.</summary>
    public static readonly IReadOnlyList<string> Fields =
        ["name", "executable", "args", "instances", "cpus", "mem", "environment", "files", "inputs", "outputs", "builtin", "allow_cycles", "delivery", "unavailable_reader_drop_after_ms", "watermark_out_of_orderness_ms", "image"];

    private static readonly IReadOnlyList<string> InputFields = ["stream", "grouping"];
    private static readonly IReadOnlyList<string> BuiltinFields = ["kind", "options"];

    private static readonly JsonDocumentOptions JsonOptions = new()
    {
        // Deploy files are written by hand: tolerate comments and a trailing comma.
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>
    /// Reads and validates the deploy file at <paramref name="path"/>. Relative paths in it are
    /// resolved against the file's directory.
    /// </summary>
    /// <exception cref="DeployFileException">The file is missing, not JSON, or describes an invalid spec.</exception>
    public static OperatorSpec Parse(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var fullPath = System.IO.Path.GetFullPath(path);
        if (!File.Exists(fullPath))
        {
            var what = Directory.Exists(fullPath) ? "is a directory" : "does not exist";
            throw new DeployFileException(path, [new("file", $"'{OperatorSpecValidator.Echo(fullPath)}' {what}; give the path of a deploy file (.json)")]);
        }
        if (new FileInfo(fullPath).Length > CliLimits.DeployFileBytesMax)
        {
            throw new DeployFileException(path, [new("file", $"is larger than {CliLimits.DeployFileBytesMax} bytes; a deploy file describes one operator and is a few hundred bytes")]);
        }
        var text = DecodeUtf8(path, File.ReadAllBytes(fullPath));
        var directory = System.IO.Path.GetDirectoryName(fullPath)!;
        return ParseText(text, directory, path);
    }

    /// <summary>
    /// Parses deploy-file JSON as if read from a file in <paramref name="directory"/>.
    /// <paramref name="displayName"/> prefixes error messages.
    /// </summary>
    public static OperatorSpec ParseText(string json, string directory, string displayName = "deploy file")
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, JsonOptions);
        }
        catch (JsonException e)
        {
            var line = (e.LineNumber ?? 0) + 1;
            var column = (e.BytePositionInLine ?? 0) + 1;
            // The parser's message quotes the offending character as it is (a newline, an escape): echo it escaped.
            throw new DeployFileException(displayName, [new("json", $"invalid JSON at line {line}, column {column}: {OperatorSpecValidator.Echo(FirstSentence(e.Message))}; fix the syntax (strings in double quotes, commas between fields)")]);
        }
        using (document)
        {
            var reader = new Reader(directory);
            OperatorSpec spec;
            try
            {
                spec = reader.Read(document.RootElement);
            }
            catch (InvalidOperationException e) when (e.Message.Contains("UTF-16", StringComparison.Ordinal))
            {
                // Valid JSON, yet a string or name escapes half a surrogate pair ("\ud800"), which
                // is no character: GetString refuses it, and protobuf would store U+FFFD instead.
                throw new DeployFileException(displayName, [new("json",
                    "a string escapes half of a surrogate pair (such as \"\\ud800\" without its low half), which is no character; escape whole characters (\"\\ud83d\\ude00\") or write them as UTF-8")]);
            }
            var problems = reader.Problems;
            // The shared validator checks names, ranges and the executable/builtin rule; skip its
            // problems for fields already reported here so each mistake is named once. A field is
            // the same field by its full name (environment.PORT is not environment.CONCORD_X), but
            // an array whose entry was dropped here has shifted indexes, so there the whole array counts.
            var reported = problems.Select(p => p.Field).ToHashSet(StringComparer.Ordinal);
            var shiftedArrays = problems.Where(p => p.Field.Contains('[', StringComparison.Ordinal)).Select(p => RootField(p.Field)).ToHashSet(StringComparer.Ordinal);
            if (!reported.Contains("json"))
            {
                problems.AddRange(OperatorSpecValidator.Validate(spec).Where(p =>
                    !reported.Contains(p.Field)
                    && !reported.Contains(RootField(p.Field)) // the whole field had the wrong type
                    && !(p.Field.Contains('[', StringComparison.Ordinal) && shiftedArrays.Contains(RootField(p.Field)))));
            }
            if (problems.Count > 0)
            {
                throw new DeployFileException(displayName, problems);
            }
            return spec;
        }
    }

    /// <summary>
    /// The file's text, refusing bytes that are not UTF-8: decoding them would put U+FFFD into
    /// names and arguments, and the operator would run with text nobody wrote.
    /// </summary>
    private static string DecodeUtf8(string displayName, byte[] bytes)
    {
        ReadOnlySpan<byte> content = bytes;
        if (content.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            content = content[3..]; // A UTF-8 byte order mark, as some editors write.
        }
        var chars = new char[content.Length];
        var status = System.Text.Unicode.Utf8.ToUtf16(content, chars, out var bytesRead, out var charsWritten, replaceInvalidSequences: false);
        if (status == System.Buffers.OperationStatus.Done)
        {
            return new string(chars, 0, charsWritten);
        }
        var offset = bytesRead + (bytes.Length - content.Length);
        var before = bytes.AsSpan(0, offset);
        var line = before.Count((byte)'\n') + 1;
        var column = offset - (before.LastIndexOf((byte)'\n') + 1) + 1;
        throw new DeployFileException(displayName, [new("encoding",
            $"byte 0x{bytes[offset]:X2} at byte offset {offset} (line {line}, column {column}) is not valid UTF-8; save the deploy file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")]);
    }

    /// <summary>The known name closest to <paramref name="unknown"/>, or null if none is close.</summary>
    public static string? ClosestName(string unknown, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = EditDistance(unknown.ToLowerInvariant(), candidate);
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        // Close enough to be a typo: a third of the name, at least 2 edits for short names.
        var allowed = Math.Max(2, unknown.Length / 3);
        return bestDistance <= allowed ? best : null;
    }

    private static string RootField(string field)
    {
        var end = field.IndexOfAny(['.', '[']);
        return end < 0 ? field : field[..end];
    }

    private static string FirstSentence(string message)
    {
        // JsonException messages end with "LineNumber: 2 | BytePositionInLine: 4." which we
        // already report in words.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut < 0)
        {
            cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        }
        return (cut < 0 ? message : message[..cut]).TrimEnd('.', ' ');
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    /// <summary>One pass over the document, collecting problems instead of stopping at the first.</summary>
    private sealed class Reader(string directory)
    {
        public List<SpecProblem> Problems { get; } = [];

        public OperatorSpec Read(JsonElement root)
        {
            var spec = new OperatorSpec { Instances = 1, Cpus = 1, MemMb = 512, SourceDirectory = directory };
            if (root.ValueKind != JsonValueKind.Object)
            {
                Problems.Add(new("json", $"the deploy file must be a JSON object such as {{\"name\": \"counter\", \"executable\": \"./counter\"}}, not {Describe(root.ValueKind)}"));
                return spec;
            }
            foreach (var property in UniqueProperties(root, "", Fields))
            {
                var value = property.Value;
                switch (property.Name)
                {
                    case "name":
                        spec.Name = String("name", value) ?? "";
                        break;
                    case "executable":
                        var executable = String("executable", value);
                        if (executable is not null)
                        {
                            spec.Executable = ResolveExecutable(executable);
                        }
                        break;
                    case "args":
                        spec.Args.AddRange(StringArray("args", value, "[\"--verbose\", \"input.txt\"]"));
                        break;
                    case "instances":
                        if (Integer("instances", value, "4", 1, ProtocolLimits.InstancesMax) is { } instances)
                        {
                            spec.Instances = instances;
                        }
                        break;
                    case "cpus":
                        ReadCpus(spec, value);
                        break;
                    case "mem":
                        if (Integer("mem", value, "1024", 1, ProtocolLimits.MemMbMax) is { } mem)
                        {
                            if (mem <= 0)
                            {
                                Problems.Add(new("mem", $"{mem} is out of range; use 1..{ProtocolLimits.MemMbMax}: the memory per instance in MB, greater than 0 (default 512)"));
                            }
                            else
                            {
                                spec.MemMb = mem;
                            }
                        }
                        break;
                    case "environment":
                        ReadEnvironment(spec, value);
                        break;
                    case "files":
                        ReadFiles(spec, value);
                        break;
                    case "inputs":
                        ReadInputs(spec, value);
                        break;
                    case "outputs":
                        spec.ExpectedOutputs.AddRange(StringArray("outputs", value, "[\"words\"]"));
                        break;
                    case "builtin":
                        spec.Builtin = ReadBuiltin(value);
                        break;
                    case "unavailable_reader_drop_after_ms":
                        if (Integer("unavailable_reader_drop_after_ms", value, "3000", 1, ProtocolLimits.UnavailableReaderDropAfterMsMax) is { } dropAfter)
                        {
                            if (dropAfter < 1 || dropAfter > ProtocolLimits.UnavailableReaderDropAfterMsMax)
                            {
                                Problems.Add(new("unavailable_reader_drop_after_ms",
                                    $"{dropAfter} is out of range; use 1..{ProtocolLimits.UnavailableReaderDropAfterMsMax}: how long, in ms, records for a reader instance that is down wait before they are dropped (at_most_once)"));
                            }
                            else
                            {
                                spec.UnavailableReaderDropAfterMs = dropAfter;
                            }
                        }
                        break;
                    case "watermark_out_of_orderness_ms":
                        if (Integer("watermark_out_of_orderness_ms", value, "5000", 0, ProtocolLimits.WatermarkOutOfOrdernessMsMax) is { } outOfOrderness)
                        {
                            if (outOfOrderness < 0 || outOfOrderness > ProtocolLimits.WatermarkOutOfOrdernessMsMax)
                            {
                                Problems.Add(new("watermark_out_of_orderness_ms",
                                    $"{outOfOrderness} is out of range; use 0..{ProtocolLimits.WatermarkOutOfOrdernessMsMax}: how far, in ms, a source's event times may run out of order (its watermark trails the largest event time by this)"));
                            }
                            else
                            {
                                spec.WatermarkOutOfOrdernessMs = outOfOrderness;
                            }
                        }
                        break;
                    case "image":
                        // Checked by the shared validator (a reference, bounded); used by runtimes
                        // that run operators in images, ignored by the local one (docs/deploy-file.md).
                        if (String("image", value) is { } image)
                        {
                            if (image.Length == 0)
                            {
                                Problems.Add(new("image", "is empty; give an image reference such as \"registry.example.com/team/counter:1.0\", or remove \"image\""));
                            }
                            spec.Image = image;
                        }
                        break;
                    case "allow_cycles":
                        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                        {
                            spec.AllowCycles = value.GetBoolean();
                        }
                        else
                        {
                            Problems.Add(new("allow_cycles", $"expected true or false, got {Describe(value.ValueKind)}"));
                        }
                        break;
                    case "delivery":
                        if (String("delivery", value) is { } delivery)
                        {
                            if (OperatorSpecValidator.DeliveryNames.TryGetValue(delivery, out var guarantee))
                            {
                                spec.Delivery = guarantee;
                            }
                            else
                            {
                                var hint = ClosestName(delivery, OperatorSpecValidator.DeliveryNames.Keys) is { } close ? $"did you mean \"{close}\"? " : "";
                                Problems.Add(new("delivery", $"\"{OperatorSpecValidator.Echo(delivery)}\" is not a delivery guarantee; {hint}use one of: " +
                                    $"{string.Join(", ", OperatorSpecValidator.DeliveryNames.Keys)} (default at_most_once; see docs/guarantees.md)"));
                            }
                        }
                        break;
                }
            }
            return spec;
        }

        private string ResolveExecutable(string executable)
        {
            // A bare name ("python3") is looked up on PATH by the runtime; anything with a slash
            // is a path, relative to the deploy file so the file works from any cwd.
            if (!executable.Contains('/'))
            {
                return executable;
            }
            if (Resolve("executable", executable) is not { } resolved)
            {
                return executable;
            }
            if (!File.Exists(resolved))
            {
                Problems.Add(new("executable", $"'{OperatorSpecValidator.Echo(resolved)}' does not exist (relative paths are resolved against the deploy file's directory); build the operator first or fix the path"));
            }
            return resolved;
        }

        /// <summary>
        /// <paramref name="path"/> made absolute against the deploy file's directory, or null (a
        /// problem reported) when no path can hold it: Path.GetFullPath throws on a NUL character.
        /// </summary>
        private string? Resolve(string field, string path)
        {
            if (path.Contains('\0', StringComparison.Ordinal))
            {
                Problems.Add(new(field, "contains a NUL character (\\u0000), which no path can hold; remove it"));
                return null;
            }
            return System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, path));
        }

        private void ReadCpus(OperatorSpec spec, JsonElement value)
        {
            if (value.ValueKind == JsonValueKind.Number && (!value.TryGetDouble(out var parsed) || !double.IsFinite(parsed)))
            {
                Problems.Add(new("cpus", $"{OperatorSpecValidator.Echo(value.GetRawText())} is out of range; use a number of cores greater than 0 and at most {ProtocolLimits.CpusMax} (fractions allowed)"));
                return;
            }
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var cpus))
            {
                Problems.Add(new("cpus", $"expected a number of cores such as 0.5 or 2, got {Describe(value.ValueKind)}"));
                return;
            }
            if (cpus <= 0)
            {
                Problems.Add(new("cpus", $"{cpus.ToString(CultureInfo.InvariantCulture)} is out of range; give a number of cores greater than 0 such as 0.5 (default 1)"));
                return;
            }
            spec.Cpus = cpus;
        }

        private void ReadEnvironment(OperatorSpec spec, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Object)
            {
                Problems.Add(new("environment", $"expected an object of strings such as {{\"LOG_LEVEL\": \"debug\"}}, got {Describe(value.ValueKind)}"));
                return;
            }
            foreach (var variable in UniqueProperties(value, "environment.", allowed: null))
            {
                if (variable.Value.ValueKind == JsonValueKind.String)
                {
                    spec.Environment[variable.Name] = variable.Value.GetString()!;
                }
                else
                {
                    var quoted = variable.Value.ValueKind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False
                        ? $"; quote it: \"{OperatorSpecValidator.Echo(variable.Name)}\": \"{OperatorSpecValidator.Echo(variable.Value.GetRawText())}\""
                        : "";
                    Problems.Add(new($"environment.{OperatorSpecValidator.Echo(variable.Name)}", $"expected a string, got {Describe(variable.Value.ValueKind)}{quoted}"));
                }
            }
        }

        private void ReadFiles(OperatorSpec spec, JsonElement value)
        {
            var files = StringArray("files", value, "[\"model.bin\", \"data/words.txt\"]");
            for (var i = 0; i < files.Count; i++)
            {
                if (Resolve($"files[{i}]", files[i]) is not { } resolved)
                {
                    spec.Files.Add(files[i]);
                    continue;
                }
                if (!File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    Problems.Add(new($"files[{i}]", $"'{OperatorSpecValidator.Echo(resolved)}' does not exist (relative paths are resolved against the deploy file's directory); create it or fix the path"));
                }
                spec.Files.Add(resolved);
            }
        }

        private void ReadInputs(OperatorSpec spec, JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Array)
            {
                Problems.Add(new("inputs", $"expected an array such as [\"words\", {{\"stream\": \"counts\", \"grouping\": \"group_by\"}}], got {Describe(value.ValueKind)}"));
                return;
            }
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                var field = $"inputs[{i}]";
                if (item.ValueKind == JsonValueKind.String)
                {
                    spec.ExpectedInputs.Add(new InputStream { Name = item.GetString()!, Grouping = Grouping.Shuffle });
                }
                else if (item.ValueKind == JsonValueKind.Object)
                {
                    var input = new InputStream { Grouping = Grouping.Shuffle };
                    var hasStream = false;
                    foreach (var property in UniqueProperties(item, field + ".", InputFields))
                    {
                        if (property.Name == "stream")
                        {
                            input.Name = String(field + ".stream", property.Value) ?? "";
                            hasStream = true;
                        }
                        else if (String(field + ".grouping", property.Value) is { } grouping)
                        {
                            if (Groupings.TryGetValue(grouping, out var parsed))
                            {
                                input.Grouping = parsed;
                            }
                            else
                            {
                                var hint = ClosestName(grouping, Groupings.Keys) is { } close ? $"did you mean \"{close}\"? " : "";
                                Problems.Add(new(field + ".grouping", $"\"{OperatorSpecValidator.Echo(grouping)}\" is not a grouping; {hint}use one of: {string.Join(", ", Groupings.Keys)} (default shuffle)"));
                            }
                        }
                    }
                    if (!hasStream)
                    {
                        Problems.Add(new(field + ".stream", "is required; name the stream to read, e.g. {\"stream\": \"words\", \"grouping\": \"group_by\"}"));
                    }
                    else
                    {
                        spec.ExpectedInputs.Add(input);
                    }
                }
                else
                {
                    Problems.Add(new(field, $"expected a stream name or an object {{\"stream\": \"words\", \"grouping\": \"group_by\"}}, got {Describe(item.ValueKind)}"));
                }
                i++;
            }
        }

        private BuiltinOperator? ReadBuiltin(JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Object)
            {
                Problems.Add(new("builtin", $"expected an object such as {{\"kind\": \"generator\", \"options\": {{\"rate\": 1000}}}}, got {Describe(value.ValueKind)}"));
                return null;
            }
            var builtin = new BuiltinOperator();
            var hasKind = false;
            foreach (var property in UniqueProperties(value, "builtin.", BuiltinFields))
            {
                if (property.Name == "kind")
                {
                    builtin.Kind = String("builtin.kind", property.Value) ?? "";
                    hasKind = true;
                    continue;
                }
                if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    Problems.Add(new("builtin.options", $"expected an object of strings or numbers such as {{\"rate\": 1000}}, got {Describe(property.Value.ValueKind)}"));
                    continue;
                }
                foreach (var option in UniqueProperties(property.Value, "builtin.options.", allowed: null))
                {
                    switch (option.Value.ValueKind)
                    {
                        case JsonValueKind.String:
                            builtin.Options[option.Name] = option.Value.GetString()!;
                            break;
                        case JsonValueKind.Number:
                            // Kept as written ("1000", "2.5") so the executor parses what the user wrote.
                            builtin.Options[option.Name] = option.Value.GetRawText();
                            break;
                        default:
                            Problems.Add(new($"builtin.options.{OperatorSpecValidator.Echo(option.Name)}", $"expected a string or a number, got {Describe(option.Value.ValueKind)}"));
                            break;
                    }
                }
            }
            if (!hasKind)
            {
                var kinds = string.Join(", ", OperatorSpecValidator.BuiltinOptions.Keys);
                Problems.Add(new("builtin.kind", $"is required; use one of: {kinds}"));
            }
            if (builtin.Kind == "generator" && builtin.Options.TryGetValue("dictionary", out var dictionary) && dictionary.Length > 0)
            {
                // The executor reads it at start; a missing one would only show as a crash loop.
                if (Resolve("builtin.options.dictionary", dictionary) is { } resolved && !File.Exists(resolved))
                {
                    Problems.Add(new("builtin.options.dictionary", $"'{OperatorSpecValidator.Echo(resolved)}' does not exist (relative paths are resolved against the deploy file's directory); give a word list, one word per line"));
                }
            }
            if (builtin.Kind == "file-source" && builtin.Options.TryGetValue("path", out var sourcePath) && sourcePath.Length > 0)
            {
                // The executor reads it at start; a missing one would only show as a crash loop.
                if (Resolve("builtin.options.path", sourcePath) is { } resolved && !File.Exists(resolved) && !Directory.Exists(resolved))
                {
                    Problems.Add(new("builtin.options.path", $"'{OperatorSpecValidator.Echo(resolved)}' does not exist (relative paths are resolved against the deploy file's directory); give a file, or a directory of files, to read"));
                }
            }
            return builtin;
        }

        /// <summary>
        /// The properties of <paramref name="element"/>, rejecting duplicates and (when
        /// <paramref name="allowed"/> is given) unknown names with a suggestion.
        /// </summary>
        private IEnumerable<JsonProperty> UniqueProperties(JsonElement element, string prefix, IReadOnlyList<string>? allowed)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in element.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                {
                    Problems.Add(new(prefix + OperatorSpecValidator.Echo(property.Name), "appears twice; keep one"));
                    continue;
                }
                if (allowed is not null && !allowed.Contains(property.Name))
                {
                    var hint = ClosestName(property.Name, allowed) is { } close ? $"did you mean \"{close}\"? " : "";
                    Problems.Add(new(prefix + OperatorSpecValidator.Echo(property.Name), $"is not a known field; {hint}valid fields: {string.Join(", ", allowed)}"));
                    continue;
                }
                yield return property;
            }
        }

        private string? String(string field, JsonElement value)
        {
            if (value.ValueKind == JsonValueKind.String)
            {
                return value.GetString();
            }
            Problems.Add(new(field, $"expected a string, got {Describe(value.ValueKind)}{(value.ValueKind == JsonValueKind.Number ? $"; quote it: \"{OperatorSpecValidator.Echo(value.GetRawText())}\"" : "")}"));
            return null;
        }

        /// <summary>
        /// A whole number; one too large for the spec ("instances": 1e20) is out of range, not
        /// "not a whole number". In-range values of the type are left to the validator's range check.
        /// </summary>
        private int? Integer(string field, JsonElement value, string example, int min, int max)
        {
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var result))
            {
                return result;
            }
            if (value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number) && Math.Floor(number) == number)
            {
                Problems.Add(new(field, $"{OperatorSpecValidator.Echo(value.GetRawText())} is out of range; use {min}..{max}"));
                return null;
            }
            var got = value.ValueKind == JsonValueKind.Number ? $"{OperatorSpecValidator.Echo(value.GetRawText())}, which is not a whole number" : Describe(value.ValueKind);
            Problems.Add(new(field, $"expected a whole number such as {example}, got {got}"));
            return null;
        }

        private List<string> StringArray(string field, JsonElement value, string example)
        {
            var result = new List<string>();
            if (value.ValueKind != JsonValueKind.Array)
            {
                Problems.Add(new(field, $"expected an array of strings such as {example}, got {Describe(value.ValueKind)}"));
                return result;
            }
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                if (String($"{field}[{i}]", item) is { } text)
                {
                    result.Add(text);
                }
                i++;
            }
            return result;
        }
    }
}

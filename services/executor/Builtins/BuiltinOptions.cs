using System.Globalization;
using Concord.Contracts;
using Concord.Contracts.Types.V1;

namespace Concord.Executor.Builtins;

/// <summary>
/// Reads a built-in's string options, rejecting unknown ones with the list of known ones. The
/// known options are <see cref="OperatorSpecValidator.BuiltinOptions"/>, the one list the
/// CLI and the scheduler check deploy files against.
/// </summary>
internal sealed class BuiltinOptions
{
    private readonly BuiltinOperator _builtin;

    /// <param name="passThrough">
    /// Options with this prefix are accepted unread: the built-in hands them to this client
    /// library (the Kafka built-ins, <see cref="OperatorSpecValidator.KafkaPassThroughPrefix"/>
    /// to librdkafka); null: none.
    /// </param>
    public BuiltinOptions(BuiltinOperator builtin, (string Prefix, string Library)? passThrough = null)
    {
        _builtin = builtin;
        var known = KnownOptions(builtin.Kind);
        foreach (var key in builtin.Options.Keys)
        {
            if (!known.Contains(key, StringComparer.Ordinal)
                && (passThrough is not { } library || !key.StartsWith(library.Prefix, StringComparison.Ordinal)))
            {
                var orLibrary = passThrough is { } l ? $", or \"{l.Prefix}<{l.Library} property>\"" : "";
                throw new OperatorFailedException(
                    $"built-in '{builtin.Kind}' has no option '{key}'; its options are: {string.Join(", ", known)}{orLibrary}");
            }
        }
    }

    /// <summary>The options of built-in <paramref name="kind"/>, listed as the validator lists them.</summary>
    public static string[] KnownOptions(string kind) =>
        OperatorSpecValidator.BuiltinOptions.TryGetValue(kind, out var known)
            ? [.. known]
            : throw new OperatorFailedException($"'{kind}' is not a built-in operator; use one of: {string.Join(", ", OperatorSpecValidator.BuiltinOptions.Keys)}");

    public string? String(string name) => _builtin.Options.TryGetValue(name, out var value) && value.Length > 0 ? value : null;

    public string Required(string name, string why) => String(name) ?? throw new OperatorFailedException(
        $"built-in '{_builtin.Kind}' needs option '{name}': {why}");

    public double Double(string name, double defaultValue, double min) => ParseDouble(_builtin.Kind, name, String(name), defaultValue, min);

    /// <summary>Option <paramref name="name"/> of built-in <paramref name="kind"/> (<paramref name="text"/>, null when unset) as a finite number ≥ <paramref name="min"/>.</summary>
    public static double ParseDouble(string kind, string name, string? text, double defaultValue, double min)
    {
        if (text is null)
        {
            return defaultValue;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || !double.IsFinite(value))
        {
            throw new OperatorFailedException($"built-in '{kind}' option '{name}'='{text}' is not a number ≥ {min}");
        }
        return value;
    }

    public long Long(string name, long defaultValue, long min)
    {
        var text = String(name);
        if (text is null)
        {
            return defaultValue;
        }
        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
        {
            throw new OperatorFailedException($"built-in '{_builtin.Kind}' option '{name}'='{text}' is not an integer ≥ {min}");
        }
        return value;
    }

    /// <summary>A whole number in <paramref name="min"/>..<paramref name="max"/>, else a clear error naming the option.</summary>
    public int Int(string name, int defaultValue, int min, int max)
    {
        var text = String(name);
        if (text is null)
        {
            return defaultValue;
        }
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new OperatorFailedException($"built-in '{_builtin.Kind}' option '{name}'='{text}' is not a whole number in {min}..{max}");
    }

    /// <summary>One of <paramref name="allowed"/>, else a clear error naming the option.</summary>
    public string OneOf(string name, string defaultValue, params string[] allowed)
    {
        var value = String(name) ?? defaultValue;
        return allowed.Contains(value, StringComparer.Ordinal) ? value : throw new OperatorFailedException(
            $"built-in '{_builtin.Kind}' option '{name}'='{value}' is not accepted; use one of: {string.Join(", ", allowed)}");
    }

    /// <summary>
    /// A path option: relative paths resolve against the deploy file's directory, else the work
    /// directory; the result must be inside the work directory or a data directory
    /// (<see cref="Internal.BuiltinPaths"/>, docs/security.md).
    /// </summary>
    public static string ResolvePath(OperatorSpec spec, string option, string path, string workDir) =>
        Internal.BuiltinPaths.Resolve(spec, option, path, workDir, Environment.GetEnvironmentVariable(Internal.BuiltinPaths.DataRootsVariable));
}

using Concord.Contracts;
using Concord.Contracts.Operator.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Executor.Session;

/// <summary>
/// Checks the operator's Metadata against its spec before any record flows: name, streams,
/// protocol version and capabilities. Every problem is reported with both sides and the fix.
/// </summary>
public static class MetadataValidator
{
    /// <summary>Capabilities this executor requires from every operator.</summary>
    public static readonly IReadOnlyList<string> RequiredCapabilities = [Capabilities.BatchPipelining];

    /// <summary>The problems found; empty when the metadata is acceptable.</summary>
    public static IReadOnlyList<string> Problems(OperatorSpec spec, Metadata message)
    {
        var problems = new List<string>();
        if (message.ProtocolVersion != ProtocolLimits.ProtocolVersion)
        {
            problems.Add($"the operator speaks protocol version {message.ProtocolVersion} but this executor speaks {ProtocolLimits.ProtocolVersion}; use an SDK of the same Concord release");
        }
        foreach (var required in RequiredCapabilities)
        {
            if (!message.Capabilities.Contains(required))
            {
                problems.Add($"the operator's SDK lacks the required capability '{required}' (it has [{string.Join(", ", message.Capabilities)}]); upgrade the SDK");
            }
        }
        var metadata = message.Metadata_;
        if (metadata is null)
        {
            problems.Add("the operator's Metadata message has no metadata; metadata() must return the name, inputs and outputs");
            return problems;
        }
        if (metadata.Name != spec.Name)
        {
            problems.Add($"the operator calls itself '{metadata.Name}' but the deploy file names it '{spec.Name}'; make metadata() return name '{spec.Name}' or rename the operator in the deploy file");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in metadata.Inputs)
        {
            CheckStreamName(input.Name, "input", problems);
            if (!seen.Add(input.Name))
            {
                problems.Add($"the operator lists input stream '{input.Name}' twice; list each input once");
            }
        }
        seen.Clear();
        foreach (var output in metadata.Outputs)
        {
            CheckStreamName(output, "output", problems);
            if (!seen.Add(output))
            {
                problems.Add($"the operator lists output stream '{output}' twice; list each output once");
            }
        }

        CheckStates(message, problems);

        if (spec.ExpectedInputs.Count > 0)
        {
            var actual = Describe(metadata.Inputs);
            var expected = Describe(spec.ExpectedInputs);
            if (!actual.SetEquals(expected))
            {
                problems.Add($"the operator reads [{string.Join(", ", actual.Order(StringComparer.Ordinal))}] but the deploy file expects [{string.Join(", ", expected.Order(StringComparer.Ordinal))}]; change metadata() or \"inputs\" in the deploy file so they agree");
            }
        }
        if (spec.ExpectedOutputs.Count > 0)
        {
            var actual = new SortedSet<string>(metadata.Outputs, StringComparer.Ordinal);
            var expected = new SortedSet<string>(spec.ExpectedOutputs, StringComparer.Ordinal);
            if (!actual.SetEquals(expected))
            {
                problems.Add($"the operator produces [{string.Join(", ", actual)}] but the deploy file expects [{string.Join(", ", expected)}]; change metadata() or \"outputs\" in the deploy file so they agree");
            }
        }
        return problems;
    }

    /// <summary>Throws <see cref="OperatorFailedException"/> with every problem when the metadata is not acceptable.</summary>
    public static void Validate(OperatorSpec spec, Metadata message)
    {
        var problems = Problems(spec, message);
        if (problems.Count > 0)
        {
            throw new OperatorFailedException($"operator '{spec.Name}' reported metadata that does not match its deploy file: " + string.Join("; ", problems));
        }
    }

    /// <summary>True for a valid state name: spelled like a stream name (types.proto StateDescriptor.name), not starting with the reserved "concord.".</summary>
    public static bool IsValidStateName(string name) =>
        OperatorSpecValidator.IsValidStreamName(name)
        && !name.StartsWith(ExecutorLimits.StateNameReservedPrefix, StringComparison.Ordinal);

    private static void CheckStates(Metadata message, List<string> problems)
    {
        var states = message.Metadata_.States;
        if (states.Count == 0)
        {
            return;
        }
        if (!message.Capabilities.Contains(Capabilities.KeyedState))
        {
            problems.Add($"the operator declares states [{string.Join(", ", states.Select(s => s.Name))}] but its SDK lacks the capability '{Capabilities.KeyedState}' (it has [{string.Join(", ", message.Capabilities)}]); upgrade the SDK, or declare no states");
        }
        if (states.Count > ExecutorLimits.StatesDeclaredMax)
        {
            problems.Add($"the operator declares {states.Count} states, more than {ExecutorLimits.StatesDeclaredMax} (ExecutorLimits.StatesDeclaredMax); keep several fields in one state value");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var state in states)
        {
            if (!IsValidStateName(state.Name))
            {
                problems.Add($"state name '{Echo(state.Name)}' is not valid; state names are {ProtocolLimits.StreamNameRule} (as stream names) and must not start with '{ExecutorLimits.StateNameReservedPrefix}' (reserved)");
            }
            else if (!seen.Add(state.Name))
            {
                problems.Add($"the operator declares state '{state.Name}' twice; declare each state once");
            }
            if (state.Kind is not (StateKind.Unspecified or StateKind.Value))
            {
                problems.Add($"state '{Echo(state.Name)}' has kind {state.Kind}, which this executor does not know; use STATE_KIND_VALUE");
            }
        }
    }

    private static string Echo(string value) =>
        value.Length <= ProtocolLimits.ProblemEchoCharsMax ? value : string.Concat(value.AsSpan(0, ProtocolLimits.ProblemEchoCharsMax), "…");

    private static void CheckStreamName(string name, string role, List<string> problems)
    {
        if (!OperatorSpecValidator.IsValidStreamName(name))
        {
            problems.Add($"{role} stream name '{name}' is not valid; stream names are {ProtocolLimits.StreamNameRule}");
        }
    }

    private static HashSet<string> Describe(IEnumerable<InputStream> inputs) =>
        inputs.Select(i => $"{i.Name} ({GroupingName(i.Grouping)})").ToHashSet(StringComparer.Ordinal);

    /// <summary>Deploy-file spelling of a grouping; unspecified means shuffle.</summary>
    public static string GroupingName(Grouping grouping) => grouping switch
    {
        Grouping.GroupBy => "group_by",
        Grouping.Broadcast => "broadcast",
        _ => "shuffle",
    };
}

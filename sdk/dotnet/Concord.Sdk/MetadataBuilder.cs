using Concord.Contracts;
using Concord.Contracts.Types.V1;

namespace Concord.Sdk;

/// <summary>
/// Builds the <see cref="OperatorMetadata"/> that <see cref="Computation.Metadata"/> returns:
/// <code>new MetadataBuilder("counter").Input("words", Grouping.GroupBy).Output("counts")</code>
/// converts implicitly to <see cref="OperatorMetadata"/>. Names are checked as they are added,
/// so a typo fails at session start with the bad name in the message.
/// </summary>
public sealed class MetadataBuilder
{
    private readonly OperatorMetadata _metadata;

    /// <param name="name">The operator's name; must equal the deploy file's <c>name</c>.</param>
    public MetadataBuilder(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        _metadata = new OperatorMetadata { Name = name };
    }

    /// <summary>Reads <paramref name="stream"/>; <paramref name="grouping"/> defaults to shuffle.</summary>
    public MetadataBuilder Input(string stream, Grouping grouping = Grouping.Shuffle)
    {
        CheckStreamName(stream);
        if (_metadata.Inputs.Any(i => i.Name == stream))
        {
            throw new ArgumentException($"input stream '{stream}' is declared twice; declare each input once", nameof(stream));
        }
        _metadata.Inputs.Add(new InputStream { Name = stream, Grouping = grouping });
        return this;
    }

    /// <summary>May produce to <paramref name="stream"/>.</summary>
    public MetadataBuilder Output(string stream)
    {
        CheckStreamName(stream);
        if (_metadata.Outputs.Contains(stream))
        {
            throw new ArgumentException($"output stream '{stream}' is declared twice; declare each output once", nameof(stream));
        }
        _metadata.Outputs.Add(stream);
        return this;
    }

    /// <summary>
    /// Declares keyed state <paramref name="name"/> (spelled like a stream name, not starting
    /// with the reserved <c>concord.</c>); only declared names may be used with
    /// <see cref="IComputationContext.State"/>.
    /// </summary>
    public MetadataBuilder State(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidStateName(name))
        {
            throw new ArgumentException(
                $"'{name}' is not a valid state name; use {ProtocolLimits.StreamNameRule} (as a stream name), not starting with '{ReservedStatePrefix}' (reserved for Concord)",
                nameof(name));
        }
        if (_metadata.States.Any(s => s.Name == name))
        {
            throw new ArgumentException($"state '{name}' is declared twice; declare each state once", nameof(name));
        }
        _metadata.States.Add(new StateDescriptor { Name = name, Kind = StateKind.Value });
        return this;
    }

    /// <summary>The metadata built so far (a copy, so the builder can be reused).</summary>
    public OperatorMetadata Build() => _metadata.Clone();

    public static implicit operator OperatorMetadata(MetadataBuilder builder) => builder.Build();

    private const string ReservedStatePrefix = "concord.";

    /// <summary>State names are spelled like stream names (types.proto StateDescriptor.name).</summary>
    private static bool IsValidStateName(string name) =>
        OperatorSpecValidator.IsValidStreamName(name) && !name.StartsWith(ReservedStatePrefix, StringComparison.Ordinal);

    private static void CheckStreamName(string stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!OperatorSpecValidator.IsValidStreamName(stream))
        {
            throw new ArgumentException(
                $"'{stream}' is not a valid stream name; use {ProtocolLimits.StreamNameRule}",
                nameof(stream));
        }
    }
}

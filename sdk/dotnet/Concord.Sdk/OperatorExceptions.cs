namespace Concord.Sdk;

/// <summary>
/// A user bug detected by the SDK inside a callback (a record to an undeclared stream, a record
/// over the size limit, a callback's products over the batch limit). Thrown in the callback
/// so the stack trace points at the offending line; left uncaught it ends the session.
/// </summary>
public class OperatorUsageException(string message) : InvalidOperationException(message);

/// <summary>A record was produced to a stream that is not among the metadata's outputs.</summary>
public sealed class UndeclaredStreamException(string stream, IReadOnlyCollection<string> outputs)
    : OperatorUsageException(
        $"stream '{stream}' is not an output of this operator (outputs: [{string.Join(", ", outputs)}]); " +
        $"declare it in Metadata() with .Output(\"{stream}\"), or produce to a declared stream")
{
    /// <summary>The stream that was produced to.</summary>
    public string Stream { get; } = stream;
}

/// <summary>A produced record's key plus value is larger than the session's record limit.</summary>
public sealed class RecordTooLargeException(string stream, long recordBytes, int recordBytesMax)
    : OperatorUsageException(
        $"record for stream '{stream}' is {recordBytes} bytes (key + value), larger than the limit of " +
        $"{recordBytesMax} bytes (Init.max_record_bytes); keep large payloads in a blob store and produce a reference")
{
    /// <summary>The stream that was produced to.</summary>
    public string Stream { get; } = stream;

    /// <summary>Key plus value, in bytes.</summary>
    public long RecordBytes { get; } = recordBytes;
}

/// <summary>A state name was used that Metadata() does not declare.</summary>
public sealed class UndeclaredStateException(string name, IReadOnlyCollection<string> declared)
    : OperatorUsageException(
        $"state '{name}' is not declared by this operator (declared: [{string.Join(", ", declared)}]); " +
        $"declare it in Metadata() with .State(\"{name}\"), or use a declared name")
{
    /// <summary>The name that was used.</summary>
    public string Name { get; } = name;
}

/// <summary>A state value is larger than the session's state value limit (Init.max_state_value_bytes).</summary>
public sealed class StateValueTooLargeException(string name, long valueBytes, int valueBytesMax)
    : OperatorUsageException(
        $"value for state '{name}' is {valueBytes} bytes, larger than the limit of {valueBytesMax} bytes " +
        "(Init.max_state_value_bytes); keep large objects in a blob store and store a reference")
{
    /// <summary>The state's name.</summary>
    public string Name { get; } = name;

    /// <summary>The value's size, in bytes.</summary>
    public long ValueBytes { get; } = valueBytes;
}

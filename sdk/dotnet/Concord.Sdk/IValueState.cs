namespace Concord.Sdk;

/// <summary>
/// One declared piece of keyed state (<see cref="MetadataBuilder.State"/>), scoped to the key in
/// scope: the record's key in <see cref="Computation.ProcessRecord"/>, the timer's state key in
/// <see cref="Computation.ProcessTimer"/> (<see cref="IComputationContext.StateKey"/>). The
/// executor stores it, checkpoints it and restores it; the operator holds nothing that must
/// survive. A write is seen by every later callback, also in later pipelined batches.
/// </summary>
public interface IValueState
{
    /// <summary>The value, or null when it has none. A copy: changing it changes nothing.</summary>
    byte[]? Get();

    /// <summary>Sets the value (copied); at most Init.max_state_value_bytes.</summary>
    /// <exception cref="StateValueTooLargeException">the value is over the limit.</exception>
    void Set(ReadOnlySpan<byte> value);

    /// <summary>Sets the value (copied, so the array may be reused).</summary>
    void Set(byte[] value) => Set((ReadOnlySpan<byte>)value);

    /// <summary>Removes the value.</summary>
    void Clear();
}

namespace Concord.Executor.Internal;

/// <summary>
/// An async admission gate bounded in rows and bytes. A single item larger than the byte
/// bound is admitted when the budget is empty, so it cannot block forever.
/// </summary>
internal sealed class RowByteBudget(int rowsMax, long bytesMax)
{
    private readonly object _lock = new();
    private int _rows;
    private long _bytes;
    private bool _closed;
    private TaskCompletionSource? _changed;

    public int Rows { get { lock (_lock) { return _rows; } } }

    public long Bytes { get { lock (_lock) { return _bytes; } } }

    /// <summary>Admits one row of <paramref name="bytes"/>; false when the budget was closed.</summary>
    public ValueTask<bool> AcquireAsync(long bytes, CancellationToken cancellationToken) => AcquireAsync(1, bytes, cancellationToken);

    /// <summary>
    /// Admits <paramref name="rows"/> rows of <paramref name="bytes"/> in all, at once; false when
    /// the budget was closed. Rows beyond the bound are admitted into an empty budget, like a large item.
    /// </summary>
    public ValueTask<bool> AcquireAsync(int rows, long bytes, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (TryTake(rows, bytes))
            {
                return ValueTask.FromResult(true);
            }
            if (_closed)
            {
                return ValueTask.FromResult(false);
            }
        }
        return AcquireSlowAsync(rows, bytes, cancellationToken);
    }

    private async ValueTask<bool> AcquireSlowAsync(int rows, long bytes, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_closed)
                {
                    return false;
                }
                if (TryTake(rows, bytes))
                {
                    return true;
                }
                _changed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public void Release(int rows, long bytes)
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            _rows -= rows;
            _bytes -= bytes;
            wake = _changed;
            _changed = null;
        }
        wake?.TrySetResult();
    }

    /// <summary>Wakes every waiter with false; later acquisitions fail too.</summary>
    public void Close()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            _closed = true;
            wake = _changed;
            _changed = null;
        }
        wake?.TrySetResult();
    }

    /// <summary>Admits the rows if there is room now, without waiting; false when full or closed.</summary>
    public bool TryAcquire(int rows, long bytes)
    {
        lock (_lock)
        {
            return TryTake(rows, bytes);
        }
    }

    private bool TryTake(int rows, long bytes)
    {
        if (_closed || (_rows > 0 && (_rows + rows > rowsMax || _bytes + bytes > bytesMax)))
        {
            return false;
        }
        _rows += rows;
        _bytes += bytes;
        return true;
    }
}

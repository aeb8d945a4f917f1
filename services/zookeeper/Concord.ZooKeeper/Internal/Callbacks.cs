using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Concord.ZooKeeper.Internal;

/// <summary>
/// The functions the library calls back, on its own completion thread. Each copies its
/// arguments (the library frees them when the callback returns), hands them to a pending
/// operation found by id, and returns: completions run continuations asynchronously, nothing
/// throws across the boundary, and nothing here calls back into the library.
/// </summary>
/// <remarks>
/// The library gets an id (a number), never a GC handle: a late callback after a dispose finds
/// no entry and does nothing, and a callback that never comes (the handle was closed) leaks
/// nothing, because the dispose fails what is left.
/// </remarks>
internal static unsafe class Callbacks
{
    private static readonly ConcurrentDictionary<nint, Pending> PendingById = new();
    private static long _nextId;

    public static nint Register(Pending pending)
    {
        var id = (nint)Interlocked.Increment(ref _nextId);
        PendingById[id] = pending;
        return id;
    }

    /// <summary>Removes and returns the entry of <paramref name="id"/>; null when it was taken already.</summary>
    public static Pending? Take(nint id) => PendingById.TryRemove(id, out var pending) ? pending : null;

    /// <summary>Fails every entry still pending for <paramref name="owner"/> (after its handle was closed).</summary>
    public static void FailAll(object owner, Exception error)
    {
        foreach (var (id, pending) in PendingById)
        {
            if (ReferenceEquals(pending.Owner, owner) && Take(id) is { } taken)
            {
                taken.Fail(error);
            }
        }
    }

    public static string? Utf8(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((nint)text);

    [UnmanagedCallersOnly]
    public static void SessionWatcher(nint zh, int type, int state, byte* path, nint context)
    {
        try
        {
            if (PendingById.TryGetValue(context, out var pending) && pending is SessionPending session)
            {
                session.Client.OnSessionEvent(type, state);
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    [UnmanagedCallersOnly]
    public static void NodeWatcher(nint zh, int type, int state, byte* path, nint context)
    {
        try
        {
            var constants = NativeConstants.Get;
            WatchEventType eventType;
            if (type == constants.SessionEvent)
            {
                // Node watchers also hear every session event; only the end of the session ends them.
                if (state != constants.ExpiredSessionState && state != constants.AuthFailedState)
                {
                    return;
                }
                eventType = WatchEventType.SessionExpired;
            }
            else if (type == constants.CreatedEvent) { eventType = WatchEventType.NodeCreated; }
            else if (type == constants.DeletedEvent) { eventType = WatchEventType.NodeDeleted; }
            else if (type == constants.ChangedEvent) { eventType = WatchEventType.NodeDataChanged; }
            else if (type == constants.ChildEvent) { eventType = WatchEventType.NodeChildrenChanged; }
            else { return; }
            if (Take(context) is WatchPending watch)
            {
                watch.Result.TrySetResult(new WatchEvent(eventType, Utf8(path) ?? watch.Path));
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    [UnmanagedCallersOnly]
    public static void VoidCompletion(int rc, nint data)
    {
        try
        {
            if (Take(data) is { } pending)
            {
                pending.Complete(rc, null, null, null, null);
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    [UnmanagedCallersOnly]
    public static void StatCompletion(int rc, NativeStat* stat, nint data)
    {
        try
        {
            if (Take(data) is { } pending)
            {
                pending.Complete(rc, stat is null ? null : stat->ToStat(), null, null, null);
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    [UnmanagedCallersOnly]
    public static void StringStatCompletion(int rc, byte* value, NativeStat* stat, nint data)
    {
        try
        {
            if (Take(data) is { } pending)
            {
                pending.Complete(rc, stat is null ? null : stat->ToStat(), null, Utf8(value), null);
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    [UnmanagedCallersOnly]
    public static void DataCompletion(int rc, byte* value, int valueLength, NativeStat* stat, nint data)
    {
        try
        {
            if (Take(data) is { } pending)
            {
                var bytes = value is null || valueLength <= 0 ? [] : new ReadOnlySpan<byte>(value, valueLength).ToArray();
                pending.Complete(rc, stat is null ? null : stat->ToStat(), bytes, null, null);
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    [UnmanagedCallersOnly]
    public static void StringsStatCompletion(int rc, NativeStringVector* strings, NativeStat* stat, nint data)
    {
        try
        {
            if (Take(data) is { } pending)
            {
                // The vector is the library's (freed when this returns): copied here, within bounds.
                List<string>? children = null;
                if (strings is not null && rc == 0)
                {
                    var count = Math.Min(strings->Count, ZooKeeperLimits.ChildrenMax + 1);
                    children = new List<string>(Math.Max(count, 0));
                    for (var i = 0; i < count; i++)
                    {
                        children.Add(Utf8(strings->Data[i]) ?? "");
                    }
                }
                pending.Complete(rc, stat is null ? null : stat->ToStat(), null, null, children);
            }
        }
        catch (Exception e)
        {
            Unexpected(e);
        }
    }

    /// <summary>A bug here must not take the process down from a native thread: it is reported on stderr instead.</summary>
    private static void Unexpected(Exception e)
    {
        try
        {
            Console.Error.WriteLine($"Concord.ZooKeeper: unexpected error in a callback: {e}");
        }
        catch
        {
            // Nothing more can be done on the library's thread.
        }
    }
}

/// <summary>An operation (or watch, or session) the library will call back about.</summary>
internal abstract class Pending(object owner)
{
    public object Owner { get; } = owner;

    /// <summary>Called once, on the library's thread, with the callback's copied arguments.</summary>
    public abstract void Complete(int rc, ZNodeStat? stat, byte[]? data, string? text, List<string>? children);

    public abstract void Fail(Exception error);
}

internal sealed class SessionPending(ZooKeeperClient client) : Pending(client)
{
    public ZooKeeperClient Client { get; } = client;

    public override void Complete(int rc, ZNodeStat? stat, byte[]? data, string? text, List<string>? children)
    {
    }

    public override void Fail(Exception error)
    {
    }
}

internal sealed class WatchPending(object owner, string path) : Pending(owner)
{
    public string Path { get; } = path;

    public TaskCompletionSource<WatchEvent> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Complete(int rc, ZNodeStat? stat, byte[]? data, string? text, List<string>? children)
    {
    }

    public override void Fail(Exception error) => Result.TrySetResult(new WatchEvent(WatchEventType.Closed, Path));
}

/// <summary>An operation whose result is built from the callback's arguments by <paramref name="result"/>.</summary>
internal sealed class OperationPending<T>(object owner, Func<int, ZNodeStat?, byte[]?, string?, List<string>?, T> result,
    Func<int, Exception?> error, Action? release = null) : Pending(owner)
{
    public TaskCompletionSource<T> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override void Complete(int rc, ZNodeStat? stat, byte[]? data, string? text, List<string>? children)
    {
        Exception? failure;
        T value = default!;
        try
        {
            failure = error(rc);
            if (failure is null)
            {
                value = result(rc, stat, data, text, children);
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        // Released before the task completes: a continuation may read what the release copied.
        release?.Invoke();
        if (failure is null)
        {
            Result.TrySetResult(value);
        }
        else
        {
            Result.TrySetException(failure);
        }
    }

    public override void Fail(Exception failure)
    {
        release?.Invoke();
        Result.TrySetException(failure);
    }
}

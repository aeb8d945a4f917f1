using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Concord.Scheduler.Dashboard.Internal;

/// <summary>
/// The dashboard's login sessions, held here only (the cookie carries an opaque random id):
/// at most <see cref="DashboardLimits.SessionsMax"/> (the oldest evicted), each valid for
/// <see cref="DashboardLimits.SessionLifetimeMs"/> from login. Ids are kept as their SHA-256
/// and looked up by it, so the lookup time does not depend on how much of a guess is right.
/// </summary>
internal sealed class DashboardSessions(TimeProvider time)
{
    private readonly Lock _lock = new();

    // Hash of the id → expiry; the queue holds the same hashes oldest first, for eviction.
    private readonly Dictionary<string, DateTimeOffset> _sessions = new(StringComparer.Ordinal);
    private Queue<string> _order = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _sessions.Count;
            }
        }
    }

    /// <summary>Starts a session and returns its id (base64url of <see cref="DashboardLimits.SessionIdBytes"/> random bytes).</summary>
    public string Start()
    {
        var id = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(DashboardLimits.SessionIdBytes));
        var key = Key(id);
        lock (_lock)
        {
            if (_order.Count >= 2 * DashboardLimits.SessionsMax)
            {
                // Ended and expired sessions leave their entries behind; drop them so the queue stays bounded too.
                _order = new Queue<string>(_order.Where(_sessions.ContainsKey));
            }
            while (_sessions.Count >= DashboardLimits.SessionsMax && _order.TryDequeue(out var oldest))
            {
                _sessions.Remove(oldest);
            }
            _sessions[key] = time.GetUtcNow().AddMilliseconds(DashboardLimits.SessionLifetimeMs);
            _order.Enqueue(key);
        }
        return id;
    }

    /// <summary>True when <paramref name="id"/> is a live session.</summary>
    public bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > 2 * DashboardLimits.SessionIdBytes)
        {
            return false;
        }
        var key = Key(id);
        lock (_lock)
        {
            if (!_sessions.TryGetValue(key, out var expiry))
            {
                return false;
            }
            if (expiry > time.GetUtcNow())
            {
                return true;
            }
            _sessions.Remove(key); // its queue entry goes when it reaches the front
            return false;
        }
    }

    public void End(string? id)
    {
        if (!string.IsNullOrEmpty(id) && id.Length <= 2 * DashboardLimits.SessionIdBytes)
        {
            lock (_lock)
            {
                _sessions.Remove(Key(id));
            }
        }
    }

    private static string Key(string id) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(id)));
}

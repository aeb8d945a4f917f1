using Concord.Hosting;

namespace Concord.Scheduler;

/// <summary>
/// The scheduler's TLS, loaded once from <see cref="SchedulerOptions.Tls"/>: its gRPC and
/// metrics endpoints serve HTTPS requiring client certificates from the CA, its calls to
/// executors present its certificate, and the local runtime gives executors the same files
/// (they run on this host). No TLS (<see cref="Credentials"/> null) is allowed on loopback only.
/// </summary>
public sealed class SchedulerTls(TlsCredentials? credentials) : IDisposable
{
    /// <summary>The scheduler options that carry TLS, for messages.</summary>
    public const string OptionsHint = "--tls-cert, --tls-key and --tls-ca";

    /// <summary>Null: plain HTTP (loopback only).</summary>
    public TlsCredentials? Credentials { get; } = credentials;

    /// <summary>"https" with TLS, else "http": the scheme of the addresses this scheduler hands out.</summary>
    public string Scheme => Credentials is null ? "http" : "https";

    /// <summary>A client handler for calls to executors: presents the scheduler's certificate when there is TLS.</summary>
    public SocketsHttpHandler ConfigureClient(SocketsHttpHandler handler) => Credentials?.ConfigureClient(handler) ?? handler;

    /// <summary>Loads the files named in <paramref name="options"/>.</summary>
    /// <exception cref="UsageException">A file is missing or wrong; the message names it and the fix.</exception>
    public static SchedulerTls Load(SchedulerOptions options)
    {
        try
        {
            return new SchedulerTls(options.Tls?.Load());
        }
        catch (TlsConfigurationException e)
        {
            throw new UsageException(e.Message);
        }
    }

    public void Dispose() => Credentials?.Dispose();
}

using System.CommandLine;
using System.Security.Authentication;
using Concord.Hosting;

namespace Concord.Cli.Internal;

/// <summary>
/// The CLI's side of mutual TLS: <c>--tls-cert</c>, <c>--tls-key</c>, <c>--tls-ca</c> (every
/// command), else <c>CONCORD_TLS_CERT</c>, <c>_KEY</c>, <c>_CA</c>. Used only when the scheduler
/// address is https://: the CLI presents its client certificate (`concord certs --client NAME`)
/// and accepts only a scheduler certificate from the CA, for the host it dials.
/// </summary>
internal sealed class CliTls
{
    private readonly Option<string?> _cert = new("--tls-cert")
    {
        Description = $"Client certificate (PEM, from `concord certs --client NAME`) for an https:// scheduler (default: ${TlsOptions.CertVariable})",
        Recursive = true,
    };

    private readonly Option<string?> _key = new("--tls-key")
    {
        Description = $"Private key of --tls-cert (PEM) (default: ${TlsOptions.KeyVariable})",
        Recursive = true,
    };

    private readonly Option<string?> _ca = new("--tls-ca")
    {
        Description = $"CA certificate (PEM) the scheduler's certificate must chain to (default: ${TlsOptions.CaVariable})",
        Recursive = true,
    };

    /// <summary>Adds the three options to <paramref name="root"/> (recursive: every command accepts them).</summary>
    public static CliTls Register(RootCommand root)
    {
        var tls = new CliTls();
        root.Add(tls._cert);
        root.Add(tls._key);
        root.Add(tls._ca);
        return tls;
    }

    /// <summary>The TLS files given (options, else environment), unloaded; null when none (`concord agent` passes them on).</summary>
    /// <exception cref="CliException">Only some of the three are given.</exception>
    public TlsOptions? Options(ParseResult parse, Func<string, string?> environment)
    {
        string? Setting(Option<string?> option, string variable) =>
            parse.GetValue(option) is { } value && !string.IsNullOrWhiteSpace(value) ? value : environment(variable);
        try
        {
            return TlsOptions.FromParts(
                Setting(_cert, TlsOptions.CertVariable), Setting(_key, TlsOptions.KeyVariable), Setting(_ca, TlsOptions.CaVariable),
                ("--tls-cert", "--tls-key", "--tls-ca"));
        }
        catch (TlsConfigurationException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>
    /// The three options as given on the command line (not the variables, which name the CLI's
    /// own client certificate): what <c>concord up</c> passes to the scheduler it starts.
    /// </summary>
    /// <exception cref="CliException">Some of the three given, not all.</exception>
    public TlsOptions? GivenOptions(ParseResult parse)
    {
        try
        {
            return TlsOptions.FromParts(parse.GetValue(_cert), parse.GetValue(_key), parse.GetValue(_ca), ("--tls-cert", "--tls-key", "--tls-ca"));
        }
        catch (TlsConfigurationException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>
    /// The client credentials for <paramref name="address"/>: null for http://, loaded for
    /// https:// (each setting from its option, else its environment variable).
    /// </summary>
    /// <exception cref="CliException">An https address without TLS settings, or files that cannot be used.</exception>
    public TlsCredentials? For(string address, ParseResult parse, Func<string, string?> environment)
    {
        if (!address.StartsWith("https://", StringComparison.Ordinal))
        {
            return null;
        }
        string? Setting(Option<string?> option, string variable) =>
            parse.GetValue(option) is { } value && !string.IsNullOrWhiteSpace(value) ? value : environment(variable);
        try
        {
            var options = TlsOptions.FromParts(
                Setting(_cert, TlsOptions.CertVariable), Setting(_key, TlsOptions.KeyVariable), Setting(_ca, TlsOptions.CaVariable),
                ("--tls-cert", "--tls-key", "--tls-ca"));
            return options is null
                ? throw new CliException(
                    $"the scheduler at {address} uses TLS and needs a client certificate; pass --tls-cert, --tls-key and --tls-ca " +
                    $"(or set {TlsOptions.CertVariable}, {TlsOptions.KeyVariable}, {TlsOptions.CaVariable}) with a certificate from `concord certs --client NAME`")
                : options.Load();
        }
        catch (TlsConfigurationException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>
    /// The one-line error for a call that failed in the TLS handshake; null when it failed
    /// otherwise. With TLS 1.3 a server that refuses the client's certificate does so after the
    /// client has finished its side, so the call just finds the connection gone: an https
    /// scheduler that is unavailable gets the TLS causes named beside "not running".
    /// </summary>
    public static CliException? HandshakeFailure(Exception? error, Grpc.Core.StatusCode status, string address)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException or HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError })
            {
                return new CliException(
                    $"the TLS handshake with the scheduler at {address} failed ({e.Message}); {Checks}");
            }
        }
        if (status == Grpc.Core.StatusCode.Unavailable && address.StartsWith("https://", StringComparison.Ordinal))
        {
            return new CliException(
                $"no scheduler at {address}, or it refused this client's certificate: start one, or {Checks}");
        }
        return null;
    }

    private const string Checks =
        "check that --tls-ca is the CA that issued the scheduler's certificate, that the scheduler's certificate names the host you dial, " +
        "and that your --tls-cert is from the same CA (`concord certs --client NAME`)";
}

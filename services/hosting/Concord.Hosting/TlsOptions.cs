namespace Concord.Hosting;

/// <summary>
/// Where a process finds its TLS material, all PEM files: its own certificate, that
/// certificate's private key, and the certificate authority (CA) that every peer's certificate
/// must chain to. `concord certs` writes them (docs/security.md, "TLS"). Only paths: <see cref="Load"/>
/// reads and checks the files.
/// </summary>
public sealed record TlsOptions(string CertPath, string KeyPath, string CaPath)
{
    /// <summary>The environment variables the cluster runtime gives an executor (and the CLI reads).</summary>
    public const string CertVariable = "CONCORD_TLS_CERT";

    /// <inheritdoc cref="CertVariable"/>
    public const string KeyVariable = "CONCORD_TLS_KEY";

    /// <inheritdoc cref="CertVariable"/>
    public const string CaVariable = "CONCORD_TLS_CA";

    /// <summary>
    /// The options from three settings given together, or null when none is set (no TLS). Only
    /// some set is a mistake: <paramref name="names"/> are how the user spells the three
    /// settings (e.g. "--tls-cert", "--tls-key", "--tls-ca"), for the message.
    /// </summary>
    /// <exception cref="TlsConfigurationException">One or two of the three are set.</exception>
    public static TlsOptions? FromParts(string? cert, string? key, string? ca, (string Cert, string Key, string Ca) names)
    {
        string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        cert = Clean(cert);
        key = Clean(key);
        ca = Clean(ca);
        if (cert is null && key is null && ca is null)
        {
            return null;
        }
        if (cert is null || key is null || ca is null)
        {
            var missing = new[] { (cert, names.Cert), (key, names.Key), (ca, names.Ca) }.Where(p => p.Item1 is null).Select(p => p.Item2);
            throw new TlsConfigurationException(
                $"TLS needs {names.Cert}, {names.Key} and {names.Ca} together; {string.Join(" and ", missing)} {(missing.Count() == 1 ? "is" : "are")} missing " +
                "(create the files with `concord certs`, see docs/security.md)");
        }
        return new TlsOptions(Path.GetFullPath(cert), Path.GetFullPath(key), Path.GetFullPath(ca));
    }

    /// <summary>The options from <see cref="CertVariable"/>, <see cref="KeyVariable"/> and <see cref="CaVariable"/>; null when none is set.</summary>
    /// <exception cref="TlsConfigurationException">Only some are set.</exception>
    public static TlsOptions? FromEnvironment(Func<string, string?> environment) =>
        FromParts(environment(CertVariable), environment(KeyVariable), environment(CaVariable), (CertVariable, KeyVariable, CaVariable));

    /// <summary>Reads the certificate with its key and the CA, and checks that the certificate chains to the CA.</summary>
    /// <exception cref="TlsConfigurationException">A file is missing or not PEM, or the certificate is not from this CA.</exception>
    public TlsCredentials Load() => TlsCredentials.Load(this);
}

/// <summary>TLS settings or files that cannot be used; the message names the file and the fix.</summary>
public sealed class TlsConfigurationException(string message, Exception? inner = null) : Exception(message, inner);

using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Concord.Hosting.Internal;

/// <summary>Chain building against one CA only: no system store, no downloads, no revocation lists (a private CA publishes none).</summary>
internal static class ChainValidation
{
    /// <summary>Extended key usage "TLS server authentication".</summary>
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>Extended key usage "TLS client authentication".</summary>
    public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    /// <param name="purposeOid">The extended key usage the leaf must allow; null: any.</param>
    /// <param name="problem">Why not, when it does not chain.</param>
    public static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 authority, string? purposeOid, out string problem)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (purposeOid is not null)
        {
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(purposeOid));
        }
        try
        {
            if (chain.Build(leaf))
            {
                problem = "";
                return true;
            }
            problem = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            if (problem.Length == 0)
            {
                problem = "no chain to the CA";
            }
            return false;
        }
        finally
        {
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }
}

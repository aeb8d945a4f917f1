using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Concord.Hosting;

namespace Concord.Cli.Internal.Commands;

/// <summary>
/// <c>concord certs --out DIR [--host NAME[,NAME|IP...]]... [--client NAME]... [--force]</c>:
/// the files mutual TLS needs (docs/security.md, "TLS"). A CA in DIR (ca.crt, ca.key) is made
/// once and then reused to issue more certificates; only --force replaces it.
/// </summary>
internal static partial class CertsCommand
{
    public const string CaCertFile = "ca.crt";
    public const string CaKeyFile = "ca.key";
    private const string CaCommonName = "Concord cluster CA";

    public static void Register(RootCommand root, CliContext ctx, Action<Command, Func<ParseResult, CancellationToken, Task<int>>> setAction)
    {
        var output = new Option<string>("--out")
        {
            Description = "Directory for the files (created with mode 0700 if missing): ca.crt, ca.key, NAME.crt, NAME.key",
            Required = true,
        };
        var hosts = new Option<string[]>("--host")
        {
            Description = "A host certificate (serverAuth + clientAuth) for the comma-separated DNS names and IP addresses given, e.g. node1,node1.example,10.0.0.5; " +
                "the first names the files (NAME.crt, NAME.key); repeat for more hosts. Include 127.0.0.1 for a single-machine cluster",
            AllowMultipleArgumentsPerToken = false,
        };
        var clients = new Option<string[]>("--client")
        {
            Description = "A client certificate (clientAuth) for a person or tool NAME (the CLI's --tls-cert); repeat for more",
        };
        var force = new Option<bool>("--force")
        {
            Description = "Replace an existing CA in --out (every certificate it issued stops being trusted by the new one)",
        };
        var certs = new Command("certs", "Create a CA and host and client certificates for mutually authenticated TLS (ECDSA P-256, PEM, keys mode 0600)")
        {
            output, hosts, clients, force,
        };
        setAction(certs, (parse, _) => Task.FromResult(Run(ctx, parse.GetValue(output)!, parse.GetValue(hosts) ?? [], parse.GetValue(clients) ?? [], parse.GetValue(force))));
        root.Add(certs);
    }

    public static int Run(CliContext ctx, string outDirectory, IReadOnlyList<string> hostSpecs, IReadOnlyList<string> clientNames, bool force)
    {
        var directory = Path.GetFullPath(outDirectory);
        var hosts = hostSpecs.Select(ParseHost).ToList();
        foreach (var client in clientNames)
        {
            if (!FileName().IsMatch(client))
            {
                throw new CliException($"--client '{client}' is not a usable name; use letters, digits, '.', '_' and '-' (it names the files {client}.crt and .key)");
            }
        }
        var fileNames = hosts.Select(h => h[0]).Concat(clientNames).ToList();
        if (fileNames.GroupBy(n => n, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new CliException($"'{twice.Key}' is given twice (--host names the files by its first name, --client by its name); give each certificate its own name");
        }
        if (fileNames.FirstOrDefault(n => n.Equals("ca", StringComparison.OrdinalIgnoreCase)) is { } ca)
        {
            throw new CliException($"'{ca}' would overwrite the CA's files; choose another name");
        }

        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        var caCert = Path.Combine(directory, CaCertFile);
        var caKey = Path.Combine(directory, CaKeyFile);
        var now = ctx.Time.GetUtcNow();
        using var authority = OpenOrCreateAuthority(ctx, caCert, caKey, force, issuing: fileNames.Count > 0, now);

        foreach (var names in hosts)
        {
            using var certificate = TlsCertificates.IssueHost(authority, names, now);
            Write(ctx, certificate, directory, names[0], $"host certificate for {string.Join(", ", names)}");
        }
        foreach (var name in clientNames)
        {
            using var certificate = TlsCertificates.IssueClient(authority, name, now);
            Write(ctx, certificate, directory, name, $"client certificate for {name}");
        }
        if (hosts.Count > 0)
        {
            var example = hosts[0][0];
            ctx.Out.WriteLine($"start a scheduler with: --tls-cert {Path.Combine(directory, example + ".crt")} --tls-key {Path.Combine(directory, example + ".key")} --tls-ca {caCert}");
        }
        if (clientNames.Count > 0)
        {
            var example = clientNames[0];
            ctx.Out.WriteLine($"use the CLI with: --tls-cert {Path.Combine(directory, example + ".crt")} --tls-key {Path.Combine(directory, example + ".key")} --tls-ca {caCert}");
        }
        return ExitCodes.Success;
    }

    private static X509Certificate2 OpenOrCreateAuthority(CliContext ctx, string caCert, string caKey, bool force, bool issuing, DateTimeOffset now)
    {
        var exists = File.Exists(caCert) || File.Exists(caKey);
        if (exists && !force)
        {
            if (!issuing)
            {
                throw new CliException(
                    $"a CA already exists in {Path.GetDirectoryName(caCert)} ({CaCertFile}); add --host or --client to issue certificates from it, " +
                    "or --force to replace it (every certificate it issued stops being trusted)");
            }
            try
            {
                var existing = TlsCertificates.ReadPem(caCert, caKey);
                ctx.Out.WriteLine($"using the existing CA {caCert} (valid until {existing.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)})");
                return existing;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                throw new CliException(
                    $"the CA in {Path.GetDirectoryName(caCert)} cannot be read ({e.Message}); it needs both {CaCertFile} and {CaKeyFile} in PEM, " +
                    "or pass --force to make a new CA (every certificate the old one issued stops being trusted)");
            }
        }
        var authority = TlsCertificates.CreateAuthority(CaCommonName, now);
        Write(ctx, authority, Path.GetDirectoryName(caCert)!, Path.GetFileNameWithoutExtension(caCert), exists ? "CA (replaced the old one)" : "CA");
        return authority;
    }

    private static void Write(CliContext ctx, X509Certificate2 certificate, string directory, string name, string what)
    {
        var cert = Path.Combine(directory, name + ".crt");
        var key = Path.Combine(directory, name + ".key");
        TlsCertificates.WritePem(certificate, cert, key);
        ctx.Out.WriteLine($"wrote {cert} and {key}: {what}, valid until {certificate.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}");
    }

    /// <summary>"name[,name|ip...]" → the SANs; the first must be usable as a file name.</summary>
    private static List<string> ParseHost(string spec)
    {
        var names = spec.Split(',', StringSplitOptions.TrimEntries).ToList();
        foreach (var name in names)
        {
            if (name.Length == 0 || (!IPAddress.TryParse(name, out _) && !DnsName().IsMatch(name)))
            {
                throw new CliException(
                    $"--host '{spec}': '{name}' is neither a DNS name nor an IP address; give comma-separated names and addresses, e.g. --host node1,node1.example,10.0.0.5");
            }
        }
        if (!FileName().IsMatch(names[0]))
        {
            throw new CliException(
                $"--host '{spec}': the first name '{names[0]}' names the files and must be letters, digits, '.', '_' and '-'; put a plain name first, e.g. --host node1,{spec}");
        }
        return names;
    }

    [GeneratedRegex(@"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")]
    private static partial Regex DnsName();

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex FileName();
}

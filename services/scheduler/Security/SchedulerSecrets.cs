using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Concord.Contracts;
using Concord.Scheduler.Runtime;

namespace Concord.Scheduler.Security;

/// <summary>
/// The scheduler's secrets (docs/security.md, "Authentication"):
/// <list type="bullet">
/// <item>the <b>operator token</b> every operator-facing call carries as
/// <c>authorization: Bearer</c>: given explicitly (<c>--token</c> / <c>CONCORD_TOKEN</c>), else
/// read from <c>&lt;home&gt;/token</c>, else made there on first start (32 random bytes, base64url,
/// 0600); the file always holds the token in effect, so local clients find it;</item>
/// <item>the <b>cluster key</b> (<c>&lt;home&gt;/cluster.key</c>, 32 random bytes, 0600), from
/// which each launch's secret is derived as HMAC(cluster key, operator, index, incarnation)
/// and the data-plane key as HMAC(cluster key, "dataplane"). Incarnations are unique, so every
/// launch gets its own unpredictable secret; deriving it (rather than keeping a table) lets a
/// restarted scheduler check the executors it adopts with nothing more on disk.</item>
/// </list>
/// </summary>
public sealed class SchedulerSecrets
{
    /// <summary>File in the home holding the cluster key (raw bytes).</summary>
    public const string ClusterKeyFileName = "cluster.key";

    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _token;
    private readonly byte[] _clusterKey;

    private SchedulerSecrets(string token, byte[] clusterKey, string tokenFile)
    {
        _token = token;
        _clusterKey = clusterKey;
        TokenFile = tokenFile;
        DataPlaneKey = Base64Url.EncodeToString(HMACSHA256.HashData(clusterKey, "concord-dataplane"u8));
    }

    /// <summary>Where the operator token is: clients on this machine read it there.</summary>
    public string TokenFile { get; }

    /// <summary>The key every executor of this cluster gets to make and check data-plane credentials (base64url).</summary>
    public string DataPlaneKey { get; }

    /// <summary>Loads (or makes) the token and the cluster key of <paramref name="homeDirectory"/>.</summary>
    /// <param name="explicitToken">The token from --token or CONCORD_TOKEN; null to use the home's.</param>
    /// <exception cref="UsageException">The explicit token is too short, or the token file is unusable.</exception>
    public static SchedulerSecrets Load(string homeDirectory, string? explicitToken)
    {
        var tokenFile = Path.Combine(homeDirectory, Credentials.TokenFileName);
        string token;
        if (!string.IsNullOrEmpty(explicitToken))
        {
            token = explicitToken.Trim();
            CheckToken(token, $"--token (or {Credentials.TokenVariable})");
            WriteOwnerOnly(tokenFile, Encoding.UTF8.GetBytes(token));
        }
        else if (File.Exists(tokenFile))
        {
            RestrictFile(tokenFile);
            token = File.ReadAllText(tokenFile).Trim();
            CheckToken(token, tokenFile);
        }
        else
        {
            token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SchedulerLimits.SecretBytes));
            WriteOwnerOnly(tokenFile, Encoding.UTF8.GetBytes(token));
        }

        var keyFile = Path.Combine(homeDirectory, ClusterKeyFileName);
        byte[] key;
        if (File.Exists(keyFile) && new FileInfo(keyFile).Length == SchedulerLimits.SecretBytes)
        {
            RestrictFile(keyFile);
            key = File.ReadAllBytes(keyFile);
        }
        else
        {
            // A missing or damaged key: a new one. Executors launched with the old one can then
            // not register again, are stopped and relaunched, as after any failed adoption.
            key = RandomNumberGenerator.GetBytes(SchedulerLimits.SecretBytes);
            WriteOwnerOnly(keyFile, key);
        }
        return new SchedulerSecrets(token, key, tokenFile);
    }

    /// <summary>True when <paramref name="presented"/> is the operator token (constant time).</summary>
    public bool IsToken(string? presented) => Credentials.SecretEquals(presented, _token);

    /// <summary>The secret of one launch (base64url).</summary>
    public string LaunchSecret(string operatorName, int index, string incarnation) =>
        Base64Url.EncodeToString(HMACSHA256.HashData(_clusterKey, Encoding.UTF8.GetBytes(
            $"concord-launch\n{operatorName}\n{index.ToString(System.Globalization.CultureInfo.InvariantCulture)}\n{incarnation}")));

    /// <summary>True when <paramref name="presented"/> is the secret of that launch (constant time).</summary>
    public bool IsLaunchSecret(string? presented, string operatorName, int index, string incarnation) =>
        Credentials.SecretEquals(presented, LaunchSecret(operatorName, index, incarnation));

    /// <summary>
    /// The private environment of one launch: its secret and the data-plane key, and no
    /// operator token (the scheduler may have been given one in its own environment, which a
    /// child would otherwise inherit). A null value removes the variable.
    /// </summary>
    public IReadOnlyDictionary<string, string?> ExecutorEnvironment(InstanceLaunch launch) => new Dictionary<string, string?>
    {
        [Credentials.LaunchSecretVariable] = LaunchSecret(launch.OperatorName, launch.Index, launch.Incarnation),
        [Credentials.DataPlaneKeyVariable] = DataPlaneKey,
        [Credentials.TokenVariable] = null,
    };

    /// <summary>Makes <paramref name="directory"/> (and only it) readable by its owner alone.</summary>
    public static void RestrictDirectory(string directory)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private static void RestrictFile(string path)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, OwnerOnlyFile);
        }
    }

    /// <summary>Writes a file that is 0600 from its creation (not after: no window for a reader).</summary>
    public static void WriteOwnerOnly(string path, byte[] contents)
    {
        var temp = path + ".new";
        File.Delete(temp);
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            create.UnixCreateMode = OwnerOnlyFile;
        }
        using (var stream = new FileStream(temp, create))
        {
            stream.Write(contents);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static void CheckToken(string token, string source)
    {
        if (token.Length < SchedulerLimits.TokenCharsMin)
        {
            throw new UsageException(
                $"the operator token from {source} has {token.Length} characters; use at least {SchedulerLimits.TokenCharsMin} " +
                $"(or delete {Credentials.TokenFileName} in the home and give no --token, and the scheduler makes a random one)");
        }
    }
}

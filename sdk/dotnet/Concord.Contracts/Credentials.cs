using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Concord.Contracts;

/// <summary>
/// The names and the one derivation every Concord process agrees on to authenticate calls
/// (docs/security.md): the operator token on the scheduler API, the launch secret on the
/// executor-facing scheduler calls, the data-plane credential on Push. Secrets travel only in
/// gRPC metadata and in environment variables of the process they belong to, never in a
/// message, a command line or an incarnation.
/// </summary>
public static class Credentials
{
    /// <summary>Header of the operator token: <c>authorization: Bearer &lt;token&gt;</c>.</summary>
    public const string AuthorizationHeader = "authorization";

    /// <summary>Scheme prefix of <see cref="AuthorizationHeader"/>.</summary>
    public const string BearerPrefix = "Bearer ";

    /// <summary>Environment variable clients (CLI, SDK clients) read the operator token from.</summary>
    public const string TokenVariable = "CONCORD_TOKEN";

    /// <summary>File in the scheduler home holding the operator token (0600).</summary>
    public const string TokenFileName = "token";

    /// <summary>Header an executor sends its launch secret in, on every call to the scheduler.</summary>
    public const string LaunchSecretHeader = "concord-launch-secret";

    /// <summary>Environment variable the runtime hands the launch secret to the executor in.</summary>
    public const string LaunchSecretVariable = "CONCORD_LAUNCH_SECRET";

    /// <summary>Environment variable the runtime hands the cluster's data-plane key to the executor in.</summary>
    public const string DataPlaneKeyVariable = "CONCORD_DATAPLANE_KEY";

    /// <summary>Header of the data-plane credential on a Push call (<see cref="DataPlaneCredential"/>).</summary>
    public const string DataPlaneCredentialHeader = "concord-dataplane-credential";

    /// <summary>
    /// The credential a sender presents to open a channel to the launch
    /// <paramref name="receiverIncarnation"/>: HMAC-SHA256(data-plane key, receiver incarnation),
    /// base64url. Bound to one launch, so a credential seen on the wire opens nothing else, and
    /// the key itself never leaves the process.
    /// </summary>
    public static string DataPlaneCredential(ReadOnlySpan<byte> dataPlaneKey, string receiverIncarnation) =>
        Base64Url.EncodeToString(HMACSHA256.HashData(dataPlaneKey, Encoding.UTF8.GetBytes("concord-dataplane\n" + receiverIncarnation)));

    /// <summary>What an environment value whose name looks secret is shown as (list, graph, logs).</summary>
    public const string RedactedValue = "***";

    /// <summary>
    /// Parts of an environment variable's name that make its value a secret, matched anywhere
    /// in the name, ignoring case. The one list: every place that shows a spec uses
    /// <see cref="IsSecretName"/>.
    /// </summary>
    public static readonly IReadOnlyList<string> SecretNameParts = ["TOKEN", "SECRET", "PASSWORD", "KEY", "CREDENTIAL"];

    /// <summary>Whether the value of the variable <paramref name="name"/> must never be shown.</summary>
    public static bool IsSecretName(string name) =>
        SecretNameParts.Any(part => name.Contains(part, StringComparison.OrdinalIgnoreCase));

    /// <summary>Compares a presented secret with the expected one in time independent of where they differ.</summary>
    public static bool SecretEquals(string? presented, string expected) =>
        presented is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(expected));
}

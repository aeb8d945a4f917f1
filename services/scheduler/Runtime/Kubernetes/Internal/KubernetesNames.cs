using System.Globalization;
using System.Text.RegularExpressions;

namespace Concord.Scheduler.Runtime.Kubernetes.Internal;

/// <summary>Kubernetes' naming rules the runtime relies on, and the names and labels it gives.</summary>
internal static partial class KubernetesNames
{
    public const string ManagedByLabel = "app.kubernetes.io/managed-by";
    public const string ManagedByValue = "concord";
    public const string ClusterLabel = "concord.io/cluster";
    public const string OperatorLabel = "concord.io/operator";
    public const string InstanceLabel = "concord.io/instance";
    public const string IncarnationLabel = "concord.io/incarnation";
    public const string ReleaseLabel = "concord.io/release";

    /// <summary>
    /// The deploy file's <c>environment</c> key that named the operator's image before the
    /// <c>image</c> field existed; no longer read: a spec without <c>image</c> that still sets
    /// it is refused with an error saying to move it (docs/kubernetes.md).
    /// </summary>
    public const string RetiredImageVariable = "OPERATOR_IMAGE";

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();

    public static bool IsDnsLabel(string value) => DnsLabel().IsMatch(value);

    [GeneratedRegex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsSubdomain();

    /// <summary>Kubernetes' rule for most object names (RFC 1123 subdomain): PersistentVolumeClaims, Secrets, ConfigMaps.</summary>
    public static bool IsDnsSubdomain(string value) => DnsSubdomain().IsMatch(value);

    /// <summary>Null when <paramref name="image"/> is an image reference, else what is wrong and the fix (the deploy file's rule).</summary>
    public static string? CheckImage(string image) => Contracts.OperatorSpecValidator.ImageProblem(image);

    /// <summary>
    /// The pod of one launch: <c>&lt;operator, cut&gt;-&lt;index&gt;-&lt;incarnation, cut&gt;</c>,
    /// a DNS label (it is also the pod's hostname), unique per launch.
    /// </summary>
    public static string PodName(string operatorName, int index, string incarnation)
    {
        var op = operatorName.Length > KubernetesLimits.PodNameOperatorCharsMax ? operatorName[..KubernetesLimits.PodNameOperatorCharsMax] : operatorName;
        var inc = new string(incarnation.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).Take(KubernetesLimits.PodNameIncarnationChars).ToArray());
        return $"{op}-{index.ToString(CultureInfo.InvariantCulture)}-{(inc.Length == 0 ? "x" : inc)}";
    }

    /// <summary>The label selector of every pod of one cluster.</summary>
    public static string ClusterSelector(string cluster) => $"{ClusterLabel}={cluster},{ManagedByLabel}={ManagedByValue}";

    /// <summary>A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends (incarnations are hex, operators DNS labels).</summary>
    public static string LabelValue(string value) => value.Length <= 63 ? value : value[..63];
}

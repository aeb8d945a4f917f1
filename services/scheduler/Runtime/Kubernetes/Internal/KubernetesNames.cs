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
    /// The deploy file's <c>environment</c> key naming the operator's image (docs/kubernetes.md);
    /// not a <c>CONCORD_</c> name, which deploy files may not set (OperatorSpecValidator), and
    /// not passed on to the operator.
    /// </summary>
    public const string ImageVariable = "OPERATOR_IMAGE";

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabel();

    // A registry host (optionally with a port), a path, a tag and/or a digest; checked loosely
    // here (the container runtime has the last word) but enough to refuse spaces, shell words and typos.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$", RegexOptions.CultureInvariant)]
    private static partial Regex ImageReference();

    public static bool IsDnsLabel(string value) => DnsLabel().IsMatch(value);

    /// <summary>Null when <paramref name="image"/> is an image reference, else what is wrong and the fix.</summary>
    public static string? CheckImage(string image)
    {
        if (string.IsNullOrWhiteSpace(image))
        {
            return "the image is empty; give an image reference such as registry.example.com/team/counter:1.0";
        }
        if (image.Length > KubernetesLimits.ImageCharsMax || !ImageReference().IsMatch(image))
        {
            return $"'{image}' is not an image reference (at most {KubernetesLimits.ImageCharsMax} characters, e.g. registry.example.com/team/counter:1.0 or …@sha256:<digest>); fix it";
        }
        return null;
    }

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

using Concord.Contracts;
using Concord.Contracts.Scheduler.V1;
using Concord.Contracts.Types.V1;

namespace Concord.Scheduler.Security;

/// <summary>
/// What the API shows of a spec: every environment value whose name looks secret
/// (<see cref="Credentials.IsSecretName"/>) as <see cref="Credentials.RedactedValue"/>. The
/// store and the launched processes keep the real values; only what leaves the scheduler is
/// redacted, so an operator token is all it takes to read the topology, never its secrets.
/// </summary>
public static class Redaction
{
    /// <summary>A copy of <paramref name="spec"/> with its secret values hidden; the same object when it has none.</summary>
    public static OperatorSpec Redact(OperatorSpec spec)
    {
        if (!spec.Environment.Keys.Any(Credentials.IsSecretName))
        {
            return spec;
        }
        var copy = spec.Clone();
        foreach (var name in copy.Environment.Keys.Where(Credentials.IsSecretName).ToList())
        {
            copy.Environment[name] = Credentials.RedactedValue;
        }
        return copy;
    }

    /// <summary><paramref name="status"/> with its spec redacted (a copy when anything changes).</summary>
    public static OperatorStatus Redact(OperatorStatus status)
    {
        if (status.Spec is null || Redact(status.Spec) is var spec && ReferenceEquals(spec, status.Spec))
        {
            return status;
        }
        var copy = status.Clone();
        copy.Spec = spec;
        return copy;
    }
}

using System.Globalization;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>
/// The TEST DOUBLE's secrets (create, get, delete), with the API server's rules the runtime's
/// Secrets touch (name, labels, owner references, key names); the schema check is the
/// double's round trip through KubernetesClient's model, as for pods.
/// </summary>
internal sealed partial class KubernetesApiServerDouble
{
    private readonly Dictionary<string, V1Secret> _secrets = new(StringComparer.Ordinal);

    /// <summary>Every secret the runtime created, as received (after the schema check).</summary>
    public List<V1Secret> CreatedSecrets { get; } = [];

    public V1Secret? Secret(string name)
    {
        lock (_lock)
        {
            return _secrets.GetValueOrDefault(name);
        }
    }

    /// <summary>Puts a secret in place as if made earlier (a create whose answer was lost, another client).</summary>
    public void SeedSecret(V1Secret secret)
    {
        lock (_lock)
        {
            secret.Metadata.Uid ??= Guid.NewGuid().ToString();
            _secrets[secret.Metadata.Name] = secret;
        }
    }

    /// <summary>Completes once secret <paramref name="name"/> is gone (at once when it is already).</summary>
    public Task WhenSecretRemovedAsync(string name)
    {
        lock (_lock)
        {
            if (!_secrets.ContainsKey(name))
            {
                return Task.CompletedTask;
            }
            var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _secretRemovals.Add((name, removed));
            return removed.Task;
        }
    }

    private readonly List<(string Secret, TaskCompletionSource Removed)> _secretRemovals = [];

    public IReadOnlyList<string> SecretNames()
    {
        lock (_lock)
        {
            return _secrets.Keys.Order(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>
    /// Plays the kubelet resolving a container's environment: a value as it is, a secretKeyRef
    /// from the secret as stored (a missing secret or key fails, as kubelet's
    /// CreateContainerConfigError would).
    /// </summary>
    public Dictionary<string, string> ResolveEnvironment(V1Container container)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var variable in container.Env ?? [])
        {
            if (variable.ValueFrom?.SecretKeyRef is { } reference)
            {
                var secret = Secret(reference.Name) ?? throw new InvalidOperationException($"CreateContainerConfigError: secret \"{reference.Name}\" not found");
                env[variable.Name] = secret.Data.TryGetValue(reference.Key, out var bytes)
                    ? System.Text.Encoding.UTF8.GetString(bytes)
                    : throw new InvalidOperationException($"CreateContainerConfigError: couldn't find key {reference.Key} in Secret {reference.Name}");
            }
            else
            {
                env[variable.Name] = variable.Value ?? "";
            }
        }
        return env;
    }

    private async Task HandleSecretAsync(HttpContext context, string ns, string? name, string body)
    {
        switch (context.Request.Method, name)
        {
            case ("POST", null):
                await CreateSecretAsync(context, ns, body);
                return;
            case ("GET", { } secretName):
                var found = Secret(secretName);
                await (found is null ? StatusAsync(context, 404, "NotFound", $"secrets \"{secretName}\" not found") : JsonAsync(context, 200, found));
                return;
            case ("DELETE", { } secretName):
                V1Secret? removed;
                lock (_lock)
                {
                    _secrets.Remove(secretName, out removed);
                    foreach (var waiter in _secretRemovals.Where(r => r.Secret == secretName).ToList())
                    {
                        _secretRemovals.Remove(waiter);
                        waiter.Removed.TrySetResult();
                    }
                }
                // The API server answers a delete with the object as it was.
                await (removed is not null ? JsonAsync(context, 200, removed) : StatusAsync(context, 404, "NotFound", $"secrets \"{secretName}\" not found"));
                return;
            default:
                await StatusAsync(context, 405, "MethodNotAllowed", $"the double does not serve {context.Request.Method} {context.Request.Path}");
                return;
        }
    }

    private async Task CreateSecretAsync(HttpContext context, string ns, string body)
    {
        var secret = Strict<V1Secret>(body, out var problem);
        problem ??= CheckSecret(secret, ns);
        if (problem is not null)
        {
            lock (_lock)
            {
                Violations.Add(problem);
            }
            await StatusAsync(context, 422, "Invalid", problem);
            return;
        }
        bool exists;
        lock (_lock)
        {
            CreatedSecrets.Add(secret!);
            exists = _secrets.ContainsKey(secret!.Metadata.Name);
            if (!exists)
            {
                secret.Metadata.Uid = Guid.NewGuid().ToString();
                secret.Metadata.ResourceVersion = (++_version).ToString(CultureInfo.InvariantCulture);
                _secrets[secret.Metadata.Name] = secret;
            }
        }
        await (exists ? StatusAsync(context, 409, "AlreadyExists", $"secrets \"{secret.Metadata.Name}\" already exists") : JsonAsync(context, 201, secret));
    }

    private static string? CheckSecret(V1Secret? secret, string ns)
    {
        if (secret?.Metadata?.Name is not { } name || !IsSubdomain(name) || (secret.Metadata.NamespaceProperty ?? ns) != ns)
        {
            return "secret: metadata.name must be a DNS subdomain in the request's namespace";
        }
        if (CheckLabels(secret.Metadata.Labels) is { } labelProblem)
        {
            return "secret: " + labelProblem;
        }
        foreach (var owner in secret.Metadata.OwnerReferences ?? [])
        {
            if (string.IsNullOrEmpty(owner.ApiVersion) || string.IsNullOrEmpty(owner.Kind) || string.IsNullOrEmpty(owner.Name) || string.IsNullOrEmpty(owner.Uid))
            {
                return "secret: an ownerReference needs apiVersion, kind, name and uid";
            }
        }
        foreach (var key in secret.Data?.Keys ?? [])
        {
            // The API server's rule for data keys: [-._a-zA-Z0-9]+, at most 253 characters.
            if (key.Length is 0 or > 253 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
            {
                return $"secret: data key '{key}' is invalid";
            }
        }
        return null;
    }
}

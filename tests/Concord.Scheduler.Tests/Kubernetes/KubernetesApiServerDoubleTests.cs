using System.Net;
using System.Text;

namespace Concord.Scheduler.Tests.Kubernetes;

/// <summary>The schema check of the API server test double can fail: objects the real API server would refuse are refused.</summary>
public sealed class KubernetesApiServerDoubleTests
{
    [Theory]
    [InlineData("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","restartPolcy":"Always"}]}}""", "does not match the schema")]
    [InlineData("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","restartPolicy":"Always"}]}}""", "restartPolicy may only be set on init containers")]
    [InlineData("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","volumeMounts":[{"name":"v","mountPath":"/v"}]}]}}""", "which the pod does not declare")]
    [InlineData("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c","image":"i"}]}}""", "DNS subdomain")]
    [InlineData("""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1"}}}]}}""", "exceeds its limit")]
    public async Task Objects_against_the_schema_or_the_rules_are_answered_422(string body, string problem)
    {
        await using var api = await KubernetesApiServerDouble.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(api.Address) };

        using var response = await http.PostAsync("/api/v1/namespaces/streams/pods", new StringContent(body, Encoding.UTF8, "application/json")).WaitAsync(TestTimeouts.Step);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(problem, Assert.Single(api.Violations), StringComparison.Ordinal);
        Assert.Empty(api.PodNames());
    }
}

using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Concord.Scheduler.Runtime.Agents.Internal;

/// <summary>
/// An agent session is one request that lasts as long as the agent is connected, so Kestrel's
/// limit on a request body (sized for one message) would cut it after days of heartbeats. gRPC
/// lifts that limit for streaming calls itself, but only while the body is unread, and
/// RequestSizeGate reads the first frame header before gRPC runs: so it is lifted here, first.
/// Every message is still bounded by gRPC's MaxReceiveMessageSize (<see cref="SchedulerLimits.AgentMessageBytesMax"/>).
/// </summary>
internal static class AgentSessionBody
{
    public static Task InvokeAsync(HttpContext context, Func<Task> next)
    {
        if (context.Request.Path.Value == AgentSecret.SessionMethod
            && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }
        return next();
    }
}

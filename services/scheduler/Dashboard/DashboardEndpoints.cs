using System.Net;
using System.Text.Json;
using Concord.Contracts.Scheduler.V1;
using Concord.Scheduler.Dashboard.Internal;
using Concord.Scheduler.Observability;
using Concord.Scheduler.Reconcile;
using Concord.Scheduler.Security;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Concord.Scheduler.Dashboard;

/// <summary>
/// The web dashboard at /ui on the scheduler's own port (docs/dashboard.md): a login that turns
/// the operator token into a server-side session cookie (or a Bearer token, for scripts), the
/// built front end as static files, a JSON API over the same code paths as the gRPC API
/// (reconciler, observability queries, checkpoint coordinator), and one shared event stream of
/// snapshots.
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>The session cookie: an opaque id, HttpOnly, SameSite=Strict, Path=/ui.</summary>
    public const string CookieName = "concord_ui";

    /// <summary>The header every POST to /ui/api must carry (value "1"): a cross-site form cannot set it (CSRF).</summary>
    public const string CsrfHeader = "X-Concord-Dashboard";

    /// <summary>Where the dashboard lives.</summary>
    public const string BasePath = "/ui";

    /// <summary>Where login.html wants the reason a login failed (HTML-encoded).</summary>
    public const string MessagePlaceholder = "<!--message-->";

    private const string NotBuiltMessage = "the dashboard is not built; run scripts/build-ui.sh (then restart the scheduler, or pass --dashboard-dir ui/dist)";

    /// <summary>Registers the dashboard's services (sessions, the snapshot producer).</summary>
    public static IServiceCollection AddDashboard(this IServiceCollection services)
    {
        services.TryAddSingleton<DashboardTuning>();
        services.AddSingleton<DashboardSessions>();
        services.AddSingleton<DashboardFeed>();
        return services;
    }

    /// <summary>Maps /ui and everything under it.</summary>
    public static void MapDashboard(this WebApplication app)
    {
        app.MapGet(BasePath + "/login", (HttpContext http, SchedulerOptions options) => LoginPage(http, options, null));
        app.MapPost(BasePath + "/login", LoginAsync);
        app.MapPost(BasePath + "/logout", Logout);

        var api = app.MapGroup(BasePath + "/api");
        api.AddEndpointFilter(async (context, next) => Authorize(context.HttpContext) ?? await next(context).ConfigureAwait(false));
        api.MapGet("/snapshot", SnapshotAsync);
        api.MapGet("/events", EventsAsync);
        api.MapGet("/history", (DashboardFeed feed) => Results.Json(new { operators = feed.History() }, DashboardFeed.Json));
        api.MapGet("/logs", LogsAsync);
        api.MapGet("/traces", TracesAsync);
        api.MapGet("/traces/{traceId}", TraceAsync);
        api.MapPost("/scale", ScaleAsync);
        api.MapPost("/kill", KillAsync);
        api.Map("/{**rest}", (string? rest) => Error(StatusCodes.Status404NotFound,
            $"there is no dashboard API /ui/api/{rest}; see docs/dashboard.md for the endpoints"));

        // Also matches /ui itself, which becomes /ui/ so the page's relative links resolve under it.
        app.MapGet(BasePath + "/{**path}", (HttpContext http, string? path, SchedulerOptions options) =>
            http.Request.Path.Value == BasePath
                ? SeeOther(BasePath + "/")
                : Authorize(http) ?? DashboardStaticFiles.Serve(http, options.DashboardDirectory, path ?? "", NotBuiltMessage));
    }

    // ================================ authentication ================================

    /// <summary>
    /// Null when the request carries a live session cookie or the operator token as Bearer;
    /// else 401 JSON for the API, 303 to the login page for pages. POSTs to the API also need
    /// <see cref="CsrfHeader"/>.
    /// </summary>
    private static IResult? Authorize(HttpContext http)
    {
        var secrets = http.RequestServices.GetRequiredService<SchedulerSecrets>();
        var sessions = http.RequestServices.GetRequiredService<DashboardSessions>();
        var isApi = http.Request.Path.StartsWithSegments(BasePath + "/api", StringComparison.Ordinal);
        var header = http.Request.Headers.Authorization.ToString();
        var bearer = header.StartsWith(Contracts.Credentials.BearerPrefix, StringComparison.OrdinalIgnoreCase)
            ? header[Contracts.Credentials.BearerPrefix.Length..].Trim()
            : null;
        var authenticated = bearer is not null ? secrets.IsToken(bearer) : sessions.IsValid(http.Request.Cookies[CookieName]);
        if (!authenticated)
        {
            if (!isApi)
            {
                return SeeOther(BasePath + "/login");
            }
            var problem = bearer is not null ? "carries a wrong operator token" : header.Length > 0 ? "carries an Authorization header that is not a Bearer token" : "carries no session cookie and no operator token";
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Error(StatusCodes.Status401Unauthorized,
                $"the request {problem}; log in at /ui/login with the token in {secrets.TokenFile} on the scheduler's machine, or send `Authorization: Bearer <token>`");
        }
        if (isApi && HttpMethods.IsPost(http.Request.Method) && http.Request.Headers[CsrfHeader] != "1")
        {
            return Error(StatusCodes.Status403Forbidden,
                $"a dashboard action needs the header `{CsrfHeader}: 1` (it proves the request came from the dashboard's own page, not from another site's form); add it to the request");
        }
        return null;
    }

    private static IResult SeeOther(string location) => new SeeOtherResult(location);

    private static async Task<IResult> LoginAsync(HttpContext http, SchedulerSecrets secrets, DashboardSessions sessions, SchedulerTls tls, SchedulerOptions options)
    {
        LimitBody(http);
        string? token;
        try
        {
            if (!http.Request.HasFormContentType)
            {
                return LoginPage(http, options, "the login must be a form post with the field \"token\"; use the form on this page", StatusCodes.Status400BadRequest);
            }
            var form = await http.Request.ReadFormAsync(http.RequestAborted).ConfigureAwait(false);
            token = form["token"].ToString().Trim();
        }
        catch (Exception e) when (e is BadHttpRequestException or InvalidDataException)
        {
            return LoginPage(http, options, $"the login form could not be read ({e.Message}); send only the field \"token\" (at most {DashboardLimits.RequestBodyBytesMax} bytes)", StatusCodes.Status400BadRequest);
        }
        if (!secrets.IsToken(token))
        {
            // Never echoes what was sent: a pasted real token of another cluster must not end up in a page.
            return LoginPage(http, options, $"wrong token; paste the one in {secrets.TokenFile} on the scheduler's machine (or the one given with --token)", StatusCodes.Status401Unauthorized);
        }
        http.Response.Cookies.Append(CookieName, sessions.Start(), new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Strict,
            Path = BasePath,
            Secure = tls.Credentials is not null,
            MaxAge = TimeSpan.FromMilliseconds(DashboardLimits.SessionLifetimeMs),
        });
        return SeeOther(BasePath + "/");
    }

    private static IResult Logout(HttpContext http, DashboardSessions sessions)
    {
        sessions.End(http.Request.Cookies[CookieName]);
        http.Response.Cookies.Delete(CookieName, new CookieOptions { Path = BasePath });
        return SeeOther(BasePath + "/login");
    }

    /// <summary>
    /// The built login.html, with a message in place of its <see cref="MessagePlaceholder"/>;
    /// without a build (or a placeholder for a message), a minimal form of our own.
    /// </summary>
    private static IResult LoginPage(HttpContext http, SchedulerOptions options, string? message, int status = StatusCodes.Status200OK)
    {
        var built = Path.Combine(options.DashboardDirectory, "login.html");
        if (message is null && File.Exists(built))
        {
            return DashboardStaticFiles.Serve(http, options.DashboardDirectory, "login.html", NotBuiltMessage);
        }
        http.Response.Headers.CacheControl = "no-cache";
        DashboardStaticFiles.AddPageHeaders(http);
        var text = message is null ? "" : WebUtility.HtmlEncode(message);
        if (File.Exists(built) && new FileInfo(built).Length <= DashboardLimits.StaticFileBytesMax
            && File.ReadAllText(built) is var page && page.Contains(MessagePlaceholder, StringComparison.Ordinal))
        {
            return Results.Content(page.Replace(MessagePlaceholder, text, StringComparison.Ordinal), "text/html; charset=utf-8", statusCode: status);
        }
        return Results.Content(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Concord: log in</title></head><body>" +
            "<h1>Concord dashboard</h1>" + (message is null ? "" : $"<p class=\"error\" data-testid=\"error\">{text}</p>") +
            "<form method=\"post\" action=\"/ui/login\"><label>Operator token <input type=\"password\" name=\"token\" autofocus data-testid=\"token\"></label> " +
            "<button type=\"submit\" data-testid=\"login\">Log in</button></form></body></html>",
            "text/html; charset=utf-8", statusCode: status);
    }

    // ================================ snapshot and events ================================

    private static async Task<IResult> SnapshotAsync(DashboardFeed feed, DashboardTuning tuning, HttpContext http)
    {
        try
        {
            var published = await feed.CurrentAsync(tuning.SnapshotReuse, http.RequestAborted).ConfigureAwait(false);
            return Results.Json(published.Snapshot, DashboardFeed.Json);
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            return failure;
        }
    }

    private static async Task EventsAsync(HttpContext http, DashboardFeed feed, DashboardTuning tuning, IHostApplicationLifetime lifetime)
    {
        var subscriber = feed.Subscribe();
        if (subscriber is null)
        {
            await Error(StatusCodes.Status503ServiceUnavailable,
                $"{DashboardLimits.EventStreamsMax} dashboards are open on this scheduler already (DashboardLimits.EventStreamsMax); close one, or use GET /ui/api/snapshot")
                .ExecuteAsync(http).ConfigureAwait(false);
            return;
        }
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            DashboardFeed.Published first;
            try
            {
                first = await feed.CurrentAsync(tuning.PushInterval, ended.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (Failure(e) is { } failure)
            {
                await failure.ExecuteAsync(http).ConfigureAwait(false);
                return;
            }
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            http.Response.Headers["X-Accel-Buffering"] = "no";
            // No compression or buffering between the producer and the browser.
            http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await http.Response.Body.WriteAsync(first.EventBytes, ended.Token).ConfigureAwait(false);
            await http.Response.Body.FlushAsync(ended.Token).ConfigureAwait(false);
            var sent = first.EventBytes;
            using var quiet = CancellationTokenSource.CreateLinkedTokenSource(ended.Token);
            while (!ended.IsCancellationRequested)
            {
                quiet.CancelAfter(tuning.KeepAlive);
                byte[] next;
                try
                {
                    if (!await subscriber.Reader.WaitToReadAsync(quiet.Token).ConfigureAwait(false))
                    {
                        return; // the feed stopped
                    }
                    next = await subscriber.Reader.ReadAsync(ended.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ended.IsCancellationRequested)
                {
                    await http.Response.Body.WriteAsync(": keep-alive\n\n"u8.ToArray(), ended.Token).ConfigureAwait(false);
                    await http.Response.Body.FlushAsync(ended.Token).ConfigureAwait(false);
                    if (!quiet.TryReset())
                    {
                        return;
                    }
                    continue;
                }
                quiet.CancelAfter(Timeout.InfiniteTimeSpan);
                if (ReferenceEquals(next, sent))
                {
                    // A push that reused the snapshot this stream started with (computed less
                    // than half an interval before it): the browser has it already.
                    continue;
                }
                sent = next;
                // The producer's bytes as they are: serialised once for every subscriber.
                await http.Response.Body.WriteAsync(next, ended.Token).ConfigureAwait(false);
                await http.Response.Body.FlushAsync(ended.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ended.IsCancellationRequested)
        {
            // The browser went away or the scheduler is stopping.
        }
        finally
        {
            feed.Unsubscribe(subscriber);
        }
    }

    // ================================ logs and traces ================================

    private static async Task<IResult> LogsAsync(HttpContext http, ObservabilityQueries queries, string? @operator, string? lines)
    {
        if (string.IsNullOrEmpty(@operator))
        {
            return Error(StatusCodes.Status400BadRequest, "operator: is required; give the operator's name (?operator=NAME)");
        }
        var (count, problem) = ParseCount(lines, "lines", DashboardLimits.LogLinesDefault, DashboardLimits.LogLinesMax);
        if (problem is not null)
        {
            return Error(StatusCodes.Status400BadRequest, problem);
        }
        var collected = new List<object>();
        try
        {
            await queries.StreamLogsAsync(new GetLogsRequest { OperatorName = @operator, TailLines = count }, line =>
            {
                collected.Add(new { instance = line.InstanceIndex, line = line.Line });
                return Task.CompletedTask;
            }, http.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            return failure;
        }
        return Results.Json(new { lines = collected }, DashboardFeed.Json);
    }

    private static async Task<IResult> TracesAsync(HttpContext http, ObservabilityQueries queries, string? limit)
    {
        var (count, problem) = ParseCount(limit, "limit", DashboardLimits.TracesDefault, DashboardLimits.TracesMax);
        if (problem is not null)
        {
            return Error(StatusCodes.Status400BadRequest, problem);
        }
        try
        {
            var traces = await queries.ListTracesAsync(new ListTracesRequest { Limit = count }, http.RequestAborted).ConfigureAwait(false);
            return Results.Json(new
            {
                traces = traces.Traces.Select(t => new { traceId = t.TraceId, startUnixUs = t.StartUnixUs, durationUs = t.DurationUs, spanCount = t.SpanCount, operators = t.Operators.ToArray() }),
            }, DashboardFeed.Json);
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            return failure;
        }
    }

    private static async Task<IResult> TraceAsync(HttpContext http, ObservabilityQueries queries, string traceId)
    {
        try
        {
            var trace = await queries.GetTraceAsync(new GetTraceRequest { TraceId = traceId }, http.RequestAborted).ConfigureAwait(false);
            return Results.Json(new
            {
                spans = trace.Spans.Select(s => new
                {
                    traceId = s.TraceId,
                    spanId = s.SpanId,
                    parentSpanId = s.ParentSpanId,
                    @operator = s.OperatorName,
                    instance = s.InstanceIndex,
                    kind = s.Kind,
                    startUnixUs = s.StartUnixUs,
                    durationUs = s.DurationUs,
                    stream = s.Stream,
                }),
            }, DashboardFeed.Json);
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            return failure;
        }
    }

    // ================================ actions ================================

    /// <summary>The body of POST /ui/api/scale and /ui/api/kill.</summary>
    private sealed record ActionBody(string? Operator, int? Instances);

    private static async Task<IResult> ScaleAsync(HttpContext http, Reconciler reconciler, Leadership.ILeaderGate gate)
    {
        if (Standby(reconciler, gate) is { } standby)
        {
            return standby;
        }
        var (body, problem) = await ReadBodyAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        var name = body!.Operator ?? "";
        if (body.Instances is null)
        {
            return Error(StatusCodes.Status400BadRequest, "instances: is required; send {\"operator\": \"NAME\", \"instances\": N}");
        }
        if (Api.SchedulerService.ScaleProblem(name, body.Instances.Value) is { } invalid)
        {
            return Error(StatusCodes.Status400BadRequest, invalid);
        }
        try
        {
            var status = await reconciler.ScaleAsync(name, body.Instances.Value, http.RequestAborted).ConfigureAwait(false);
            return Results.Json(new { message = $"'{name}' scaled to {status.Spec.Instances} instance(s)" }, DashboardFeed.Json);
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            return failure;
        }
    }

    private static async Task<IResult> KillAsync(HttpContext http, Reconciler reconciler, Leadership.ILeaderGate gate)
    {
        if (Standby(reconciler, gate) is { } standby)
        {
            return standby;
        }
        var (body, problem) = await ReadBodyAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        var name = body!.Operator ?? "";
        if (Api.SchedulerService.NameProblem(name) is { } invalid)
        {
            return Error(StatusCodes.Status400BadRequest, invalid);
        }
        try
        {
            await reconciler.KillAsync(name, http.RequestAborted).ConfigureAwait(false);
            return Results.Json(new { message = $"'{name}' killed" }, DashboardFeed.Json);
        }
        catch (Exception e) when (Failure(e) is { } failure)
        {
            return failure;
        }
    }

    /// <summary>A standby refuses actions naming the leader (as the gRPC API does).</summary>
    private static IResult? Standby(Reconciler reconciler, Leadership.ILeaderGate gate) =>
        reconciler.IsStandby ? Error(StatusCodes.Status503ServiceUnavailable, gate.StandbyMessage) : null;

    private static async Task<(ActionBody? Body, IResult? Problem)> ReadBodyAsync(HttpContext http)
    {
        LimitBody(http);
        if (!http.Request.HasJsonContentType())
        {
            return (null, Error(StatusCodes.Status415UnsupportedMediaType, "send the action as JSON with `Content-Type: application/json`"));
        }
        try
        {
            var body = await JsonSerializer.DeserializeAsync<ActionBody>(http.Request.Body, DashboardFeed.Json, http.RequestAborted).ConfigureAwait(false);
            return body is null ? (null, Error(StatusCodes.Status400BadRequest, "the body is empty; send {\"operator\": \"NAME\"}")) : (body, null);
        }
        catch (JsonException e)
        {
            return (null, Error(StatusCodes.Status400BadRequest, $"the body is not the JSON expected ({e.Message}); send {{\"operator\": \"NAME\", \"instances\": N}}"));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Error(StatusCodes.Status413PayloadTooLarge, $"the body is larger than {DashboardLimits.RequestBodyBytesMax} bytes (DashboardLimits.RequestBodyBytesMax); send only the operator and the instance count"));
        }
    }

    private static void LimitBody(HttpContext http)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = DashboardLimits.RequestBodyBytesMax;
        }
    }

    // ================================ errors ================================

    /// <summary>
    /// The HTTP answer to the errors the shared code paths raise: the reconciler's refusals and
    /// the observability queries' statuses keep their message, only the code is translated.
    /// Null for anything else (it propagates).
    /// </summary>
    private static IResult? Failure(Exception e) => e switch
    {
        ReconcileException r => Error(r.Kind switch
        {
            ReconcileErrorKind.InvalidArgument => StatusCodes.Status400BadRequest,
            ReconcileErrorKind.NotFound => StatusCodes.Status404NotFound,
            ReconcileErrorKind.AlreadyExists or ReconcileErrorKind.FailedPrecondition or ReconcileErrorKind.ResourceExhausted => StatusCodes.Status409Conflict,
            ReconcileErrorKind.Unavailable => StatusCodes.Status503ServiceUnavailable,
            ReconcileErrorKind.PermissionDenied => StatusCodes.Status403Forbidden,
            _ => StatusCodes.Status500InternalServerError,
        }, r.Message),
        RpcException rpc => Error(rpc.StatusCode switch
        {
            StatusCode.InvalidArgument => StatusCodes.Status400BadRequest,
            StatusCode.NotFound => StatusCodes.Status404NotFound,
            StatusCode.Unavailable => StatusCodes.Status503ServiceUnavailable,
            _ => StatusCodes.Status500InternalServerError,
        }, rpc.Status.Detail),
        ZooKeeper.ZooKeeperException zk => Error(StatusCodes.Status503ServiceUnavailable,
            $"the topology in ZooKeeper cannot be read right now ({zk.Message}); retry once ZooKeeper has a quorum again"),
        _ => null,
    };

    private static IResult Error(int status, string message) => Results.Json(new { error = message }, DashboardFeed.Json, statusCode: status);

    private static (int Count, string? Problem) ParseCount(string? text, string name, int fallback, int max)
    {
        if (string.IsNullOrEmpty(text))
        {
            return (fallback, null);
        }
        return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count) && count >= 1 && count <= max
            ? (count, null)
            : (0, $"{name}: '{text}' is out of range; use 1..{max} (default {fallback})");
    }

    /// <summary>303 See Other: after a form post the browser GETs the new location.</summary>
    private sealed class SeeOtherResult(string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status303SeeOther;
            httpContext.Response.Headers.Location = location;
            return Task.CompletedTask;
        }
    }
}

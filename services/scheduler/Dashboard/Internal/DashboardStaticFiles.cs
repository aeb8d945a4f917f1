using Microsoft.AspNetCore.Http;

namespace Concord.Scheduler.Dashboard.Internal;

/// <summary>
/// Serves the built front end from one directory, and nothing else: a path of plain segments
/// ([A-Za-z0-9._-], not starting with '.', so no "..", no hidden files), a regular file (no
/// directory listing, no symbolic link out), a known type, at most
/// <see cref="DashboardLimits.StaticFileBytesMax"/>. HTML is sent with no-cache (a new build shows
/// at once); the rest with an ETag, so a reload costs a 304.
/// </summary>
internal static class DashboardStaticFiles
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".mjs"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".map"] = "application/json",
        [".json"] = "application/json",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".ico"] = "image/x-icon",
        [".woff2"] = "font/woff2",
        [".txt"] = "text/plain; charset=utf-8",
    };

    public static IResult Serve(HttpContext http, string directory, string path, string notBuiltMessage)
    {
        if (!Directory.Exists(directory))
        {
            return Results.Text(notBuiltMessage + "\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
        if (path.Length == 0)
        {
            path = "index.html";
        }
        if (!IsPlainPath(path) || !ContentTypes.TryGetValue(Path.GetExtension(path), out var contentType))
        {
            return NotFound(path);
        }
        var root = Path.GetFullPath(directory);
        var full = Path.GetFullPath(Path.Combine(root, path));
        if (!full.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            return NotFound(path);
        }
        var file = new FileInfo(full);
        if (!file.Exists || file.LinkTarget is not null || file.Length > DashboardLimits.StaticFileBytesMax)
        {
            return NotFound(path);
        }
        if (contentType.StartsWith("text/html", StringComparison.Ordinal))
        {
            http.Response.Headers.CacheControl = "no-cache";
            AddPageHeaders(http);
        }
        else
        {
            var etag = $"\"{file.Length:x}-{file.LastWriteTimeUtc.Ticks:x}\"";
            http.Response.Headers.ETag = etag;
            http.Response.Headers.CacheControl = "no-cache";
            if (http.Request.Headers.IfNoneMatch.ToString() == etag)
            {
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }
        }
        http.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.File(full, contentType);
    }

    /// <summary>What every page gets: no framing by other sites (the kill button must not be clickable through someone else's page).</summary>
    public static void AddPageHeaders(HttpContext http)
    {
        http.Response.Headers.XFrameOptions = "DENY";
        http.Response.Headers.ContentSecurityPolicy = "frame-ancestors 'none'";
        http.Response.Headers["Referrer-Policy"] = "no-referrer";
    }

    /// <summary>Segments of [A-Za-z0-9._-], none empty or starting with '.'.</summary>
    internal static bool IsPlainPath(string path) =>
        path.Length <= DashboardLimits.StaticPathCharsMax && path.Split('/').All(segment =>
            segment.Length > 0 && segment[0] != '.' && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'));

    private static IResult NotFound(string path) =>
        Results.Text($"/ui/{path} is not a file of the dashboard\n", "text/plain; charset=utf-8", statusCode: StatusCodes.Status404NotFound);
}

using System.Net;
using System.Text;
using System.Text.Json;

namespace Concord.Scheduler.Tests.Dashboard;

/// <summary>A browser's EventSource, reduced: GET /ui/api/events and read "snapshot" events one by one.</summary>
public sealed class EventStreamClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private EventStreamClient(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public HttpStatusCode Status => _response.StatusCode;

    public HttpResponseMessage Response => _response;

    /// <summary>Opens the stream; the status is not checked (the 65th subscriber's 503 is a result too).</summary>
    public static async Task<EventStreamClient> OpenAsync(HttpClient http)
    {
        var response = await http.GetAsync("/ui/api/events", HttpCompletionOption.ResponseHeadersRead).WaitAsync(DashboardFixture.Timeout);
        var stream = await response.Content.ReadAsStreamAsync().WaitAsync(DashboardFixture.Timeout);
        return new EventStreamClient(response, new StreamReader(stream, Encoding.UTF8));
    }

    /// <summary>The next event's name and data (comments such as keep-alives skipped).</summary>
    public async Task<(string Event, JsonElement Data)> NextAsync()
    {
        string? name = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await _reader.ReadLineAsync().WaitAsync(DashboardFixture.Timeout)
                ?? throw new EndOfStreamException("the event stream ended");
            if (line.Length == 0)
            {
                if (name is not null)
                {
                    return (name, JsonDocument.Parse(data.ToString()).RootElement.Clone());
                }
                continue;
            }
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data.Append(line["data: ".Length..]);
            }
        }
    }

    /// <summary>The next snapshot event's data.</summary>
    public async Task<JsonElement> NextSnapshotAsync()
    {
        var (name, data) = await NextAsync();
        Assert.Equal("snapshot", name);
        return data;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}

using Serilog;
using Serilog.Events;

namespace Concord.Hosting.Tests;

public sealed class ConcordLoggingTests
{
    [Theory]
    [InlineData("json", true)]
    [InlineData("JSON", true)]
    [InlineData("text", false)]
    [InlineData(null, false)]
    public void Json_is_chosen_by_the_log_format_value(string? value, bool json)
    {
        Assert.Equal(json, ConcordLogging.IsJson(value));
    }

    [Fact]
    public void Events_carry_the_configured_properties_and_the_levels_are_the_services_levels()
    {
        var sink = new ListSink();
        using var logger = new LoggerConfiguration()
            .ConfigureConcord(new ConcordLogSettings { Properties = [new("operator", "counter"), new("instance", "counter/1")] })
            .WriteTo.Sink(sink)
            .CreateLogger();

        logger.ForContext("SourceContext", "Microsoft.AspNetCore.Routing").Information("hidden");
        logger.ForContext("SourceContext", "Grpc.Net.Client").Warning("shown");
        logger.Debug("hidden");
        logger.Information("shown");

        Assert.Equal(2, sink.Events.Count);
        Assert.All(sink.Events, e =>
        {
            Assert.Equal("\"counter\"", e.Properties["operator"].ToString());
            Assert.Equal("\"counter/1\"", e.Properties["instance"].ToString());
        });
    }

    private sealed class ListSink : Serilog.Core.ILogEventSink
    {
        public List<LogEvent> Events { get; } = [];

        public void Emit(LogEvent logEvent) => Events.Add(logEvent);
    }
}

using System.Runtime.InteropServices;
using Concord.Executor;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;

// The executor sidecar. Configuration comes from the environment (ExecutorOptions); exit codes:
// 0 stopped on request, 1 failed (reported to the scheduler), 2 configuration invalid.
// Human-readable lines by default; CONCORD_LOG_FORMAT=json (set on the scheduler, which the
// executors inherit) writes one JSON object per event for log shippers. Every event carries
// the operator and instance, so the operator's own stdout/stderr lines (SessionLog) are
// tagged too.
var logConfiguration = new LoggerConfiguration()
    .MinimumLevel.Information()
    .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
    .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
    .Enrich.WithProperty("instance", $"{Environment.GetEnvironmentVariable(ExecutorOptions.OperatorNameVariable)}/{Environment.GetEnvironmentVariable(ExecutorOptions.InstanceIndexVariable)}")
    .Enrich.WithProperty("operator", Environment.GetEnvironmentVariable(ExecutorOptions.OperatorNameVariable) ?? "")
    .Enrich.WithProperty("instanceIndex", Environment.GetEnvironmentVariable(ExecutorOptions.InstanceIndexVariable) ?? "");
Log.Logger = (string.Equals(Environment.GetEnvironmentVariable("CONCORD_LOG_FORMAT"), "json", StringComparison.OrdinalIgnoreCase)
        ? logConfiguration.WriteTo.Console(new Serilog.Formatting.Compact.RenderedCompactJsonFormatter(), standardErrorFromLevel: LogEventLevel.Verbose)
        : logConfiguration.WriteTo.Console(
            outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {instance} {SourceContext}: {Message:lj}{NewLine}{Exception}",
            standardErrorFromLevel: LogEventLevel.Verbose))
    .CreateLogger();
using var loggerFactory = new SerilogLoggerFactory(Log.Logger, dispose: false);

int exitCode;
try
{
    ExecutorOptions options;
    try
    {
        options = ExecutorOptions.FromEnvironment(Environment.GetEnvironmentVariable);
    }
    catch (ExecutorConfigException e)
    {
        Log.Fatal("Executor configuration is invalid: {Problem}", e.Message);
        return ExecutorHost.ExitConfig;
    }

    using var stop = new CancellationTokenSource();
    void OnSignal(PosixSignalContext context)
    {
        // Drain instead of dying: the host sends Shutdown and exits 0 (bounded).
        context.Cancel = true;
        stop.Cancel();
    }
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

    exitCode = await ExecutorHost.RunAsync(options, loggerFactory, TimeProvider.System, stop.Token);
}
finally
{
    await Log.CloseAndFlushAsync();
}
return exitCode;

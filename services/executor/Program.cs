using System.Runtime.InteropServices;
using Concord.Executor;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;

// The executor sidecar. Configuration comes from the environment (ExecutorOptions); exit codes:
// 0 stopped on request, 1 failed (reported to the scheduler), 2 configuration invalid.
Log.Logger = new LoggerConfiguration()
    .MinimumLevel.Information()
    .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
    .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
    .Enrich.WithProperty("instance", $"{Environment.GetEnvironmentVariable(ExecutorOptions.OperatorNameVariable)}/{Environment.GetEnvironmentVariable(ExecutorOptions.InstanceIndexVariable)}")
    .WriteTo.Console(
        outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} {instance} {SourceContext}: {Message:lj}{NewLine}{Exception}",
        standardErrorFromLevel: LogEventLevel.Verbose)
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

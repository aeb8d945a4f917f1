using System.Runtime.InteropServices;
using Concord.Executor;
using Concord.Hosting;
using Serilog;
using Serilog.Extensions.Logging;

// The executor sidecar. Configuration comes from the environment (ExecutorOptions); exit codes:
// 0 stopped on request, 1 failed (reported to the scheduler), 2 configuration invalid.
// Human-readable lines by default; CONCORD_LOG_FORMAT=json (set on the scheduler, which the
// executors inherit) writes one JSON object per event for log shippers. Every event carries
// the operator and instance, so the operator's own stdout/stderr lines (SessionLog) are
// tagged too. ExecutorOptions reads the environment; this is the one place that hands it over.
Func<string, string?> environment = Environment.GetEnvironmentVariable;
Log.Logger = new LoggerConfiguration()
    .ConfigureConcord(ExecutorOptions.LogSettingsFromEnvironment(environment))
    .CreateLogger();
using var loggerFactory = new SerilogLoggerFactory(Log.Logger, dispose: false);

int exitCode;
try
{
    ExecutorOptions options;
    try
    {
        options = ExecutorOptions.FromEnvironment(environment);
        CheckLabels(args, options);
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

// The local runtime adds `--operator NAME --instance N --home DIR` so `ps` tells clusters and
// instances apart; they only label the process (the environment configures it), but labels
// that contradict the environment would mislead whoever reads `ps`, so they are checked.
static void CheckLabels(string[] args, ExecutorOptions options)
{
    for (var i = 0; i < args.Length; i += 2)
    {
        var value = i + 1 < args.Length ? args[i + 1] : null;
        var expected = args[i] switch
        {
            "--operator" => options.OperatorName,
            "--instance" => options.InstanceIndex.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--home" => value, // The scheduler's home; the executor has no use for it.
            _ => throw new ExecutorConfigException($"unknown argument '{args[i]}'; the executor accepts only --operator NAME --instance N --home DIR (labels for ps) and reads its configuration from the environment"),
        };
        if (value is null || value != expected)
        {
            throw new ExecutorConfigException($"argument {args[i]} is '{value}' but the environment says '{expected}'; the labels must match CONCORD_OPERATOR_NAME and CONCORD_INSTANCE_INDEX");
        }
    }
}

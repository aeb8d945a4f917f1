using System.Net;
using System.Runtime.InteropServices;
using Concord.Contracts;
using Concord.Sdk.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Concord.Sdk;

/// <summary>
/// Serves a <see cref="Computation"/> to its executor over the operator session.
/// <list type="bullet">
/// <item><see cref="Serve"/> / <see cref="ServeAsync(Computation, string[])"/>: what an operator's
/// <c>Main</c> calls. Reads CONCORD_OPERATOR_ADDRESS, serves the one session, and exits the
/// process: 0 after Shutdown, 1 after a fatal error, 2 when started without an address.</item>
/// <item><see cref="ServeAsync(Computation, string, CancellationToken, TimeProvider)"/>: the same
/// session in-process (tests, embedding); returns the outcome instead of exiting.</item>
/// </list>
/// </summary>
public static class ComputationHost
{
    /// <summary>Serves <paramref name="computation"/> and exits the process when the session is over.</summary>
    /// <param name="args">Passed to the ASP.NET Core host as configuration; usually none.</param>
    public static void Serve(Computation computation, string[]? args = null) =>
        ServeAsync(computation, args).GetAwaiter().GetResult();

    /// <summary>Serves <paramref name="computation"/> and exits the process when the session is over.</summary>
    /// <param name="args">Passed to the ASP.NET Core host as configuration; usually none.</param>
    public static async Task ServeAsync(Computation computation, string[]? args = null)
    {
        ArgumentNullException.ThrowIfNull(computation);
        var address = Environment.GetEnvironmentVariable(ProtocolLimits.OperatorAddressVariable);
        if (string.IsNullOrWhiteSpace(address))
        {
            await Console.Error.WriteLineAsync(
                $"concord: {ProtocolLimits.OperatorAddressVariable} is not set. This program is a Concord operator: " +
                "its executor starts it and sets the variable. Deploy it with `concord deploy <file>.json`, " +
                $"or set {ProtocolLimits.OperatorAddressVariable}=/tmp/op.sock to serve a session by hand.");
            Environment.Exit(SessionOutcome.ExitCodeUsage);
        }

        using var stop = new CancellationTokenSource();
        // SIGTERM / Ctrl+C end the session cleanly (Destroy, exit 0) instead of killing the process.
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        SessionOutcome outcome;
        try
        {
            outcome = await ServeAsync(computation, address, stop.Token, timeProvider: null, args);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"concord: {ProtocolLimits.OperatorAddressVariable}: {e.Message}");
            Environment.Exit(SessionOutcome.ExitCodeUsage);
            return;
        }
        if (outcome.ExitCode != SessionOutcome.ExitCodeClean)
        {
            await Console.Error.WriteLineAsync($"concord: operator session failed: {outcome.Reason}");
        }
        await Console.Out.FlushAsync();
        Environment.Exit(outcome.ExitCode);

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    /// <summary>
    /// Serves one session of <paramref name="computation"/> on <paramref name="address"/> (a unix
    /// socket path, <c>unix:///path</c>, or <c>host:port</c>) and returns how it ended. Cancelling
    /// <paramref name="cancellationToken"/> stops cleanly: Destroy runs, the stream completes,
    /// and the outcome has exit code 0.
    /// </summary>
    /// <param name="timeProvider">Clock for the times the SDK stamps on records; null means the system clock.</param>
    /// <exception cref="ArgumentException">the address is not a valid operator address.</exception>
    public static Task<SessionOutcome> ServeAsync(
        Computation computation, string address, CancellationToken cancellationToken, TimeProvider? timeProvider = null) =>
        ServeAsync(computation, address, cancellationToken, timeProvider, args: null);

    private static async Task<SessionOutcome> ServeAsync(
        Computation computation, string address, CancellationToken cancellationToken, TimeProvider? timeProvider, string[]? args)
    {
        ArgumentNullException.ThrowIfNull(computation);
        var endpoint = OperatorAddress.Parse(address);
        if (endpoint.IsUnixSocket && File.Exists(endpoint.UnixSocketPath))
        {
            // A socket file left by an earlier run of this instance would make bind fail.
            File.Delete(endpoint.UnixSocketPath!);
        }

        var time = timeProvider ?? TimeProvider.System;
        var sessions = new SessionHost(computation, time);
        var builder = WebApplication.CreateSlimBuilder(args ?? []);
        ConfigureQuietLogging(builder.Logging);
        builder.Services.AddSingleton<IHostLifetime, NoSignalLifetime>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromMilliseconds(SdkLimits.ServerStopTimeoutMs));
        builder.Services.AddSingleton(sessions);
        builder.Services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = ProtocolLimits.GrpcMessageBytesMax;
            o.MaxSendMessageSize = ProtocolLimits.GrpcMessageBytesMax;
        });
        builder.WebHost.ConfigureKestrel(kestrel => Listen(kestrel, endpoint));

        await using var app = builder.Build();
        app.Use(async (context, next) =>
        {
            await next(context);
            // Flush the end of the session stream, and let the executor read it, before the
            // outcome lets the server stop.
            await context.Response.CompleteAsync();
            await sessions.FinishAsync();
        });
        app.MapGrpcService<OperatorService>();
        await app.StartAsync(cancellationToken);
        try
        {
            using var onCancel = cancellationToken.Register(() => sessions.RequestStop("the process was asked to stop"));
            using var openTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(SdkLimits.SessionOpenTimeoutMs), time);
            using var openOrCancel = CancellationTokenSource.CreateLinkedTokenSource(openTimeout.Token, cancellationToken);
            try
            {
                await sessions.Opened.WaitAsync(openOrCancel.Token);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return new SessionOutcome(SessionOutcome.ExitCodeClean, "stopped before an executor opened the session");
            }
            catch (OperationCanceledException)
            {
                return new SessionOutcome(SessionOutcome.ExitCodeFatal,
                    $"no executor opened a session on {endpoint} within {SdkLimits.SessionOpenTimeoutMs} ms " +
                    "(SdkLimits.SessionOpenTimeoutMs); operators are started by a Concord executor, deploy with `concord deploy`");
            }
            return await sessions.Completed;
        }
        finally
        {
            using var stopTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(SdkLimits.ServerStopTimeoutMs));
            try
            {
                await app.StopAsync(stopTimeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Idle connections that would not close; the session is over either way.
            }
            if (endpoint.IsUnixSocket)
            {
                File.Delete(endpoint.UnixSocketPath!);
            }
        }
    }

    private static void Listen(KestrelServerOptions kestrel, OperatorAddress endpoint)
    {
        // HTTP/2 only: without TLS, Http1AndHttp2 would negotiate HTTP/1.1 and gRPC would fail.
        static void Http2(ListenOptions o) => o.Protocols = HttpProtocols.Http2;
        kestrel.Limits.MaxRequestBodySize = null; // a session is one long stream
        if (endpoint.IsUnixSocket)
        {
            kestrel.ListenUnixSocket(endpoint.UnixSocketPath!, Http2);
        }
        else if (string.Equals(endpoint.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            kestrel.ListenLocalhost(endpoint.Port, Http2);
        }
        else if (IPAddress.TryParse(endpoint.Host!.Trim('[', ']'), out var ip))
        {
            kestrel.Listen(ip, endpoint.Port, Http2);
        }
        else
        {
            var resolved = Dns.GetHostAddresses(endpoint.Host!);
            if (resolved.Length == 0)
            {
                throw new ArgumentException($"host '{endpoint.Host}' in the operator address does not resolve; use an IP address or a unix socket path");
            }
            kestrel.Listen(resolved[0], endpoint.Port, Http2);
        }
    }

    /// <summary>
    /// The operator's stdout belongs to the user: ASP.NET Core logs only warnings and errors, and
    /// only to stderr.
    /// </summary>
    private static void ConfigureQuietLogging(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddSimpleConsole(o => o.SingleLine = true);
        logging.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    }
}

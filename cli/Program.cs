using System.Runtime.InteropServices;
using Concord.Cli;

// Ctrl-C / SIGTERM cancel the running command (which stops a foreground scheduler, or a wait)
// instead of killing the CLI mid-way.
using var interrupted = new CancellationTokenSource();
void Cancel(PosixSignalContext context)
{
    context.Cancel = true;
    interrupted.Cancel();
}
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Cancel);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Cancel);

return await ConcordCli.RunAsync(
    args,
    Console.Out,
    Console.Error,
    Environment.GetEnvironmentVariable,
    interactive: !Console.IsOutputRedirected,
    TimeProvider.System,
    interrupted.Token);

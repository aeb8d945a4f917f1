using Microsoft.Extensions.Hosting;

namespace Concord.Sdk.Internal;

/// <summary>
/// Replaces the console lifetime: the in-process host must not react to SIGTERM or Ctrl+C by
/// itself (several can live in one test process). The top-level Serve handles signals and
/// turns them into a clean stop of the session.
/// </summary>
internal sealed class NoSignalLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

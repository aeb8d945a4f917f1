namespace Concord.Sdk;

/// <summary>
/// How an operator session ended, as returned by the in-process
/// <see cref="ComputationHost.ServeAsync(Computation, string, CancellationToken, TimeProvider?)"/>.
/// The top-level <see cref="ComputationHost.Serve"/> exits the process with <see cref="ExitCode"/>.
/// </summary>
/// <param name="ExitCode">0 after Shutdown (or a requested stop) and Destroy; 1 after a fatal error.</param>
/// <param name="Reason">Why the session ended, for the operator's stderr.</param>
public sealed record SessionOutcome(int ExitCode, string Reason)
{
    /// <summary>Exit code after a clean shutdown.</summary>
    public const int ExitCodeClean = 0;

    /// <summary>Exit code after a fatal error (user exception, protocol error, lost executor).</summary>
    public const int ExitCodeFatal = 1;

    /// <summary>Exit code when the process was started wrongly (no or bad CONCORD_OPERATOR_ADDRESS).</summary>
    public const int ExitCodeUsage = 2;
}

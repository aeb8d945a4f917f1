namespace Concord.Cli.Internal;

/// <summary>
/// A failure the user can fix: printed as one line to stderr (no stack trace) and turned into
/// the exit code. Every message names the problem and what to do about it.
/// </summary>
internal sealed class CliException(string message, int exitCode = ExitCodes.Failure) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Exit codes of the <c>concord</c> command.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command failed (bad input, scheduler error, timeout).</summary>
    public const int Failure = 1;

    /// <summary>Interrupted by Ctrl-C / SIGTERM, as shells report SIGINT (128 + 2).</summary>
    public const int Interrupted = 130;
}

namespace Concord.Testing;

/// <summary>
/// Bounds for every await in the tests, by what is awaited. Generous: they only turn a hang into
/// a failure on a loaded 2-core CI machine, and never decide a pass.
/// </summary>
public static class TestTimeouts
{
    /// <summary>One in-process step (a message, a call, a completion), in seconds.</summary>
    public const int StepSeconds = 20;

    /// <summary>A child process starting, answering or exiting (a CLI command, an executor), in seconds.</summary>
    public const int ProcessSeconds = 30;

    /// <summary>Records through a multi-process pipeline (scheduler, executors, operators), in seconds.</summary>
    public const int FlowSeconds = 90;

    public static readonly TimeSpan Step = TimeSpan.FromSeconds(StepSeconds);

    public static readonly TimeSpan Process = TimeSpan.FromSeconds(ProcessSeconds);

    public static readonly TimeSpan Flow = TimeSpan.FromSeconds(FlowSeconds);
}

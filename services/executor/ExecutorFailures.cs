namespace Concord.Executor;

/// <summary>
/// A failure that ends the executor with exit code 1. The message is what the executor logs
/// and reports to the scheduler (ReportFailure), so it names the problem and the fix.
/// </summary>
public class ExecutorFailureException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The operator broke the session protocol (order, seq, unknown stream, oversized record).</summary>
public sealed class OperatorProtocolException(string message) : ExecutorFailureException(message);

/// <summary>The operator failed: process exit, fatal Error, broken session, bad metadata.</summary>
public sealed class OperatorFailedException(string message, Exception? inner = null) : ExecutorFailureException(message, inner);

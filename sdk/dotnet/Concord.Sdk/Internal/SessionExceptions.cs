namespace Concord.Sdk.Internal;

/// <summary>A user callback threw; the session ends with Error{fatal}.</summary>
internal sealed class UserCodeException(string callback, Exception inner)
    : Exception($"{callback} threw {inner.GetType().FullName}: {inner.Message}", inner);

/// <summary>The executor broke the session rules; the session ends with Error{fatal}.</summary>
internal sealed class ProtocolViolationException(string message)
    : Exception($"protocol error: {message}");

/// <summary>The response stream is gone, so nothing more can be sent.</summary>
internal sealed class SessionAbortedException(string message) : Exception(message);

namespace Concord.Contracts;

/// <summary>
/// The operator's listen address from CONCORD_OPERATOR_ADDRESS: a unix socket path
/// ("/tmp/x.sock" or "unix:///tmp/x.sock") or "host:port".
/// </summary>
public sealed record OperatorAddress(string? UnixSocketPath, string? Host, int Port)
{
    public bool IsUnixSocket => UnixSocketPath is not null;

    public static OperatorAddress Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        if (text.StartsWith("unix://", StringComparison.Ordinal))
        {
            text = text["unix://".Length..];
        }
        if (text.StartsWith('/') || text.StartsWith("./", StringComparison.Ordinal))
        {
            if (System.Text.Encoding.UTF8.GetByteCount(text) > ProtocolLimits.UnixSocketPathBytesMax)
            {
                throw new ArgumentException(
                    $"unix socket path '{text}' is longer than {ProtocolLimits.UnixSocketPathBytesMax} bytes; use a shorter working directory or a host:port address");
            }
            return new OperatorAddress(text, null, 0);
        }
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65535)
        {
            throw new ArgumentException(
                $"'{text}' is not an operator address; expected a unix socket path (/path/op.sock) or host:port (127.0.0.1:7001)");
        }
        return new OperatorAddress(null, text[..colon], port);
    }

    public override string ToString() => IsUnixSocket ? $"unix://{UnixSocketPath}" : $"{Host}:{Port}";
}

using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Concord.Contracts;
using Concord.Scheduler.Security;

namespace Concord.Scheduler.Runtime.Agents;

/// <summary>
/// The cluster's agent secret (docs/security.md, docs/cluster.md "Agents"): every agent presents
/// it in the <see cref="Header"/> header of its session. The scheduler of the agents runtime makes
/// it on first start in <c>&lt;home&gt;/agent.secret</c> (32 random bytes, base64url, 0600); the
/// operator copies that file to each agent host (<c>--agent-secret-file</c>). Compared in
/// constant time and never echoed, like the operator token.
/// </summary>
public sealed class AgentSecret
{
    /// <summary>File in the scheduler's home holding the agent secret.</summary>
    public const string FileName = "agent.secret";

    /// <summary>The header an agent sends the secret in.</summary>
    public const string Header = "x-concord-agent-secret";

    /// <summary>The gRPC method of the agent session, which needs this secret instead of the operator token.</summary>
    public const string SessionMethod = "/concord.agent.v1.Agents/AgentSession";

    private readonly string? _secret;

    private AgentSecret(string? secret, string file)
    {
        _secret = secret;
        File = file;
    }

    /// <summary>Where the secret is on the scheduler's machine.</summary>
    public string File { get; }

    /// <summary>
    /// The home's agent secret: read, or made when <paramref name="create"/> (the agents runtime);
    /// without it and without the file, no agent is accepted.
    /// </summary>
    public static AgentSecret Load(string homeDirectory, bool create)
    {
        var file = Path.Combine(homeDirectory, FileName);
        if (System.IO.File.Exists(file))
        {
            var text = System.IO.File.ReadAllText(file).Trim();
            if (text.Length >= SchedulerLimits.TokenCharsMin)
            {
                return new AgentSecret(text, file);
            }
        }
        if (!create)
        {
            return new AgentSecret(null, file);
        }
        var secret = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(SchedulerLimits.SecretBytes));
        SchedulerSecrets.WriteOwnerOnly(file, Encoding.UTF8.GetBytes(secret));
        return new AgentSecret(secret, file);
    }

    /// <summary>True when <paramref name="presented"/> is the agent secret (constant time).</summary>
    public bool Is(string? presented) => _secret is not null && Credentials.SecretEquals(presented, _secret);

    /// <summary>Reads the secret an agent presents from <paramref name="file"/>.</summary>
    /// <exception cref="UsageException">The file is missing or too short; the message says where it comes from.</exception>
    public static string ReadForAgent(string file)
    {
        if (!System.IO.File.Exists(file))
        {
            throw new UsageException(
                $"agent secret file '{file}' does not exist; copy {FileName} from the scheduler's home (made when it starts with --runtime agents) and pass it with --agent-secret-file");
        }
        var text = System.IO.File.ReadAllText(file).Trim();
        if (text.Length < SchedulerLimits.TokenCharsMin)
        {
            throw new UsageException($"agent secret file '{file}' holds {text.Length} characters, fewer than {SchedulerLimits.TokenCharsMin}; copy {FileName} from the scheduler's home again");
        }
        return text;
    }
}

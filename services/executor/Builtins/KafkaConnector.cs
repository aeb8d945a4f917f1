using System.Text.Json;
using Concord.Contracts;
using Concord.Contracts.Types.V1;
using Confluent.Kafka;
using Microsoft.Extensions.Logging;

namespace Concord.Executor.Builtins;

/// <summary>
/// What kafka-source and kafka-sink share: option parsing (named options plus "kafka.*"
/// pass-through), the bootstrap address (including the development Kafka's kafka.json), the
/// start-up topic check, and rate-limited routing of librdkafka's logs and errors.
/// </summary>
internal sealed class KafkaConnector
{
    /// <summary>The bootstrap value that means "the development Kafka of this home".</summary>
    public const string DevBootstrap = "dev";

    /// <summary>File a running `concord kafka-dev` writes in the home directory (tools/Concord.KafkaDev).</summary>
    public const string DevFileName = "kafka.json";

    /// <summary>Directories above the work dir searched for kafka.json (the work dir is &lt;home&gt;/instances/&lt;op&gt;/&lt;i&gt;).</summary>
    private const int DevFileSearchDepthMax = 4;

    private readonly BuiltinOperator _builtin;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly KafkaMetrics _metrics;
    private readonly RateLimitedLog _clientLogs;
    private readonly RateLimitedLog _clientErrors;
    private long _allBrokersDownSinceTimestamp;
    private Error? _fatal;

    /// <param name="concordHome">$CONCORD_HOME (<see cref="ExecutorOptions.ConcordHome"/>): where a development Kafka is looked for last.</param>
    public KafkaConnector(OperatorSpec spec, string workDir, ILogger logger, TimeProvider time, KafkaMetrics metrics, string? concordHome)
    {
        _metrics = metrics;
        _builtin = spec.Builtin;
        _logger = logger;
        _time = time;
        _clientLogs = new RateLimitedLog(time);
        _clientErrors = new RateLimitedLog(time);
        // Checks the option names: Concord's, and "kafka.*" for librdkafka.
        Options = new BuiltinOptions(spec.Builtin, (OperatorSpecValidator.KafkaPassThroughPrefix, "librdkafka"));
        Kind = spec.Builtin.Kind;
        ConfinePassThrough(spec, workDir);
        Topic = Options.Required("topic", "the Kafka topic to read or write, e.g. \"topic\": \"words\"");
        (Bootstrap, BootstrapOrigin) = ResolveBootstrap(Options.String("bootstrap"), workDir, concordHome);
    }

    /// <summary>
    /// librdkafka properties that make it load a library or run a command: never from a deploy,
    /// since a built-in runs inside the executor with its rights (and would get round the
    /// scheduler's --executables-root).
    /// </summary>
    private static readonly IReadOnlySet<string> ProgramProperties = new HashSet<string>(StringComparer.Ordinal)
    {
        "plugin.library.paths", "sasl.kerberos.kinit.cmd", "ssl.engine.location",
    };

    /// <summary>Pass-through file properties, resolved and confined like any built-in path; by "kafka.*" key.</summary>
    private readonly Dictionary<string, string> _confinedPaths = new(StringComparer.Ordinal);

    /// <summary>
    /// Refuses the program properties and confines the file ones (*.location, the keytab) to the
    /// instance's directory and the data directories (docs/security.md), handing librdkafka the
    /// checked absolute path.
    /// </summary>
    private void ConfinePassThrough(OperatorSpec spec, string workDir)
    {
        foreach (var (key, value) in _builtin.Options)
        {
            if (!key.StartsWith(OperatorSpecValidator.KafkaPassThroughPrefix, StringComparison.Ordinal))
            {
                continue;
            }
            var property = key[OperatorSpecValidator.KafkaPassThroughPrefix.Length..];
            if (ProgramProperties.Contains(property))
            {
                throw new OperatorFailedException(
                    $"built-in '{Kind}' option '{key}' makes librdkafka load or run a program, which a built-in may not; remove it " +
                    "(a Kafka client that needs it can run as an operator program)");
            }
            if (value.Length > 0 && (property.EndsWith(".location", StringComparison.Ordinal) || property == "sasl.kerberos.keytab"))
            {
                _confinedPaths[key] = BuiltinOptions.ResolvePath(spec, key, value, workDir);
            }
        }
    }

    public string Kind { get; }

    /// <summary>This built-in's options (Concord's; the "kafka.*" ones go to librdkafka through <see cref="ApplyPassThrough"/>).</summary>
    public BuiltinOptions Options { get; }

    public string Topic { get; }

    public string Bootstrap { get; }

    /// <summary>Where <see cref="Bootstrap"/> came from, for error messages.</summary>
    public string BootstrapOrigin { get; }

    /// <summary>Applies the "kafka.*" options last, so they override Concord's defaults.</summary>
    public void ApplyPassThrough(ClientConfig config)
    {
        foreach (var (key, value) in _builtin.Options)
        {
            if (key.StartsWith(OperatorSpecValidator.KafkaPassThroughPrefix, StringComparison.Ordinal))
            {
                config.Set(key[OperatorSpecValidator.KafkaPassThroughPrefix.Length..], _confinedPaths.GetValueOrDefault(key, value));
            }
        }
    }

    /// <summary>Turns librdkafka's refusal of a configuration into an error naming the option.</summary>
    public OperatorFailedException ConfigRejected(Exception e) => new(
        $"{Kind}: librdkafka rejected the configuration: {e.Message}; fix or remove the \"kafka.*\" option it names (see https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md)", e);

    /// <summary>librdkafka's log lines, warnings and worse only, rate-limited.</summary>
    public void OnClientLog(LogMessage message)
    {
        if (message.Level <= SyslogLevel.Warning && _clientLogs.ShouldLog(message.Facility, out var suppressed))
        {
            KafkaLog.ClientLog(_logger, message.Facility, message.Message, suppressed);
        }
    }

    /// <summary>Client errors: logged rate-limited; fatal ones and long outages end the connector (<see cref="ThrowIfBroken"/>).</summary>
    public void OnClientError(Error error)
    {
        if (error.IsFatal)
        {
            Volatile.Write(ref _fatal, error);
        }
        _metrics.ClientErrors.WithLabels(error.Code.ToString()).Inc();
        if (error.Code == ErrorCode.Local_AllBrokersDown)
        {
            Interlocked.CompareExchange(ref _allBrokersDownSinceTimestamp, _time.GetTimestamp(), 0);
        }
        if (_clientErrors.ShouldLog(error.Code.ToString(), out var suppressed))
        {
            KafkaLog.ClientError(_logger, error.Code.ToString(), error.Reason, suppressed);
        }
    }

    /// <summary>Called when a request succeeded: the cluster is reachable again.</summary>
    public void Reachable() => Interlocked.Exchange(ref _allBrokersDownSinceTimestamp, 0);

    /// <summary>
    /// Throws when the client hit a fatal error or every broker has been down too long.
    /// librdkafka reports "all brokers down" but not their return, so before failing one
    /// bounded metadata request checks whether the cluster answers again.
    /// </summary>
    public void ThrowIfBroken(Handle handle)
    {
        if (Volatile.Read(ref _fatal) is { } fatal)
        {
            throw new OperatorFailedException($"{Kind}: fatal Kafka client error {fatal.Code}: {fatal.Reason}; the connector cannot continue (it restarts with back-off)");
        }
        var since = Interlocked.Read(ref _allBrokersDownSinceTimestamp);
        if (since != 0 && _time.GetElapsedTime(since).TotalMilliseconds >= KafkaLimits.AllBrokersDownFailMs)
        {
            try
            {
                using var admin = new DependentAdminClientBuilder(handle).Build();
                admin.GetMetadata(Topic, TimeSpan.FromMilliseconds(KafkaLimits.MetadataRequestTimeoutMs));
                Reachable();
                return;
            }
            catch (KafkaException)
            {
                // Still down: fail below.
            }
            throw new OperatorFailedException(
                $"{Kind}: every Kafka broker at {Bootstrap} ({BootstrapOrigin}) has been unreachable for {KafkaLimits.AllBrokersDownFailMs / 1000} s (KafkaLimits.AllBrokersDownFailMs); check that the cluster is up and option 'bootstrap' is right");
        }
    }

    /// <summary>
    /// Waits (bounded by <see cref="KafkaLimits.StartupMetadataTimeoutMs"/>) until the cluster
    /// answers and knows the topic; returns its partition count. Runs once at start, so a wrong
    /// address or topic fails the instance with a message saying what to fix.
    /// </summary>
    public int CheckTopic(Handle handle)
    {
        using var admin = new DependentAdminClientBuilder(handle).Build();
        var started = _time.GetTimestamp();
        string? lastProblem = null;
        var missing = false;
        while (true)
        {
            var left = KafkaLimits.StartupMetadataTimeoutMs - (int)_time.GetElapsedTime(started).TotalMilliseconds;
            if (left <= 0)
            {
                break;
            }
            try
            {
                var metadata = admin.GetMetadata(Topic, TimeSpan.FromMilliseconds(Math.Min(left, KafkaLimits.MetadataRequestTimeoutMs)));
                var topic = metadata.Topics.FirstOrDefault(t => t.Topic == Topic);
                if (topic is not null && topic.Error.Code == ErrorCode.NoError && topic.Partitions.Count > 0)
                {
                    Reachable();
                    KafkaLog.Connected(_logger, Kind, Bootstrap, Topic, topic.Partitions.Count);
                    return topic.Partitions.Count;
                }
                if (!missing)
                {
                    KafkaLog.TopicMissing(_logger, Kind, Topic, Bootstrap);
                }
                missing = true;
                lastProblem = topic?.Error.Reason ?? "not in the metadata";
            }
            catch (KafkaException e)
            {
                missing = false;
                lastProblem = e.Error.Reason;
            }
            Thread.Sleep(KafkaLimits.MetadataRetryMs);
        }
        throw missing
            ? new OperatorFailedException(
                $"{Kind}: topic '{Topic}' does not exist on {Bootstrap} ({BootstrapOrigin}): {lastProblem}; create it (on the development Kafka: `concord kafka-dev --topics {Topic}`) or fix option 'topic'")
            : new OperatorFailedException(
                $"{Kind}: cannot reach Kafka at {Bootstrap} ({BootstrapOrigin}) within {KafkaLimits.StartupMetadataTimeoutMs / 1000} s ({lastProblem ?? "no answer"}); check option 'bootstrap' and that the cluster is up (for development: `concord kafka-dev`)");
    }

    /// <summary>
    /// The bootstrap servers: the option, or — when it is unset or "dev" — the development
    /// Kafka's kafka.json in a directory above the work dir (the scheduler's home), else in $CONCORD_HOME.
    /// </summary>
    internal static (string Servers, string Origin) ResolveBootstrap(string? option, string workDir, string? concordHome)
    {
        if (option is not null && option != DevBootstrap)
        {
            return (option, "option 'bootstrap'");
        }
        // The scheduler's own home (above the work dir) first: $CONCORD_HOME may name another one.
        var candidates = new List<string>();
        var dir = new DirectoryInfo(workDir);
        for (var i = 0; dir is not null && i <= DevFileSearchDepthMax; i++, dir = dir.Parent)
        {
            candidates.Add(Path.Combine(dir.FullName, DevFileName));
        }
        if (!string.IsNullOrEmpty(concordHome))
        {
            candidates.Add(Path.Combine(concordHome, DevFileName));
        }
        foreach (var file in candidates)
        {
            if (!File.Exists(file))
            {
                continue;
            }
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(file));
                if (doc.RootElement.TryGetProperty("bootstrap", out var servers) && servers.GetString() is { Length: > 0 } text)
                {
                    return (text, $"the development Kafka in {file}");
                }
            }
            catch (Exception e) when (e is IOException or JsonException or InvalidOperationException)
            {
                throw new OperatorFailedException($"the development Kafka file {file} cannot be read ({e.Message}); restart `concord kafka-dev` or set option 'bootstrap'");
            }
        }
        throw new OperatorFailedException(
            $"option 'bootstrap' is {(option is null ? "unset" : "\"dev\"")} and no development Kafka is running (no {DevFileName} above {workDir} or in $CONCORD_HOME); start one with `concord kafka-dev`, or set 'bootstrap' to your cluster's host:port list");
    }

    /// <summary>At most one line per key per <see cref="KafkaLimits.ClientLogIntervalMs"/>, counting the rest.</summary>
    private sealed class RateLimitedLog(TimeProvider time)
    {
        private readonly Dictionary<string, (long Timestamp, long Suppressed)> _last = new(StringComparer.Ordinal);

        public bool ShouldLog(string key, out long suppressed)
        {
            lock (_last)
            {
                var now = time.GetTimestamp();
                if (_last.TryGetValue(key, out var last) && time.GetElapsedTime(last.Timestamp, now).TotalMilliseconds < KafkaLimits.ClientLogIntervalMs)
                {
                    _last[key] = (last.Timestamp, last.Suppressed + 1);
                    suppressed = 0;
                    return false;
                }
                suppressed = last.Suppressed;
                _last[key] = (now, 0);
                return true;
            }
        }
    }
}

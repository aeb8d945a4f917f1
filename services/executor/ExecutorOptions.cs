using Concord.Contracts.Types.V1;
using Google.Protobuf;

namespace Concord.Executor;

/// <summary>
/// The executor's configuration, read from the environment the cluster runtime sets
/// (docs/architecture.md, "Processes"). The only reader of the environment in the executor:
/// everything else gets its settings from here. The identity variables are required; the
/// observability and Kafka ones are optional.
/// </summary>
public sealed record ExecutorOptions
{
    public const string SchedulerAddressVariable = "CONCORD_SCHEDULER_ADDRESS";

    /// <summary>
    /// Optional: every scheduler of the cluster (leader and standbys), comma-separated; the
    /// executor tries them after <see cref="SchedulerAddressVariable"/> fails (set by agents
    /// started with several --scheduler addresses).
    /// </summary>
    public const string SchedulerAddressesVariable = Hosting.LeaderRedirect.SchedulerAddressesVariable;
    public const string OperatorNameVariable = "CONCORD_OPERATOR_NAME";
    public const string InstanceIndexVariable = "CONCORD_INSTANCE_INDEX";
    public const string IncarnationVariable = "CONCORD_INCARNATION";
    public const string SpecFileVariable = "CONCORD_SPEC_FILE";

    /// <summary>
    /// The OperatorSpec as protobuf JSON in the variable itself, read when <see cref="SpecFileVariable"/>
    /// is not set: for runtimes that hand the executor no file of their own (a Kubernetes pod).
    /// </summary>
    public const string SpecJsonVariable = "CONCORD_SPEC_JSON";

    /// <summary>
    /// Attach mode: the absolute path of the unix socket an operator started by someone else
    /// serves (its CONCORD_OPERATOR_ADDRESS). Set, the executor does not start the spec's
    /// executable; it waits (bounded, <see cref="ExecutorLimits.OperatorAttachTimeoutMs"/>) for the
    /// socket and opens the same session. Used by the Kubernetes runtime (operator container
    /// beside the executor sidecar), open to any runtime that supervises the operator itself.
    /// </summary>
    public const string OperatorAttachVariable = "CONCORD_OPERATOR_ATTACH";
    public const string WorkDirVariable = "CONCORD_WORK_DIR";
    public const string ConcordHomeVariable = "CONCORD_HOME";

    /// <summary>Where the data plane and metrics listen: an IP address of this host (default 127.0.0.1); beyond loopback only with TLS.</summary>
    public const string ListenAddressVariable = "CONCORD_LISTEN_ADDRESS";

    /// <summary>The host name or address peers and the scheduler dial (default: the listen address, or 127.0.0.1 for 0.0.0.0).</summary>
    public const string AdvertisedHostVariable = "CONCORD_ADVERTISED_HOST";

    /// <summary>A completed checkpoint directory to restore before the first batch (docs/guarantees.md, "Recovery"); set by the scheduler.</summary>
    public const string RestoreCheckpointVariable = "CONCORD_RESTORE_CHECKPOINT";
    public const string SearchPathVariable = "PATH";

    /// <summary>Scheduler gRPC address, e.g. http://127.0.0.1:7400.</summary>
    public required Uri SchedulerAddress { get; init; }

    /// <summary>The other schedulers to try when <see cref="SchedulerAddress"/> fails (<see cref="SchedulerAddressesVariable"/>); empty: none.</summary>
    public IReadOnlyList<Uri> OtherSchedulers { get; init; } = [];

    /// <summary>Operator name; equals <see cref="Spec"/>.Name.</summary>
    public required string OperatorName { get; init; }

    /// <summary>0-based instance index.</summary>
    public required int InstanceIndex { get; init; }

    /// <summary>Unique id of this launch, given by the scheduler.</summary>
    public required string Incarnation { get; init; }

    /// <summary>The operator's spec, parsed from <see cref="SpecFileVariable"/>.</summary>
    public required OperatorSpec Spec { get; init; }

    /// <summary>Working directory of the instance (the operator's cwd); an absolute path.</summary>
    public required string WorkDir { get; init; }

    /// <summary>
    /// Trace one produced record in this many at a source (0: none): the operator's
    /// <see cref="Metrics.ObservabilityLimits.TraceSampleEveryVariable"/>, else the executor's, else the default.
    /// </summary>
    public int TraceSampleEvery { get; init; } = Metrics.ObservabilityLimits.TraceSampleEveryDefault;

    /// <summary><see cref="Tracing.OtlpExport.EndpointVariable"/>: spans are also exported over OTLP when set; null otherwise.</summary>
    public string? OtlpEndpoint { get; init; }

    /// <summary>$CONCORD_HOME, where the Kafka built-ins look for a development Kafka last; null when unset.</summary>
    public string? ConcordHome { get; init; }

    /// <summary>$PATH: where a bare operator executable name (e.g. "python3") is looked for; empty when unset.</summary>
    public string SearchPath { get; init; } = "";

    /// <summary>
    /// TLS from <see cref="Hosting.TlsOptions.CertVariable"/>, <see cref="Hosting.TlsOptions.KeyVariable"/> and
    /// <see cref="Hosting.TlsOptions.CaVariable"/>, loaded: the data plane and metrics serve HTTPS requiring client
    /// certificates from the CA, and calls to the scheduler and downstream executors present this certificate.
    /// Null: plain HTTP (loopback only).
    /// </summary>
    public Hosting.TlsCredentials? Tls { get; init; }

    /// <summary><see cref="ListenAddressVariable"/>: where the data plane and metrics endpoints bind.</summary>
    public System.Net.IPAddress ListenAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary><see cref="AdvertisedHostVariable"/>: the host in the addresses this executor registers (routing tables, Prometheus targets).</summary>
    public string AdvertisedHost { get; init; } = "127.0.0.1";

    /// <summary>
    /// Secret of this launch, sent on every call to the scheduler (docs/security.md); null
    /// when <see cref="Contracts.Credentials.LaunchSecretVariable"/> is not set (an executor
    /// started by hand, which the scheduler refuses).
    /// </summary>
    public string? LaunchSecret { get; init; }

    /// <summary>
    /// The cluster's data-plane key (<see cref="Contracts.Credentials.DataPlaneKeyVariable"/>):
    /// senders present a credential made with it and this executor checks it; null (started
    /// by hand, tests) means no credential is sent nor asked for.
    /// </summary>
    public byte[]? DataPlaneKey { get; init; }

    /// <summary>
    /// How long the operator may take to answer a batch, in ms: <see cref="ExecutorLimits.BatchAnswerTimeoutVariable"/>
    /// from the spec's environment, else the executor's, else <see cref="ExecutorLimits.BatchAnswerTimeoutMs"/>.
    /// </summary>
    public int BatchAnswerTimeoutMs { get; init; } = ExecutorLimits.BatchAnswerTimeoutMs;

    /// <summary><see cref="RestoreCheckpointVariable"/>: the checkpoint directory to restore at start; null: start empty.</summary>
    public string? RestoreCheckpoint { get; init; }

    /// <summary>
    /// Bound of the memory state backend, in bytes: <see cref="ExecutorLimits.StateMemoryMbVariable"/>
    /// (MiB) from the spec's environment, else the executor's, else <see cref="ExecutorLimits.StateMemoryBytesMax"/>.
    /// </summary>
    public long StateMemoryBytes { get; init; } = ExecutorLimits.StateMemoryBytesMax;

    /// <summary><see cref="OperatorAttachVariable"/>: the socket of an operator started by someone else; null: the executor starts the operator.</summary>
    public string? OperatorAttachSocket { get; init; }

    /// <summary>How long attach mode waits for the operator's socket, in ms (<see cref="ExecutorLimits.OperatorAttachTimeoutVariable"/>).</summary>
    public int OperatorAttachTimeoutMs { get; init; } = ExecutorLimits.OperatorAttachTimeoutMs;

    /// <summary>"operator/index", for logs and ChannelOpen.sender.</summary>
    public string InstanceName => $"{OperatorName}/{InstanceIndex}";

    /// <summary>
    /// Reads and checks the options from <paramref name="environment"/>. Throws
    /// <see cref="ExecutorConfigException"/> naming the variable and the fix.
    /// </summary>
    public static ExecutorOptions FromEnvironment(Func<string, string?> environment)
    {
        string Require(string name)
        {
            var value = environment(name);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new ExecutorConfigException(
                    $"{name} is not set; the executor is started by the scheduler's cluster runtime, which sets it (see docs/architecture.md, \"Processes\")");
            }
            return value.Trim();
        }

        var schedulerText = Require(SchedulerAddressVariable);
        if (!Uri.TryCreate(schedulerText, UriKind.Absolute, out var scheduler) || (scheduler.Scheme != "http" && scheduler.Scheme != "https"))
        {
            throw new ExecutorConfigException(
                $"{SchedulerAddressVariable}='{schedulerText}' is not an address; expected e.g. http://127.0.0.1:7400");
        }

        var others = new List<Uri>();
        foreach (var text in Hosting.LeaderRedirect.SplitAddresses(environment(SchedulerAddressesVariable) ?? ""))
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var other) || other.Scheme != scheduler.Scheme)
            {
                throw new ExecutorConfigException(
                    $"{SchedulerAddressesVariable} names '{text}', which is not a {scheduler.Scheme}:// address like {SchedulerAddressVariable}; give every scheduler's address, e.g. http://10.0.0.1:7400,http://10.0.0.2:7400");
            }
            others.Add(other);
        }

        var name = Require(OperatorNameVariable);
        var indexText = Require(InstanceIndexVariable);
        if (!int.TryParse(indexText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            || index >= Contracts.ProtocolLimits.InstancesMax)
        {
            throw new ExecutorConfigException(
                $"{InstanceIndexVariable}='{indexText}' is not an instance index; expected an integer 0..{Contracts.ProtocolLimits.InstancesMax - 1}");
        }
        var incarnation = Require(IncarnationVariable);

        var workDir = Require(WorkDirVariable);
        if (!Path.IsPathFullyQualified(workDir) || !Directory.Exists(workDir))
        {
            throw new ExecutorConfigException(
                $"{WorkDirVariable}='{workDir}' is not an existing absolute directory; create it before starting the executor");
        }

        var (spec, specFile) = Optional(environment, SpecFileVariable) is null && Optional(environment, SpecJsonVariable) is { } specJson
            ? (ParseSpec(specJson, SpecJsonVariable), SpecJsonVariable)
            : ReadSpec(Require(SpecFileVariable));
        if (spec.Name != name)
        {
            throw new ExecutorConfigException(
                $"{SpecFileVariable} names operator '{spec.Name}' but {OperatorNameVariable} is '{name}'; they must be the same operator");
        }
        if (spec.Builtin is null && string.IsNullOrWhiteSpace(spec.Executable))
        {
            throw new ExecutorConfigException(
                $"the spec in {specFile} has neither 'executable' nor 'builtin'; set one of them in the deploy file");
        }
        if (spec.Builtin is not null && !string.IsNullOrEmpty(spec.Executable))
        {
            throw new ExecutorConfigException(
                $"the spec in {specFile} sets both 'executable' and 'builtin'; a built-in operator has no executable, remove one");
        }
        if (index >= Math.Max(1, spec.Instances))
        {
            throw new ExecutorConfigException(
                $"{InstanceIndexVariable}={index} but the spec has {spec.Instances} instance(s); the index must be below the instance count");
        }

        var (attachSocket, attachTimeoutMs) = Attach(environment, spec);

        byte[]? dataPlaneKey = null;
        if (environment(Contracts.Credentials.DataPlaneKeyVariable) is { Length: > 0 } keyText)
        {
            try
            {
                dataPlaneKey = System.Buffers.Text.Base64Url.DecodeFromChars(keyText.Trim());
            }
            catch (FormatException)
            {
                // Never echoes the value: it is a secret.
                throw new ExecutorConfigException(
                    $"{Contracts.Credentials.DataPlaneKeyVariable} is not base64url; the scheduler's runtime sets it, do not set it by hand");
            }
        }

        var tls = LoadTls(environment, scheduler);
        var (listenAddress, advertisedHost) = Endpoints(environment, tls is not null);

        return new ExecutorOptions
        {
            LaunchSecret = environment(Contracts.Credentials.LaunchSecretVariable) is { Length: > 0 } secret ? secret.Trim() : null,
            DataPlaneKey = dataPlaneKey,
            SchedulerAddress = scheduler,
            OtherSchedulers = others,
            OperatorName = name,
            InstanceIndex = index,
            Incarnation = incarnation,
            Spec = spec,
            WorkDir = workDir,
            TraceSampleEvery = Tracing.ExecutorTracing.SampleEveryFrom(environment, spec.Environment),
            OtlpEndpoint = Optional(environment, Tracing.OtlpExport.EndpointVariable),
            ConcordHome = Optional(environment, ConcordHomeVariable),
            SearchPath = environment(SearchPathVariable) ?? "",
            Tls = tls,
            ListenAddress = listenAddress,
            AdvertisedHost = advertisedHost,
            BatchAnswerTimeoutMs = BatchAnswerTimeoutFrom(environment, spec.Environment),
            RestoreCheckpoint = Optional(environment, RestoreCheckpointVariable),
            StateMemoryBytes = StateMemoryFrom(environment, spec.Environment),
            OperatorAttachSocket = attachSocket,
            OperatorAttachTimeoutMs = attachTimeoutMs,
        };
    }

    /// <summary>Attach mode's socket and wait, checked: an absolute socket path that fits a unix socket, for an operator that is not a built-in.</summary>
    private static (string? Socket, int TimeoutMs) Attach(Func<string, string?> environment, OperatorSpec spec)
    {
        var timeoutText = Optional(environment, ExecutorLimits.OperatorAttachTimeoutVariable);
        var timeoutMs = ExecutorLimits.OperatorAttachTimeoutMs;
        if (timeoutText is not null
            && (!int.TryParse(timeoutText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out timeoutMs)
                || timeoutMs < ExecutorLimits.OperatorAttachTimeoutMsMin || timeoutMs > ExecutorLimits.OperatorAttachTimeoutMsMax))
        {
            throw new ExecutorConfigException(
                $"{ExecutorLimits.OperatorAttachTimeoutVariable}='{timeoutText}' is out of range; use whole milliseconds {ExecutorLimits.OperatorAttachTimeoutMsMin}..{ExecutorLimits.OperatorAttachTimeoutMsMax}");
        }
        if (Optional(environment, OperatorAttachVariable) is not { } socket)
        {
            return (null, timeoutMs);
        }
        if (spec.Builtin is not null)
        {
            throw new ExecutorConfigException(
                $"{OperatorAttachVariable} is set but operator '{spec.Name}' is a built-in, which runs inside the executor; unset {OperatorAttachVariable} for built-ins");
        }
        if (!Path.IsPathFullyQualified(socket))
        {
            throw new ExecutorConfigException(
                $"{OperatorAttachVariable}='{socket}' is not an absolute path; give the unix socket the operator serves (its CONCORD_OPERATOR_ADDRESS), in a directory both share");
        }
        try
        {
            Contracts.OperatorAddress.Parse(socket);
        }
        catch (ArgumentException e)
        {
            throw new ExecutorConfigException($"{OperatorAttachVariable}: {e.Message}");
        }
        return (socket, timeoutMs);
    }

    private static long StateMemoryFrom(Func<string, string?> environment, IReadOnlyDictionary<string, string> operatorEnvironment)
    {
        var text = operatorEnvironment.GetValueOrDefault(ExecutorLimits.StateMemoryMbVariable)
            ?? environment(ExecutorLimits.StateMemoryMbVariable);
        if (text is null)
        {
            return ExecutorLimits.StateMemoryBytesMax;
        }
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var mb)
            || mb < 1 || mb > ExecutorLimits.StateMemoryMbMax)
        {
            throw new ExecutorConfigException(
                $"{ExecutorLimits.StateMemoryMbVariable}='{text}' is out of range; use whole MiB 1..{ExecutorLimits.StateMemoryMbMax} (--state-memory-mb, or the operator's env in the deploy file)");
        }
        return mb * 1024L * 1024;
    }

    private static int BatchAnswerTimeoutFrom(Func<string, string?> environment, IReadOnlyDictionary<string, string> operatorEnvironment)
    {
        var text = operatorEnvironment.GetValueOrDefault(ExecutorLimits.BatchAnswerTimeoutVariable)
            ?? environment(ExecutorLimits.BatchAnswerTimeoutVariable);
        if (text is null)
        {
            return ExecutorLimits.BatchAnswerTimeoutMs;
        }
        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms)
            || ms < ExecutorLimits.BatchAnswerTimeoutMsMin || ms > ExecutorLimits.BatchAnswerTimeoutMsMax)
        {
            throw new ExecutorConfigException(
                $"{ExecutorLimits.BatchAnswerTimeoutVariable}='{text}' is out of range; use whole milliseconds {ExecutorLimits.BatchAnswerTimeoutMsMin}..{ExecutorLimits.BatchAnswerTimeoutMsMax} in the operator's env in the deploy file");
        }
        return ms;
    }

    /// <summary>The listen address and advertised host; beyond loopback only with TLS (Hosting.ListenPolicy), so the refusal comes before anything starts.</summary>
    private static (System.Net.IPAddress Listen, string Advertised) Endpoints(Func<string, string?> environment, bool tls)
    {
        var listen = System.Net.IPAddress.Loopback;
        if (Optional(environment, ListenAddressVariable) is { } listenText && !System.Net.IPAddress.TryParse(listenText, out listen!))
        {
            throw new ExecutorConfigException(
                $"{ListenAddressVariable}='{listenText}' is not an IP address; give an address of this host (e.g. 10.0.0.5, or 0.0.0.0), without a port");
        }
        try
        {
            Hosting.ListenPolicy.Check(listen, tls, $"the executor's data plane ({ListenAddressVariable})",
                $"{Hosting.TlsOptions.CertVariable}, {Hosting.TlsOptions.KeyVariable} and {Hosting.TlsOptions.CaVariable} (the scheduler's or agent's --tls-cert, --tls-key and --tls-ca)");
        }
        catch (Hosting.TlsConfigurationException e)
        {
            throw new ExecutorConfigException(e.Message);
        }
        var advertised = Optional(environment, AdvertisedHostVariable) ?? Hosting.NetworkAddress.DefaultAdvertisedHost(listen);
        if (!Hosting.NetworkAddress.IsHost(advertised))
        {
            throw new ExecutorConfigException(
                $"{AdvertisedHostVariable}='{advertised}' is not a host; give a DNS name or IP address other hosts can dial, without a port");
        }
        return (listen, advertised);
    }

    /// <summary>TLS and the scheduler's scheme go together: the scheduler serves HTTPS exactly when it gives its executors TLS files.</summary>
    private static Hosting.TlsCredentials? LoadTls(Func<string, string?> environment, Uri scheduler)
    {
        try
        {
            var options = Hosting.TlsOptions.FromEnvironment(environment);
            if (options is null && scheduler.Scheme == "https")
            {
                throw new ExecutorConfigException(
                    $"{SchedulerAddressVariable}='{scheduler}' is https but {Hosting.TlsOptions.CertVariable}, {Hosting.TlsOptions.KeyVariable} and {Hosting.TlsOptions.CaVariable} are not set; " +
                    "set them to this host's certificate, key and CA (`concord certs`), as the scheduler's runtime does when it has TLS");
            }
            if (options is not null && scheduler.Scheme != "https")
            {
                throw new ExecutorConfigException(
                    $"{Hosting.TlsOptions.CertVariable} is set but {SchedulerAddressVariable}='{scheduler}' is not https; a scheduler with TLS gives an https address, so start the scheduler with --tls-cert, --tls-key and --tls-ca or unset the TLS variables");
            }
            return options?.Load();
        }
        catch (Hosting.TlsConfigurationException e)
        {
            throw new ExecutorConfigException(e.Message);
        }
    }

    /// <summary>
    /// The log set-up, read before (and even without) valid options, so that a configuration
    /// error is logged like everything else: tagged with the operator and instance as far as
    /// they are known, in JSON when <see cref="Hosting.ConcordLogging.LogFormatVariable"/> says so.
    /// </summary>
    public static Hosting.ConcordLogSettings LogSettingsFromEnvironment(Func<string, string?> environment)
    {
        var name = environment(OperatorNameVariable) ?? "";
        var index = environment(InstanceIndexVariable) ?? "";
        return new Hosting.ConcordLogSettings
        {
            Json = Hosting.ConcordLogging.IsJson(environment(Hosting.ConcordLogging.LogFormatVariable)),
            Properties =
            [
                new("instance", $"{name}/{index}"),
                new("operator", name),
                new("instanceIndex", index),
            ],
            TextLineProperty = "instance",
            StandardError = true,
        };
    }

    private static string? Optional(Func<string, string?> environment, string name) =>
        environment(name) is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static (OperatorSpec Spec, string Source) ReadSpec(string path)
    {
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ExecutorConfigException($"{SpecFileVariable}='{path}' cannot be read ({e.Message}); point it at the OperatorSpec JSON file");
        }
        return (ParseSpec(json, $"{SpecFileVariable}='{path}'"), path);
    }

    private static OperatorSpec ParseSpec(string json, string source)
    {
        try
        {
            return JsonParser.Default.Parse<OperatorSpec>(json);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or InvalidJsonException or FormatException)
        {
            throw new ExecutorConfigException(
                $"{source} is not an OperatorSpec in protobuf JSON ({e.Message}); write it with Google.Protobuf's JsonFormatter");
        }
    }
}

/// <summary>The executor's configuration is missing or wrong; the process exits with code 2.</summary>
public sealed class ExecutorConfigException(string message) : Exception(message);

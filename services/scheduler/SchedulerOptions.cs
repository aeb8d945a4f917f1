namespace Concord.Scheduler;

/// <summary>How log lines are written to the console.</summary>
public enum LogFormat
{
    /// <summary>One human-readable line per event (the default).</summary>
    Text,

    /// <summary>One JSON object per line, for log shippers.</summary>
    Json,
}

/// <summary>Options of one scheduler process (from the command line; see <see cref="SchedulerCommandLine"/>).</summary>
public sealed record SchedulerOptions
{
    /// <summary>Required. The home directory: topology.json, scheduler.json, instances/.</summary>
    public required string Home { get; init; }

    /// <summary>TCP port of the gRPC endpoint. Defaults to <see cref="SchedulerLimits.DefaultPort"/>; 0 picks a free one.</summary>
    public int Port { get; init; } = SchedulerLimits.DefaultPort;

    /// <summary>
    /// Where the gRPC endpoint listens (--listen HOST:PORT): 127.0.0.1 by default; an address of
    /// this host or 0.0.0.0 only with <see cref="Tls"/> (Hosting.ListenPolicy). Executors the
    /// local runtime launches bind their data plane and metrics on it too.
    /// </summary>
    public System.Net.IPAddress ListenAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary>
    /// The host other processes dial (--advertise HOST[:PORT]): handed to executors as the address
    /// to call back, published in scheduler.json and advertised by the local runtime's executors.
    /// Null: <see cref="ListenAddress"/>, or 127.0.0.1 when that is 0.0.0.0.
    /// </summary>
    public string? AdvertiseHost { get; init; }

    /// <summary>The port of the advertised address (--advertise HOST:PORT, e.g. behind a port mapping); null: the bound port.</summary>
    public int? AdvertisePort { get; init; }

    /// <summary>The advertised host: <see cref="AdvertiseHost"/>, else the default for <see cref="ListenAddress"/>.</summary>
    public string AdvertisedHost => AdvertiseHost ?? Hosting.NetworkAddress.DefaultAdvertisedHost(ListenAddress);

    /// <summary>Where the metrics endpoint listens (--metrics-listen HOST:PORT); null: <see cref="ListenAddress"/>.</summary>
    public System.Net.IPAddress? MetricsListenAddress { get; init; }

    /// <summary>
    /// Path of Concord.Executor.dll (started with dotnet), or of an executable that starts the
    /// executor. Null only when a test replaces the runtime.
    /// </summary>
    public string? ExecutorDll { get; init; }

    /// <summary>
    /// TCP port of the HTTP/1.1 endpoint (/metrics, /prometheus/targets). Null
    /// means <see cref="Port"/> + 1, or a free port when <see cref="Port"/> is 0; 0 picks a free one.
    /// </summary>
    public int? MetricsPort { get; init; }

    /// <summary>
    /// The operator token clients must present (--token, else CONCORD_TOKEN); null means the one
    /// in the home's token file, made on first start (docs/security.md).
    /// </summary>
    public string? Token { get; init; }

    /// <summary>Console log format. Defaults to <see cref="LogFormat.Text"/>.</summary>
    public LogFormat LogFormat { get; init; } = LogFormat.Text;

    /// <summary>
    /// Where the topology lives: a name in <see cref="Backends.SchedulerBackends.Stores"/>.
    /// Defaults to <see cref="Backends.SchedulerBackends.DefaultStore"/> (the file in the home).
    /// </summary>
    public string Store { get; init; } = Backends.SchedulerBackends.DefaultStore;

    /// <summary>The ZooKeeper ensemble of <c>--store zookeeper</c>: <c>HOST:PORT[,HOST:PORT...]</c> (--zookeeper); null otherwise.</summary>
    public string? ZooKeeper { get; init; }

    /// <summary>
    /// The ZooKeeper session timeout of <c>--store zookeeper</c>, in ms (--zookeeper-session-timeout-ms):
    /// the failover time after a leader's death, and how long a cut-off leader may still act.
    /// </summary>
    public int ZooKeeperSessionTimeoutMs { get; init; } = SchedulerLimits.ZooKeeperSessionTimeoutMsDefault;

    /// <summary>
    /// Where instances run: a name in <see cref="Backends.SchedulerBackends.Runtimes"/>.
    /// Defaults to <see cref="Backends.SchedulerBackends.DefaultRuntime"/> (processes on this machine).
    /// </summary>
    public string Runtime { get; init; } = Backends.SchedulerBackends.DefaultRuntime;

    /// <summary>TLS for every endpoint (--tls-cert, --tls-key, --tls-ca); null: plain HTTP, loopback only (listen addresses included). See <see cref="SchedulerTls"/>.</summary>
    public Hosting.TlsOptions? Tls { get; init; }

    /// <summary>
    /// Run instances without containment (no cgroup: mem and cpus not enforced, processes an
    /// operator forks not killed on stop). Off by default; --no-containment turns it on where
    /// the host has no writable cgroups (docs/security.md, "Containment").
    /// </summary>
    public bool NoContainment { get; init; }

    /// <summary>--files-root: directories a spec's "files" may come from; empty: the deploy file's directory.</summary>
    public IReadOnlyList<string> FilesRoots { get; init; } = [];

    /// <summary>--executables-root: directories executables may be in; empty: any.</summary>
    public IReadOnlyList<string> ExecutablesRoots { get; init; } = [];

    /// <summary>--data-root: directories built-ins may read and write besides the instance's own; empty: the deploy file's directory.</summary>
    public IReadOnlyList<string> DataRoots { get; init; } = [];

    /// <summary>--checkpoint-interval-ms: time between checkpoints (docs/guarantees.md).</summary>
    public int CheckpointIntervalMs { get; init; } = SchedulerLimits.CheckpointIntervalMsDefault;

    /// <summary>--checkpoint-dir: the checkpoint root; null means &lt;home&gt;/checkpoints.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>--checkpoints-retained: completed checkpoints kept besides every savepoint.</summary>
    public int CheckpointsRetained { get; init; } = SchedulerLimits.CheckpointsRetainedDefault;

    /// <summary>
    /// --dashboard-dir: the built web dashboard (index.html, app.js, app.css, login.html) served
    /// at /ui (docs/dashboard.md). Defaults to <see cref="DefaultDashboardDirectory"/>, where the
    /// scheduler's build copies ui/dist; when the directory is missing, /ui answers 503 naming
    /// scripts/build-ui.sh.
    /// </summary>
    public string DashboardDirectory { get; init; } = DefaultDashboardDirectory;

    /// <summary>&lt;the scheduler's binary directory&gt;/ui: where the build copies ui/dist.</summary>
    public static string DefaultDashboardDirectory => Path.Combine(AppContext.BaseDirectory, "ui");
}

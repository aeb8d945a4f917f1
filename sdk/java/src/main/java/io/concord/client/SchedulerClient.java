package io.concord.client;

import concord.scheduler.v1.SchedulerGrpc;
import concord.scheduler.v1.SchedulerOuterClass.CheckpointInfo;
import concord.scheduler.v1.SchedulerOuterClass.DeployRequest;
import concord.scheduler.v1.SchedulerOuterClass.GetInstanceMetricsRequest;
import concord.scheduler.v1.SchedulerOuterClass.GetLogsRequest;
import concord.scheduler.v1.SchedulerOuterClass.GetTraceRequest;
import concord.scheduler.v1.SchedulerOuterClass.GraphRequest;
import concord.scheduler.v1.SchedulerOuterClass.GraphResponse;
import concord.scheduler.v1.SchedulerOuterClass.InstanceMetrics;
import concord.scheduler.v1.SchedulerOuterClass.KillRequest;
import concord.scheduler.v1.SchedulerOuterClass.ListCheckpointsRequest;
import concord.scheduler.v1.SchedulerOuterClass.ListCheckpointsResponse;
import concord.scheduler.v1.SchedulerOuterClass.ListRequest;
import concord.scheduler.v1.SchedulerOuterClass.ListTracesRequest;
import concord.scheduler.v1.SchedulerOuterClass.LogLine;
import concord.scheduler.v1.SchedulerOuterClass.OperatorStatus;
import concord.scheduler.v1.SchedulerOuterClass.ReplaceRequest;
import concord.scheduler.v1.SchedulerOuterClass.ReplaceResponse;
import concord.scheduler.v1.SchedulerOuterClass.ScaleRequest;
import concord.scheduler.v1.SchedulerOuterClass.Span;
import concord.scheduler.v1.SchedulerOuterClass.TailRecord;
import concord.scheduler.v1.SchedulerOuterClass.TailStreamRequest;
import concord.scheduler.v1.SchedulerOuterClass.TraceSummary;
import concord.scheduler.v1.SchedulerOuterClass.TriggerSavepointRequest;
import concord.types.v1.Types.OperatorSpec;
import io.concord.sdk.SdkLimits;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Client of the scheduler's gRPC API: deploy, replace, kill, scale, list, graph, logs and traces. The address
 * is "host:port" or "http://host:port" (what scheduler.json and CONCORD_SCHEDULER_ADDRESS hold);
 * every call carries the operator token as {@code authorization: Bearer} and has a deadline;
 * failures throw {@link SchedulerException}. Close it when done.
 */
public final class SchedulerClient implements AutoCloseable {
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private final ManagedChannel channel;
    private final SchedulerGrpc.SchedulerBlockingStub stub;
    private final long callTimeoutMs;

    private SchedulerClient(Builder b) {
        String target = b.address;
        if (target.startsWith("https://")) {
            throw new IllegalArgumentException("this client speaks plain HTTP/2 to a loopback scheduler; use http://host:port, not "
                    + b.address + " (a TLS scheduler needs the concord CLI or the C# client, docs/security.md)");
        }
        if (target.startsWith("http://")) {
            target = target.substring("http://".length());
        }
        int colon = target.lastIndexOf(':');
        int port;
        try {
            port = colon > 0 ? Integer.parseInt(target.substring(colon + 1).replace("/", "")) : -1;
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("'" + b.address + "' is not a scheduler address; expected host:port or http://host:port (http://127.0.0.1:7400)");
        }
        channel = NettyChannelBuilder.forAddress(target.substring(0, colon), port).usePlaintext()
                .maxInboundMessageSize(SdkLimits.GRPC_MESSAGE_BYTES_MAX).build();
        SchedulerGrpc.SchedulerBlockingStub s = SchedulerGrpc.newBlockingStub(channel);
        String token = b.token != null ? b.token : defaultToken(System.getenv(), Path.of(System.getProperty("user.home")));
        if (token != null && !token.isEmpty()) {
            Metadata headers = new Metadata();
            headers.put(AUTHORIZATION, "Bearer " + token);
            s = s.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        stub = s;
        callTimeoutMs = b.callTimeoutMs;
    }

    /** A client of {@code address} with the default token ({@link #defaultToken}). */
    public static SchedulerClient connect(String address) {
        return builder(address).build();
    }

    public static Builder builder(String address) {
        return new Builder(address);
    }

    /** Options of a {@link SchedulerClient}. */
    public static final class Builder {
        private final String address;
        private String token;
        private long callTimeoutMs = SdkLimits.SCHEDULER_CALL_TIMEOUT_MS;

        private Builder(String address) {
            if (address == null || address.isBlank()) {
                throw new IllegalArgumentException("the scheduler address is empty; give host:port or http://host:port (http://127.0.0.1:7400)");
            }
            this.address = address.trim();
        }

        /** The operator token; "" sends none. Default: {@link #defaultToken}. */
        public Builder token(String token) {
            this.token = token;
            return this;
        }

        /** Deadline of each call, in ms (replace gets at least {@link SdkLimits#REPLACE_CALL_TIMEOUT_MS}). */
        public Builder callTimeoutMs(long callTimeoutMs) {
            if (callTimeoutMs <= 0) {
                throw new IllegalArgumentException("callTimeoutMs must be positive, got " + callTimeoutMs);
            }
            this.callTimeoutMs = callTimeoutMs;
            return this;
        }

        public SchedulerClient build() {
            return new SchedulerClient(this);
        }
    }

    /**
     * The token a client uses when given none: $CONCORD_TOKEN, else the token file of the
     * scheduler home ($CONCORD_HOME, else ~/.concord); null when neither exists.
     */
    public static String defaultToken(Map<String, String> env, Path userHome) {
        String fromEnv = env.get(SdkLimits.TOKEN_VARIABLE);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return fromEnv.trim();
        }
        String home = env.get("CONCORD_HOME");
        Path file = (home != null && !home.isEmpty() ? Path.of(home) : userHome.resolve(".concord")).resolve(SdkLimits.TOKEN_FILE_NAME);
        try (InputStream in = Files.newInputStream(file)) {
            String token = new String(in.readNBytes(SdkLimits.TOKEN_FILE_BYTES_MAX), StandardCharsets.UTF_8).trim();
            return token.isEmpty() ? null : token;
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the operator token " + file + ": " + e.getMessage()
                    + "; check its permissions, or set " + SdkLimits.TOKEN_VARIABLE, e);
        }
    }

    /** Deploys an operator; returns it as stored. */
    public OperatorStatus deploy(OperatorSpec spec) {
        return call("Deploy", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .deploy(DeployRequest.newBuilder().setSpec(spec).build()).getOperator());
    }

    /**
     * Replaces a deployed operator by a new version of the same name (docs/live-changes.md): a
     * rolling replace, or for an operator with a delivery guarantee a restart keeping its state
     * ({@code dropState}: with empty state for it).
     */
    public ReplaceResponse replace(OperatorSpec spec, boolean dropState) {
        long timeout = Math.max(callTimeoutMs, SdkLimits.REPLACE_CALL_TIMEOUT_MS);
        return call("Replace", timeout, () -> stub.withDeadlineAfter(timeout, TimeUnit.MILLISECONDS)
                .replace(ReplaceRequest.newBuilder().setSpec(spec).setDropState(dropState).build()));
    }

    /** Stops every instance of {@code name} and removes it from the topology. */
    public void kill(String name) {
        call("Kill", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .kill(KillRequest.newBuilder().setName(name).build()));
    }

    /** Changes the number of instances of {@code name}; returns it as stored. */
    public OperatorStatus scale(String name, int instances) {
        return call("Scale", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .scale(ScaleRequest.newBuilder().setName(name).setInstances(instances).build()).getOperator());
    }

    /** Every deployed operator, ordered by name. */
    public List<OperatorStatus> list() {
        return call("List", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .list(ListRequest.getDefaultInstance()).getOperatorsList());
    }

    /** Operators and one edge per (stream, producer, reader). */
    public GraphResponse graph() {
        return call("Graph", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .graph(GraphRequest.getDefaultInstance()));
    }

    /**
     * The last {@code tailLines} lines (0: the scheduler's default) of every instance's executor.log
     * of {@code operatorName} (the executor's events and the operator's stdout/stderr), oldest first.
     * Reads at most {@link SdkLimits#SCHEDULER_LOG_LINES_MAX} lines.
     */
    public List<LogLine> logs(String operatorName, int tailLines) {
        return call("GetLogs", callTimeoutMs, () -> {
            Iterator<LogLine> lines = stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                    .getLogs(GetLogsRequest.newBuilder().setOperatorName(operatorName).setTailLines(tailLines).build());
            List<LogLine> out = new ArrayList<>();
            while (lines.hasNext() && out.size() < SdkLimits.SCHEDULER_LOG_LINES_MAX) {
                out.add(lines.next());
            }
            return out;
        });
    }

    /** Recent sampled traces, newest first, at most {@code limit} (0: the scheduler's default). */
    public List<TraceSummary> traces(int limit) {
        return call("ListTraces", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .listTraces(ListTracesRequest.newBuilder().setLimit(limit).build()).getTracesList());
    }

    /** Every span of one trace, by start time; NOT_FOUND when no executor holds it. */
    public List<Span> trace(String traceId) {
        return call("GetTrace", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .getTrace(GetTraceRequest.newBuilder().setTraceId(traceId).build()).getSpansList());
    }

    /**
     * The current figures of every running instance (of {@code operatorName} only, unless empty),
     * ordered by operator then index. Counters are totals since each executor started: compute
     * rates from two calls (as {@code concord top}).
     */
    public List<InstanceMetrics> instanceMetrics(String operatorName) {
        return call("GetInstanceMetrics", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .getInstanceMetrics(GetInstanceMetricsRequest.newBuilder().setOperatorName(operatorName).build()).getInstancesList());
    }

    /**
     * The last records written to {@code stream}, at most {@code recordsMax} (1..{@link SdkLimits#TAIL_RECORDS_MAX}),
     * as {@code concord tail}. Executors start keeping a stream's records when a tail asks for it, so
     * a first call may be empty: poll. NOT_FOUND (naming the streams there are) for a stream no
     * deployed operator writes.
     */
    public List<TailRecord> tail(String stream, int recordsMax) {
        if (recordsMax < 1 || recordsMax > SdkLimits.TAIL_RECORDS_MAX) {
            throw new IllegalArgumentException("recordsMax " + recordsMax + " is out of range; use 1.." + SdkLimits.TAIL_RECORDS_MAX);
        }
        return call("TailStream", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .tailStream(TailStreamRequest.newBuilder().setStream(stream).setRecordsMax(recordsMax).build()).getRecordsList());
    }

    /** The retained checkpoints and savepoints, the one in progress first, and the latest completed id (0: none). */
    public ListCheckpointsResponse checkpoints() {
        return call("ListCheckpoints", callTimeoutMs, () -> stub.withDeadlineAfter(callTimeoutMs, TimeUnit.MILLISECONDS)
                .listCheckpoints(ListCheckpointsRequest.getDefaultInstance()));
    }

    /**
     * Takes a savepoint now (a checkpoint kept until deleted) and returns it once completed;
     * FAILED_PRECONDITION naming why it could not. The deadline is at least
     * {@link SdkLimits#CHECKPOINT_CALL_TIMEOUT_MS}.
     */
    public CheckpointInfo triggerSavepoint() {
        long timeout = Math.max(callTimeoutMs, SdkLimits.CHECKPOINT_CALL_TIMEOUT_MS);
        return call("TriggerSavepoint", timeout, () -> stub.withDeadlineAfter(timeout, TimeUnit.MILLISECONDS)
                .triggerSavepoint(TriggerSavepointRequest.getDefaultInstance()).getSavepoint());
    }

    private static <T> T call(String method, long timeoutMs, Supplier<T> call) {
        try {
            return call.get();
        } catch (StatusRuntimeException e) {
            String details = e.getStatus().getDescription() != null ? e.getStatus().getDescription() : e.getStatus().getCode().toString();
            if (e.getStatus().getCode() == io.grpc.Status.Code.DEADLINE_EXCEEDED) {
                details += " (the call's deadline is " + timeoutMs + " ms)";
            }
            throw new SchedulerException(method, e.getStatus().getCode(), details, e);
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(SdkLimits.SERVER_STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

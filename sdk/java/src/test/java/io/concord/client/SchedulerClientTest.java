package io.concord.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonParser;
import concord.scheduler.v1.SchedulerOuterClass.CheckpointInfo;
import concord.scheduler.v1.SchedulerOuterClass.CheckpointStatus;
import concord.scheduler.v1.SchedulerOuterClass.InstanceMetrics;
import concord.scheduler.v1.SchedulerOuterClass.InstanceState;
import concord.scheduler.v1.SchedulerOuterClass.InstanceStatus;
import concord.scheduler.v1.SchedulerOuterClass.LogLine;
import concord.scheduler.v1.SchedulerOuterClass.OperatorStatus;
import concord.scheduler.v1.SchedulerOuterClass.ReplaceResponse;
import concord.scheduler.v1.SchedulerOuterClass.TailRecord;
import concord.scheduler.v1.SchedulerOuterClass.TraceSummary;
import concord.types.v1.Types.BuiltinOperator;
import concord.types.v1.Types.DeliveryGuarantee;
import concord.types.v1.Types.Grouping;
import concord.types.v1.Types.InputStream;
import concord.types.v1.Types.OperatorSpec;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/**
 * SchedulerClient against a REAL scheduler process (artifacts/bin/Concord.Scheduler, built by
 * scripts/setup.sh), which launches real executors running the Java word-count counter: so the
 * round trip also covers the executor reaching a Java operator over loopback TCP.
 */
public class SchedulerClientTest {
    /** How long the scheduler may take to serve, and an instance to run, in ms (a loaded 2-core machine). */
    static final long START_TIMEOUT_MS = 90_000;
    /** How often another process's state is polled, in ms. */
    static final long POLL_MS = 200;
    /** How long the scheduler has to stop on SIGTERM before it is killed, in ms. */
    static final long STOP_TIMEOUT_MS = 30_000;

    private static Process scheduler;
    private static Path home;
    private static String address;
    private static String token;
    private static Path root;

    @BeforeClass
    public static void startScheduler() throws Exception {
        root = Path.of(System.getProperty("concord.root", ".")).toAbsolutePath().normalize();
        Path dll = root.resolve("artifacts/bin/Concord.Scheduler/release/Concord.Scheduler.dll");
        if (!Files.exists(dll)) {
            fail(dll + " is missing; build the solution first (scripts/setup.sh)");
        }
        // Short: instance work directories hold the operator's socket, capped at 107 bytes.
        home = Files.createTempDirectory(Path.of("/tmp"), "cj-");
        // --data-root: the generator of the observation test reads its dictionary from the repository.
        ProcessBuilder pb = new ProcessBuilder("dotnet", dll.toString(), "--home", home.toString(), "--port", "0", "--data-root", root.toString())
                .redirectErrorStream(true).redirectOutput(home.resolve("scheduler.log").toFile());
        pb.environment().remove("CONCORD_TOKEN");
        scheduler = pb.start();
        Path info = home.resolve("scheduler.json");
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        while (!Files.exists(info) || !Files.exists(home.resolve("token"))) {
            if (!scheduler.isAlive() || System.currentTimeMillis() > deadline) {
                fail("the scheduler did not serve within " + START_TIMEOUT_MS + " ms; its log:\n" + log());
            }
            Thread.sleep(POLL_MS);
        }
        address = JsonParser.parseString(Files.readString(info)).getAsJsonObject().get("address").getAsString();
        token = Files.readString(home.resolve("token")).trim();
    }

    @AfterClass
    public static void stopScheduler() throws Exception {
        if (scheduler != null) {
            scheduler.destroy(); // SIGTERM: it stops its instances
            if (!scheduler.waitFor(STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                scheduler.destroyForcibly().waitFor(STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            }
        }
    }

    private static String log() {
        try {
            return Files.readString(home.resolve("scheduler.log"));
        } catch (Exception e) {
            return "(no log: " + e + ")";
        }
    }

    private static OperatorSpec counter(int instances, Map<String, String> environment) {
        Path exe = root.resolve("artifacts/java/bin/concord-java-counter");
        return OperatorSpec.newBuilder().setName("jcounter").setExecutable(exe.toString()).setInstances(instances).setMemMb(384)
                .addExpectedInputs(InputStream.newBuilder().setName("words").setGrouping(Grouping.GROUPING_GROUP_BY))
                .addExpectedOutputs("counts").putAllEnvironment(environment).build();
    }

    /** Polls list() until {@code done} holds for jcounter (another process's state), bounded. */
    private static OperatorStatus await(SchedulerClient client, String what, Predicate<OperatorStatus> done) throws InterruptedException {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        OperatorStatus last = null;
        while (System.currentTimeMillis() < deadline) {
            List<OperatorStatus> ops = client.list();
            last = ops.isEmpty() ? null : ops.get(0);
            if (last != null && done.test(last)) {
                return last;
            }
            Thread.sleep(POLL_MS);
        }
        fail(what + " within " + START_TIMEOUT_MS + " ms; last status: " + last + "\nscheduler log:\n" + log());
        return null;
    }

    private static boolean allRunning(OperatorStatus s, int n) {
        return s.getInstancesCount() == n && s.getInstancesList().stream().allMatch(i -> i.getState() == InstanceState.INSTANCE_STATE_RUNNING);
    }

    @Test
    public void a_wrong_token_is_refused_and_the_home_token_is_found_by_default() {
        try (SchedulerClient wrong = SchedulerClient.builder(address).token("not-the-token").build()) {
            SchedulerException e = assertThrows(SchedulerException.class, wrong::list);
            assertEquals(Status.Code.UNAUTHENTICATED, e.code());
        }
        assertEquals(token, SchedulerClient.defaultToken(Map.of("CONCORD_HOME", home.toString()), Path.of("/nonexistent")));
        assertEquals("from-env", SchedulerClient.defaultToken(Map.of("CONCORD_TOKEN", "from-env", "CONCORD_HOME", home.toString()), Path.of("/")));
        assertNull(SchedulerClient.defaultToken(Map.of(), Path.of("/nonexistent")));
        assertThrows(IllegalArgumentException.class, () -> SchedulerClient.connect("https://127.0.0.1:7400"));
        assertThrows(IllegalArgumentException.class, () -> SchedulerClient.connect("127.0.0.1"));
    }

    @Test
    public void deploy_logs_traces_scale_list_graph_replace_and_kill_a_java_operator_on_a_real_scheduler() throws Exception {
        try (SchedulerClient client = SchedulerClient.builder(address).token(token).build()) {
            OperatorStatus deployed = client.deploy(counter(1, Map.of()));
            assertEquals("jcounter", deployed.getSpec().getName());
            OperatorStatus running = await(client, "the Java counter did not run", s -> allRunning(s, 1));
            InstanceStatus instance = running.getInstances(0);
            assertTrue("the executor reports its Java operator's pid", instance.getOperatorPid() > 0);
            assertEquals("jcounter", running.getMetadata().getName()); // the metadata came over the TCP session

            List<LogLine> logs = client.logs("jcounter", 0);
            assertTrue("the running instance's executor.log has lines: " + logs, !logs.isEmpty());
            assertTrue(logs.stream().allMatch(l -> l.getOperatorName().equals("jcounter") && l.getInstanceIndex() == 0));
            assertTrue("traces are listed (none may be sampled yet)", client.traces(5).size() <= 5);
            SchedulerException noTrace = assertThrows(SchedulerException.class, () -> client.trace("0".repeat(32)));
            assertEquals(Status.Code.NOT_FOUND, noTrace.code());

            assertEquals(2, client.scale("jcounter", 2).getSpec().getInstances());
            await(client, "both instances did not run", s -> allRunning(s, 2));
            assertTrue(client.graph().getOperatorsList().stream().anyMatch(o -> o.getSpec().getName().equals("jcounter")));

            ReplaceResponse replaced = client.replace(counter(1, Map.of("VERSION", "2")), false);
            assertEquals("2", replaced.getOperator().getSpec().getEnvironmentMap().get("VERSION"));
            assertEquals("the replace keeps the current instance count", 2, replaced.getOperator().getSpec().getInstances());

            SchedulerException duplicate = assertThrows(SchedulerException.class, () -> client.deploy(counter(1, Map.of())));
            assertEquals(Status.Code.ALREADY_EXISTS, duplicate.code());

            client.kill("jcounter");
            assertEquals(List.of(), client.list());
            SchedulerException missing = assertThrows(SchedulerException.class, () -> client.kill("jcounter"));
            assertEquals(Status.Code.NOT_FOUND, missing.code());
            assertTrue(missing.getMessage(), missing.getMessage().contains("jcounter"));
        }
    }
    /** Polls {@code probe} until it gives a non-null value (another process's state), bounded. */
    private static <T> T poll(String what, Supplier<T> probe) throws InterruptedException {
        long deadline = System.currentTimeMillis() + START_TIMEOUT_MS;
        while (System.currentTimeMillis() < deadline) {
            T value = probe.get();
            if (value != null) {
                return value;
            }
            Thread.sleep(POLL_MS);
        }
        fail(what + " within " + START_TIMEOUT_MS + " ms\nscheduler log:\n" + log());
        return null;
    }

    @Test
    public void metrics_tail_traces_checkpoints_and_a_savepoint_of_a_running_topology() throws Exception {
        // A built-in generator with a delivery guarantee (so checkpoints are taken) that samples
        // every record for tracing, feeding the Java counter.
        OperatorSpec words = OperatorSpec.newBuilder().setName("jwords").setInstances(1).addExpectedOutputs("words")
                .setDelivery(DeliveryGuarantee.DELIVERY_AT_LEAST_ONCE).putEnvironment("CONCORD_TRACE_SAMPLE_EVERY", "1")
                .setBuiltin(BuiltinOperator.newBuilder().setKind("generator").putOptions("stream", "words").putOptions("rate", "100")
                        .putOptions("dictionary", root.resolve("examples/wordcount/words.txt").toString()))
                .build();
        OperatorSpec counter = counter(1, Map.of()).toBuilder().setName("jcount-obs").build();
        try (SchedulerClient client = SchedulerClient.builder(address).token(token).build()) {
            client.deploy(words);
            client.deploy(counter);
            try {
                List<InstanceMetrics> metrics = poll("records counted in jcount-obs's metrics", () -> {
                    List<InstanceMetrics> m = client.instanceMetrics("jcount-obs");
                    return !m.isEmpty() && m.get(0).getRecordsInTotal() > 0 ? m : null;
                });
                assertEquals("jcount-obs", metrics.get(0).getOperatorName());
                assertEquals("", metrics.get(0).getError());

                List<TailRecord> records = poll("records on stream counts", () -> {
                    List<TailRecord> r = client.tail("counts", 5);
                    return r.isEmpty() ? null : r;
                });
                assertTrue(records.size() <= 5);
                assertEquals("jcount-obs", records.get(0).getOperatorName());
                SchedulerException noStream = assertThrows(SchedulerException.class, () -> client.tail("no-such-stream", 5));
                assertEquals(Status.Code.NOT_FOUND, noStream.code());
                assertThrows(IllegalArgumentException.class, () -> client.tail("counts", 0));

                TraceSummary trace = poll("a trace through jcount-obs", () ->
                        client.traces(50).stream().filter(t -> t.getOperatorsList().contains("jcount-obs")).findFirst().orElse(null));
                assertTrue(client.trace(trace.getTraceId()).stream().allMatch(span -> span.getTraceId().equals(trace.getTraceId())));

                poll("a completed checkpoint", () -> client.checkpoints().getLatestCompletedId() > 0 ? Boolean.TRUE : null);
                CheckpointInfo savepoint = client.triggerSavepoint();
                assertTrue(savepoint.getSavepoint());
                assertEquals(CheckpointStatus.CHECKPOINT_STATUS_COMPLETED, savepoint.getStatus());
                assertTrue("the savepoint is listed", client.checkpoints().getCheckpointsList().stream()
                        .anyMatch(c -> c.getSavepoint() && c.getCheckpointId() == savepoint.getCheckpointId()));
            } finally {
                client.kill("jcount-obs");
                client.kill("jwords");
            }
        }
    }
}

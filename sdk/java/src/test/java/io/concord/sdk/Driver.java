package io.concord.sdk;

import static org.junit.Assert.assertNotNull;

import concord.operator.v1.OperatorOuterClass.ExecutorMessage;
import concord.operator.v1.OperatorOuterClass.Init;
import concord.operator.v1.OperatorOuterClass.OperatorMessage;
import concord.operator.v1.OperatorOuterClass.ProcessBatch;
import concord.operator.v1.OperatorOuterClass.Shutdown;
import io.concord.sdk.internal.Session;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Plays the executor against a {@link Session} running on its own thread, without a transport. */
final class Driver {
    /** Every wait in these tests, in ms: generous for a loaded 2-core machine, finite. */
    static final long STEP_TIMEOUT_MS = 10_000;
    /** Marks the end of the executor's stream. */
    private static final ExecutorMessage END = ExecutorMessage.getDefaultInstance();

    private final LinkedBlockingQueue<ExecutorMessage> in = new LinkedBlockingQueue<>();
    private final LinkedBlockingQueue<OperatorMessage> out = new LinkedBlockingQueue<>();
    final CompletableFuture<Integer> exit = new CompletableFuture<>();

    Driver(Computation computation) {
        Thread t = new Thread(() -> exit.complete(new Session(computation).run(() -> {
            ExecutorMessage m = in.take();
            return m == END ? null : m;
        }, out::add)), "session-under-test");
        t.setDaemon(true);
        t.start();
    }

    static Init.Builder init() {
        return Init.newBuilder().setProtocolVersion(SdkLimits.PROTOCOL_VERSION).addAllCapabilities(SdkLimits.CAPABILITIES)
                .setOperatorName("op").setInstanceIndex(1).setInstanceCount(3).setMaxBatchesInFlight(4).setMaxRecordBytes(1024);
    }

    void send(Init.Builder init) {
        in.add(ExecutorMessage.newBuilder().setInit(init).build());
    }

    void send(ProcessBatch.Builder batch) {
        in.add(ExecutorMessage.newBuilder().setProcessBatch(batch).build());
    }

    void shutdown() {
        in.add(ExecutorMessage.newBuilder().setShutdown(Shutdown.newBuilder().setReason("test")).build());
    }

    void end() {
        in.add(END);
    }

    OperatorMessage next() throws InterruptedException {
        OperatorMessage m = out.poll(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        assertNotNull("the session sent nothing within " + STEP_TIMEOUT_MS + " ms", m);
        return m;
    }

    int exitCode() throws Exception {
        return exit.get(STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
    }
}

package io.concord.testoperator;

import com.google.protobuf.ByteString;
import concord.types.v1.Types.Record;
import io.concord.sdk.Computation;
import io.concord.sdk.ComputationServer;
import io.concord.sdk.Context;
import io.concord.sdk.Grouping;
import io.concord.sdk.Metadata;
import io.concord.sdk.TimeDomain;
import io.concord.sdk.ValueState;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/**
 * The Java test operator of the conformance suite. Every language has one like it, with the same
 * behaviours, selected by CONFORMANCE_CASE (the table is in docs/conformance.md). Built by
 * scripts/build-java.sh into artifacts/java/bin/concord-test-operator.
 */
public final class TestOperator implements Computation {
    /** The documented record limit (ProtocolLimits.RecordBytesMax), key + value. */
    static final int RECORD_BYTES_MAX = 1024 * 1024;
    /** How long the backpressure case blocks at most before it gives up, in ms. */
    static final long GATE_TIMEOUT_MS = 60_000;
    /** How often the backpressure case looks for the release file, in ms. */
    static final long GATE_POLL_MS = 10;
    /** How long after a record the keyed_timers case flushes its key, in ms. */
    static final long FLUSH_DELAY_MS = 100;
    /** How far after a record's event time the event_time_timers case sets its timer, in ms. */
    static final long EVENT_TIMER_DELAY_MS = 100;
    /** The cases that keep keyed state "count". */
    static final Set<String> STATE_CASES = Set.of("state", "keyed_timers", "event_time_timers");

    private final String kase;
    private final String name;
    private boolean gatePassed;
    private boolean rearmed;

    TestOperator(String kase, String name) {
        this.kase = kase;
        this.name = name;
    }

    public static void main(String[] args) {
        String kase = System.getenv().getOrDefault("CONFORMANCE_CASE", "");
        String name = System.getenv().getOrDefault("CONCORD_OPERATOR_NAME", "conformance");
        ComputationServer.serve(new TestOperator(kase, name));
    }

    @Override
    public Metadata metadata() {
        Metadata.Builder b = Metadata.builder(kase.equals("invalid_metadata") ? "not-" + name : name)
                .input("in", Grouping.GROUP_BY).output("out-a").output("out-b");
        if (STATE_CASES.contains(kase)) {
            b.state("count");
        }
        return b.build();
    }

    @Override
    public void init(Context ctx) {
        if (kase.equals("timers")) {
            long now = System.currentTimeMillis();
            ctx.setTimer("t3", now + 300);
            ctx.setTimer("t1", now + 100);
            ctx.setTimer("t2", now + 200);
            ctx.setTimer("rearm", now + 150);
        }
    }

    @Override
    public void processRecord(Context ctx, Record record) {
        ByteString key = record.getKey();
        switch (kase) {
            case "produce" -> {
                ctx.produceRecord("out-a", key, ascii("a:").concat(record.getValue()));
                ctx.produceRecord("out-b", key, ascii("b:").concat(record.getValue()));
                return;
            }
            case "group_by" -> {
                ctx.produceRecord("out-a", key, ascii(Integer.toString(ctx.instanceIndex())));
                return;
            }
            case "state" -> {
                ValueState count = ctx.state("count");
                if (record.getValue().equals(ascii("clear"))) {
                    count.clear();
                    ctx.produceRecord("out-a", key, ascii("cleared"));
                    return;
                }
                long c = counted(count) + 1;
                count.set(Long.toString(c));
                ctx.produceRecord("out-a", key, ascii(Long.toString(c)));
                return;
            }
            case "keyed_timers" -> {
                ValueState count = ctx.state("count");
                count.set(Long.toString(counted(count) + 1));
                ctx.setTimer("flush", System.currentTimeMillis() + FLUSH_DELAY_MS);
                return;
            }
            case "event_time_timers" -> {
                ctx.setTimer("fire", record.getEventTimeUnixMs() + EVENT_TIMER_DELAY_MS, TimeDomain.EVENT);
                return;
            }
            case "backpressure" -> waitForGate();
            case "exception" -> throw new IllegalStateException("conformance failure on purpose");
            case "size_limit" -> {
                if (key.equals(ascii("grow"))) {
                    ctx.produceRecord("out-a", key, ByteString.copyFrom(new byte[RECORD_BYTES_MAX - key.size() + 1]));
                    return;
                }
            }
            default -> {
            }
        }
        ctx.produceRecord("out-a", key, record.getValue());
    }

    @Override
    public void processTimer(Context ctx, String key, long timeUnixMs) {
        if (kase.equals("event_time_timers")) {
            ctx.produceRecord("out-b", ctx.stateKey(), ascii(Long.toString(timeUnixMs)));
            return;
        }
        if (kase.equals("keyed_timers")) {
            ValueState count = ctx.state("count");
            byte[] value = count.get();
            ctx.produceRecord("out-b", ctx.stateKey(), value == null ? ByteString.EMPTY : ByteString.copyFrom(value));
            count.clear();
            return;
        }
        ctx.produceRecord("out-a", ByteString.copyFromUtf8(key), ascii(Long.toString(timeUnixMs)));
        if (key.equals("rearm") && !rearmed) {
            rearmed = true;
            ctx.setTimer(key, timeUnixMs + 200);
        }
    }

    @Override
    public void destroy() {
        if (kase.equals("destroy")) {
            try {
                Files.writeString(Path.of("destroyed"), "destroyed");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    private static long counted(ValueState count) {
        String v = count.getString();
        return v == null ? 0 : Long.parseLong(v);
    }

    private static ByteString ascii(String s) {
        return ByteString.copyFrom(s, StandardCharsets.US_ASCII);
    }

    /** Blocks the first callback until the harness creates "release" in the working directory. */
    private void waitForGate() {
        long deadline = System.currentTimeMillis() + GATE_TIMEOUT_MS;
        while (!gatePassed && !Files.exists(Path.of("release"))) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the harness did not create 'release' within " + GATE_TIMEOUT_MS / 1000 + " s");
            }
            try {
                Thread.sleep(GATE_POLL_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for 'release'", e);
            }
        }
        gatePassed = true;
    }
}

package io.concord.sdk;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.protobuf.ByteString;
import concord.operator.v1.OperatorOuterClass.BatchDone;
import concord.operator.v1.OperatorOuterClass.KeyState;
import concord.operator.v1.OperatorOuterClass.OperatorMessage;
import concord.operator.v1.OperatorOuterClass.ProcessBatch;
import concord.operator.v1.OperatorOuterClass.StateMutation;
import concord.operator.v1.OperatorOuterClass.StateValue;
import concord.operator.v1.OperatorOuterClass.TimerFired;
import concord.types.v1.Types;
import concord.types.v1.Types.Record;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.Test;

public class SessionTest {
    /** A computation whose processRecord is the given lambda; echoes by default. */
    static Computation op(Metadata metadata, BiConsumer<Context, Record> onRecord) {
        return new Computation() {
            @Override
            public Metadata metadata() {
                return metadata;
            }

            @Override
            public void init(Context ctx) {
                ctx.produceRecord("out", "init", "x");
                ctx.setTimer("t", 42);
            }

            @Override
            public void processRecord(Context ctx, Record record) {
                onRecord.accept(ctx, record);
            }

            @Override
            public void processTimer(Context ctx, String key, long timeUnixMs) {
                ctx.produceRecord("out", "timer:" + key, Long.toString(timeUnixMs));
            }
        };
    }

    static Metadata meta(String... states) {
        Metadata.Builder b = Metadata.builder("op").input("in", Grouping.GROUP_BY).output("out");
        for (String s : states) {
            b.state(s);
        }
        return b.build();
    }

    static Record rec(String key, String value) {
        return Record.newBuilder().setKey(ByteString.copyFromUtf8(key)).setValue(ByteString.copyFromUtf8(value)).build();
    }

    static String utf8(ByteString b) {
        return b.toStringUtf8();
    }

    @Test
    public void metadata_comes_first_then_init_products_then_batches_in_order_and_shutdown_exits_0() throws Exception {
        List<String> destroyed = new ArrayList<>();
        Computation c = new Computation() {
            @Override
            public Metadata metadata() {
                return meta();
            }

            @Override
            public void init(Context ctx) {
                ctx.produceRecord("out", "init", "x");
                ctx.log("hello from init");
            }

            @Override
            public void processRecord(Context ctx, Record record) {
                ctx.produceRecord("out", record.getKey(), record.getValue().concat(ByteString.copyFromUtf8("!")));
            }

            @Override
            public void destroy() {
                destroyed.add("yes");
            }
        };
        Driver d = new Driver(c);
        d.send(Driver.init());
        OperatorMessage first = d.next();
        assertTrue(first.hasMetadata());
        assertEquals("op", first.getMetadata().getMetadata().getName());
        assertEquals(SdkLimits.CAPABILITIES, first.getMetadata().getCapabilitiesList());
        assertEquals(Types.Grouping.GROUPING_GROUP_BY, first.getMetadata().getMetadata().getInputs(0).getGrouping());
        assertEquals("hello from init", d.next().getLog().getMessage());
        BatchDone zero = d.next().getBatchDone();
        assertEquals(0, zero.getSeq());
        assertEquals("init", utf8(zero.getProduced(0).getRecord().getKey()));

        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "1")).addRecords(rec("b", "2")));
        d.send(ProcessBatch.newBuilder().setSeq(2).addRecords(rec("c", "3")));
        BatchDone one = d.next().getBatchDone();
        BatchDone two = d.next().getBatchDone();
        assertEquals(1, one.getSeq());
        assertEquals(List.of("1!", "2!"), List.of(utf8(one.getProduced(0).getRecord().getValue()), utf8(one.getProduced(1).getRecord().getValue())));
        assertEquals(2, two.getSeq());
        d.shutdown();
        assertEquals(SdkLimits.EXIT_OK, d.exitCode());
        assertEquals(List.of("yes"), destroyed);
    }

    @Test
    public void produced_records_inherit_trace_ingest_time_and_event_time_unless_given() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> {
            ctx.produceRecord("out", r.getKey(), r.getValue());
            ctx.produceRecord("out", r.getKey(), r.getValue(), 77);
        }));
        d.send(Driver.init());
        d.next();
        BatchDone zero = d.next().getBatchDone();
        Record fromInit = zero.getProduced(0).getRecord();
        long now = System.currentTimeMillis();
        assertTrue("init products get event time now", Math.abs(fromInit.getEventTimeUnixMs() - now) < Driver.STEP_TIMEOUT_MS);
        assertEquals(fromInit.getEventTimeUnixMs(), fromInit.getIngestTimeUnixUs() / 1000);
        Types.TraceContext trace = Types.TraceContext.newBuilder().setTraceId(ByteString.copyFrom(new byte[16])).build();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("k", "v").toBuilder().setEventTimeUnixMs(5).setIngestTimeUnixUs(9).setTrace(trace)));
        BatchDone one = d.next().getBatchDone();
        Record inherited = one.getProduced(0).getRecord();
        assertEquals(5, inherited.getEventTimeUnixMs());
        assertEquals(9, inherited.getIngestTimeUnixUs());
        assertEquals(trace, inherited.getTrace());
        assertEquals(77, one.getProduced(1).getRecord().getEventTimeUnixMs());
        assertEquals(9, one.getProduced(1).getRecord().getIngestTimeUnixUs());
    }

    @Test
    public void an_undeclared_stream_is_a_fatal_error_naming_it_and_the_fix() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> ctx.produceRecord("nope", "k", "v")));
        d.send(Driver.init());
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "1")));
        OperatorMessage error = d.next();
        assertTrue(error.getError().getFatal());
        assertTrue(error.getError().getMessage(), error.getError().getMessage().contains("stream 'nope' is not in the metadata's outputs [out]"));
        assertTrue(error.getError().getMessage().contains("batch 1"));
        assertTrue(error.getError().getDetail().contains("SessionTest"));
        assertEquals(SdkLimits.EXIT_FATAL, d.exitCode());
    }

    @Test
    public void a_record_over_the_limit_is_refused_in_the_callback() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> ctx.produceRecord("out", new byte[24], new byte[1001])));
        d.send(Driver.init()); // max_record_bytes 1024
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "1")));
        String message = d.next().getError().getMessage();
        assertTrue(message, message.contains("record of 1025 bytes (key 24 + value 1001)") && message.contains("limit of 1024 bytes"));
        assertEquals(SdkLimits.EXIT_FATAL, d.exitCode());
    }

    @Test
    public void an_exception_in_a_callback_is_fatal_with_its_type_and_message() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> {
            throw new IllegalStateException("on purpose");
        }));
        d.send(Driver.init());
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "1")));
        assertEquals("IllegalStateException in batch 1: on purpose", d.next().getError().getMessage());
        assertEquals(SdkLimits.EXIT_FATAL, d.exitCode());
    }

    @Test
    public void an_init_requiring_an_unknown_capability_is_refused() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> { }));
        d.send(Driver.init().addRequiredCapabilities("teleport.v1"));
        String message = d.next().getError().getMessage();
        assertTrue(message, message.contains("teleport.v1") && message.contains("upgrade the SDK"));
        assertEquals(SdkLimits.EXIT_FATAL, d.exitCode());
    }

    @Test
    public void the_executor_ending_the_stream_without_shutdown_is_fatal() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> { }));
        d.send(Driver.init());
        d.next();
        d.next();
        d.end();
        assertTrue(d.next().getError().getMessage().contains("closed the session without Shutdown"));
        assertEquals(SdkLimits.EXIT_FATAL, d.exitCode());
    }

    @Test
    public void timers_fire_into_processTimer_and_are_answered_with_the_batch() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> ctx.setTimer("later", 100)));
        d.send(Driver.init());
        d.next();
        BatchDone zero = d.next().getBatchDone();
        assertEquals("t", zero.getTimersSet(0).getKey());
        assertEquals(42, zero.getTimersSet(0).getTimeUnixMs());
        assertTrue("a stateless operator's timers carry no state key", zero.getTimersSet(0).getStateKey().isEmpty());
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "1"))
                .addTimersFired(TimerFired.newBuilder().setKey("t").setTimeUnixMs(42)));
        BatchDone one = d.next().getBatchDone();
        assertEquals("timer:t", utf8(one.getProduced(0).getRecord().getKey()));
        assertEquals("later", one.getTimersSet(0).getKey());
        assertTrue(one.getTimersSet(0).getStateKey().isEmpty());
    }

    @Test
    public void event_time_timers_need_the_executors_capability() throws Exception {
        Driver d = new Driver(op(meta(), (ctx, r) -> ctx.setTimer("e", 1, TimeDomain.EVENT)));
        d.send(Driver.init().clearCapabilities().addCapabilities(SdkLimits.CAPABILITY_TIMERS));
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "1")));
        assertTrue(d.next().getError().getMessage().contains(SdkLimits.CAPABILITY_EVENT_TIME));
    }

    @Test
    public void keyed_state_sees_its_own_writes_across_pipelined_batches_and_returns_mutations() throws Exception {
        Driver d = new Driver(op(meta("count"), (ctx, r) -> {
            ValueState count = ctx.state("count");
            if (r.getValue().toStringUtf8().equals("clear")) {
                count.clear();
                return;
            }
            String v = count.getString();
            long n = (v == null ? 0 : Long.parseLong(v)) + 1;
            count.set(Long.toString(n));
            ctx.produceRecord("out", r.getKey(), ByteString.copyFromUtf8(Long.toString(n)));
            ctx.setTimer("flush", 10);
        }));
        d.send(Driver.init());
        assertEquals("count", d.next().getMetadata().getMetadata().getStates(0).getName());
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "")).addRecords(rec("a", "")));
        // Batch 2 carries state as of batch 0: the SDK overlays its own batch-1 writes.
        d.send(ProcessBatch.newBuilder().setSeq(2).addRecords(rec("a", "")).addRecords(rec("b", "")));
        BatchDone one = d.next().getBatchDone();
        assertEquals(List.of("1", "2"), List.of(utf8(one.getProduced(0).getRecord().getValue()), utf8(one.getProduced(1).getRecord().getValue())));
        assertEquals(1, one.getStateMutationsCount()); // coalesced to the last change per (key, name)
        StateMutation m = one.getStateMutations(0);
        assertEquals("a", utf8(m.getKey()));
        assertEquals("2", utf8(m.getValue()));
        assertEquals("a", utf8(one.getTimersSet(0).getStateKey())); // keyed timer
        BatchDone two = d.next().getBatchDone();
        assertEquals("3", utf8(two.getProduced(0).getRecord().getValue()));
        assertEquals("1", utf8(two.getProduced(1).getRecord().getValue()));
        // Batch 3 carries state as of batch 2 (shipped); a clear is a mutation with clear set.
        d.send(ProcessBatch.newBuilder().setSeq(3).setStateAsOfSeq(2)
                .addStates(KeyState.newBuilder().setKey(ByteString.copyFromUtf8("a"))
                        .addValues(StateValue.newBuilder().setName("count").setValue(ByteString.copyFromUtf8("3"))))
                .addRecords(rec("a", "")).addRecords(rec("b", "clear")));
        BatchDone three = d.next().getBatchDone();
        assertEquals("4", utf8(three.getProduced(0).getRecord().getValue()));
        assertTrue(three.getStateMutations(1).getClear());
        // A state as of a batch that is not earlier is the executor's bug: fatal, named.
        d.send(ProcessBatch.newBuilder().setSeq(4).setStateAsOfSeq(4).addRecords(rec("a", "")));
        assertTrue(d.next().getError().getMessage().contains("state_as_of_seq below seq"));
    }

    @Test
    public void state_is_refused_in_init_and_for_undeclared_names() throws Exception {
        Computation c = new Computation() {
            @Override
            public Metadata metadata() {
                return meta("count");
            }

            @Override
            public void processRecord(Context ctx, Record record) {
                ctx.state("other");
            }
        };
        Driver d = new Driver(c);
        d.send(Driver.init());
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "")));
        String message = d.next().getError().getMessage();
        assertTrue(message, message.contains("state 'other' is not declared") && message.contains("[count]"));

        Computation inInit = new Computation() {
            @Override
            public Metadata metadata() {
                return meta("count");
            }

            @Override
            public void init(Context ctx) {
                ctx.state("count").get();
            }
        };
        Driver d2 = new Driver(inInit);
        d2.send(Driver.init());
        d2.next();
        assertTrue(d2.next().getError().getMessage().contains("used in init()"));
    }

    @Test
    public void state_values_over_the_limit_are_refused() throws Exception {
        Driver d = new Driver(op(meta("count"), (ctx, r) -> ctx.state("count").set(new byte[11])));
        d.send(Driver.init().setMaxStateValueBytes(10));
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "")));
        assertTrue(d.next().getError().getMessage().contains("value of 11 bytes exceeds the limit of 10 bytes"));
    }

    @Test
    public void metadata_builder_refuses_bad_names_and_reserved_or_repeated_states() {
        assertThrows(IllegalArgumentException.class, () -> Metadata.builder("op").output("a b"));
        assertThrows(IllegalArgumentException.class, () -> Metadata.builder("op").input("x".repeat(SdkLimits.STREAM_NAME_CHARS_MAX + 1)));
        assertThrows(IllegalArgumentException.class, () -> Metadata.builder("op").state("concord.timers"));
        assertThrows(IllegalArgumentException.class, () -> Metadata.builder("op").state("a").state("a"));
        assertThrows(IllegalArgumentException.class, () -> Metadata.builder(""));
        Metadata ok = Metadata.builder("op").input("x".repeat(SdkLimits.STREAM_NAME_CHARS_MAX)).build();
        assertEquals(Types.Grouping.GROUPING_SHUFFLE, ok.toProto().getInputs(0).getGrouping());
    }

    @Test
    public void context_calls_outside_a_callback_are_refused() throws Exception {
        Context[] kept = new Context[1];
        Driver d = new Driver(op(meta(), (ctx, r) -> kept[0] = ctx));
        d.send(Driver.init());
        d.next();
        d.next();
        d.send(ProcessBatch.newBuilder().setSeq(1).addRecords(rec("a", "")));
        d.next();
        assertThrows(IllegalStateException.class, () -> kept[0].produceRecord("out", "k", "v"));
    }
}

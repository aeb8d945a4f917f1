package io.concord.sdk.internal;

import com.google.protobuf.ByteString;
import concord.operator.v1.OperatorOuterClass.BatchDone;
import concord.operator.v1.OperatorOuterClass.Init;
import concord.operator.v1.OperatorOuterClass.KeyState;
import concord.operator.v1.OperatorOuterClass.Log;
import concord.operator.v1.OperatorOuterClass.OperatorMessage;
import concord.operator.v1.OperatorOuterClass.ProcessBatch;
import concord.operator.v1.OperatorOuterClass.ProducedRecord;
import concord.operator.v1.OperatorOuterClass.StateMutation;
import concord.operator.v1.OperatorOuterClass.StateValue;
import concord.operator.v1.OperatorOuterClass.TimerSet;
import concord.types.v1.Types.Record;
import io.concord.sdk.Context;
import io.concord.sdk.LogLevel;
import io.concord.sdk.Metadata;
import io.concord.sdk.ProduceException;
import io.concord.sdk.SdkLimits;
import io.concord.sdk.StateException;
import io.concord.sdk.TimeDomain;
import io.concord.sdk.ValueState;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** The {@link Context} of one session: buffers what the callbacks of a batch do until its BatchDone. */
final class SessionContext implements Context {
    /** A (key, name) pair of keyed state. */
    private record StateRef(ByteString key, String name) {
    }

    /** A pending timer's identity: one per (state key, key, domain). */
    private record TimerRef(ByteString stateKey, String key, TimeDomain domain) {
    }

    /** Marks a cleared value in the view and in mutations (a map cannot hold null distinctly). */
    private static final ByteString CLEARED = ByteString.copyFromUtf8("\u0000cleared");

    private final String operatorName;
    private final int instanceIndex;
    private final int instanceCount;
    private final Set<String> outputs;
    private final Map<String, StateHandle> states = new HashMap<>();
    private final int maxRecordBytes;
    private final int maxStateValueBytes;
    private final int maxBatchesInFlight;
    private final boolean eventTime;
    private final Thread thread;

    private BatchDone.Builder done = BatchDone.newBuilder();
    private final List<OperatorMessage> logs = new ArrayList<>();
    private final Map<TimerRef, Long> timers = new LinkedHashMap<>();
    private Map<StateRef, ByteString> view = new HashMap<>();
    private Map<StateRef, ByteString> mutations = new LinkedHashMap<>();
    /** This SDK's own mutations of answered batches not yet in the shipped states, oldest first. */
    private final ArrayDeque<Map.Entry<Long, Map<StateRef, ByteString>>> overlays = new ArrayDeque<>();

    private Record current;
    private ByteString timerStateKey = ByteString.EMPTY;
    private long nowUs;
    private boolean inInit;
    private boolean inCallback;
    private long watermarkMs;

    SessionContext(Init init, Metadata metadata) {
        operatorName = init.getOperatorName();
        instanceIndex = init.getInstanceIndex();
        instanceCount = init.getInstanceCount();
        outputs = new TreeSet<>(metadata.outputs());
        for (String s : metadata.states()) {
            states.put(s, new StateHandle(s));
        }
        maxRecordBytes = init.getMaxRecordBytes() > 0 ? init.getMaxRecordBytes() : SdkLimits.RECORD_BYTES_MAX_DEFAULT;
        maxStateValueBytes = init.getMaxStateValueBytes() > 0 ? init.getMaxStateValueBytes() : SdkLimits.STATE_VALUE_BYTES_MAX_DEFAULT;
        maxBatchesInFlight = init.getMaxBatchesInFlight();
        eventTime = init.getCapabilitiesList().contains(SdkLimits.CAPABILITY_EVENT_TIME);
        thread = Thread.currentThread();
    }

    @Override
    public String operatorName() {
        return operatorName;
    }

    @Override
    public int instanceIndex() {
        return instanceIndex;
    }

    @Override
    public int instanceCount() {
        return instanceCount;
    }

    @Override
    public ByteString stateKey() {
        return current != null ? current.getKey() : timerStateKey;
    }

    @Override
    public long watermarkUnixMs() {
        return watermarkMs;
    }

    @Override
    public void produceRecord(String stream, ByteString key, ByteString value, long eventTimeUnixMs) {
        checkThread("produceRecord");
        if (!outputs.contains(stream)) {
            throw new ProduceException("produceRecord: stream '" + stream + "' is not in the metadata's outputs " + outputs
                    + "; add it with .output(\"" + stream + "\") or produce to a declared stream");
        }
        if (key == null || value == null) {
            throw new ProduceException("produceRecord: key and value must not be null; use ByteString.EMPTY for none");
        }
        int k = key.size();
        int v = value.size();
        if ((long) k + v > maxRecordBytes) {
            throw new ProduceException("produceRecord: record of " + (k + v) + " bytes (key " + k + " + value " + v + ") on stream '"
                    + stream + "' exceeds the limit of " + maxRecordBytes + " bytes; store large payloads elsewhere and send a reference");
        }
        Record.Builder r = Record.newBuilder().setKey(key).setValue(value);
        if (current != null) {
            r.setEventTimeUnixMs(eventTimeUnixMs != 0 ? eventTimeUnixMs : current.getEventTimeUnixMs());
            if (current.hasTrace()) {
                r.setTrace(current.getTrace());
            }
            r.setIngestTimeUnixUs(current.getIngestTimeUnixUs());
        } else {
            r.setEventTimeUnixMs(eventTimeUnixMs != 0 ? eventTimeUnixMs : nowUs / 1000);
            r.setIngestTimeUnixUs(nowUs);
        }
        done.addProduced(ProducedRecord.newBuilder().setStream(stream).setRecord(r));
    }

    @Override
    public void setTimer(String key, long timeUnixMs, TimeDomain domain) {
        checkThread("setTimer");
        if (key == null || domain == null) {
            throw new IllegalArgumentException("setTimer: key and domain must not be null");
        }
        if (domain == TimeDomain.EVENT && !eventTime) {
            throw new IllegalStateException("setTimer: event-time timers need an executor with the capability "
                    + SdkLimits.CAPABILITY_EVENT_TIME + ", which this one lacks; use TimeDomain.PROCESSING or upgrade the executor");
        }
        // Without declared states timers stay one per key for the instance, not one per record key.
        ByteString stateKey = states.isEmpty() ? ByteString.EMPTY : stateKey();
        TimerRef ref = new TimerRef(stateKey, key, domain);
        timers.remove(ref); // re-setting moves it to the end: the last set wins, in order
        timers.put(ref, timeUnixMs);
    }

    @Override
    public ValueState state(String name) {
        StateHandle handle = states.get(name);
        if (handle == null) {
            throw new StateException("state '" + name + "' is not declared in the metadata's states " + new TreeSet<>(states.keySet())
                    + "; add it with .state(\"" + name + "\") or use a declared name");
        }
        if (inInit) {
            throw new StateException("state '" + name + "' used in init(): state belongs to a key and init() has none in scope; "
                    + "use state in processRecord or processTimer");
        }
        return handle;
    }

    @Override
    public void log(LogLevel level, String message) {
        String text = String.valueOf(message);
        if (text.length() > SdkLimits.LOG_MESSAGE_CHARS_MAX) {
            text = text.substring(0, SdkLimits.LOG_MESSAGE_CHARS_MAX) + "... (truncated, SdkLimits.LOG_MESSAGE_CHARS_MAX)";
        }
        Log.Level l = switch (level == null ? LogLevel.INFO : level) {
            case DEBUG -> Log.Level.LEVEL_DEBUG;
            case INFO -> Log.Level.LEVEL_INFO;
            case WARNING -> Log.Level.LEVEL_WARNING;
            case ERROR -> Log.Level.LEVEL_ERROR;
        };
        synchronized (logs) {
            logs.add(OperatorMessage.newBuilder().setLog(Log.newBuilder().setLevel(l).setMessage(text)).build());
        }
    }

    private void checkThread(String what) {
        if (Thread.currentThread() != thread || !inCallback) {
            throw new IllegalStateException(what + " called outside a callback or from another thread; "
                    + "call it from init, processRecord or processTimer");
        }
    }

    // ---- used by the session ----

    void enterInit() {
        enterNow(ByteString.EMPTY);
        inInit = true;
        inCallback = true;
    }

    void leaveInit() {
        inInit = false;
        inCallback = false;
    }

    /** Before init and each timer: produced records get event and ingest time "now". */
    void enterNow(ByteString stateKey) {
        java.time.Instant now = java.time.Instant.now();
        nowUs = now.getEpochSecond() * 1_000_000 + now.getNano() / 1_000;
        current = null;
        timerStateKey = stateKey;
    }

    void enterRecord(Record record) {
        current = record;
    }

    /** Before the callbacks of a batch: its watermark and state view. */
    void beginBatch(ProcessBatch batch) {
        watermarkMs = batch.getWatermarkUnixMs();
        inCallback = true;
        if (states.isEmpty()) {
            return;
        }
        long asOf = batch.getStateAsOfSeq();
        long seq = batch.getSeq();
        if (Long.compareUnsigned(asOf, seq) >= 0) {
            throw new ProtocolException("batch " + seq + " carries state as of batch " + asOf
                    + ", which is not an earlier batch; the executor must set state_as_of_seq below seq");
        }
        long unapplied = seq - 1 - asOf;
        if (maxBatchesInFlight > 0 && unapplied > maxBatchesInFlight) {
            throw new ProtocolException("batch " + seq + " carries state as of batch " + asOf + ": " + unapplied
                    + " earlier batches' state mutations are not applied, more than max_batches_in_flight " + maxBatchesInFlight
                    + "; the executor must apply BatchDone.state_mutations before it cuts more batches");
        }
        while (!overlays.isEmpty() && overlays.peekFirst().getKey() <= asOf) {
            overlays.removeFirst();
        }
        Map<StateRef, ByteString> v = new HashMap<>();
        for (KeyState ks : batch.getStatesList()) {
            for (StateValue sv : ks.getValuesList()) {
                v.put(new StateRef(ks.getKey(), sv.getName()), sv.getValue());
            }
        }
        for (Map.Entry<Long, Map<StateRef, ByteString>> o : overlays) {
            v.putAll(o.getValue());
        }
        view = v;
    }

    /** The messages that finish batch {@code seq}: its logs, then its BatchDone. */
    List<OperatorMessage> take(long seq) {
        inCallback = false;
        current = null;
        List<OperatorMessage> out;
        synchronized (logs) {
            out = new ArrayList<>(logs);
            logs.clear();
        }
        BatchDone.Builder b = done.setSeq(seq);
        for (Map.Entry<TimerRef, Long> t : timers.entrySet()) {
            TimerRef ref = t.getKey();
            b.addTimersSet(TimerSet.newBuilder().setKey(ref.key()).setTimeUnixMs(t.getValue()).setStateKey(ref.stateKey())
                    .setDomain(ref.domain() == TimeDomain.EVENT
                            ? concord.operator.v1.OperatorOuterClass.TimeDomain.TIME_DOMAIN_EVENT
                            : concord.operator.v1.OperatorOuterClass.TimeDomain.TIME_DOMAIN_PROCESSING));
        }
        for (Map.Entry<StateRef, ByteString> m : mutations.entrySet()) {
            StateMutation.Builder sm = StateMutation.newBuilder().setKey(m.getKey().key()).setName(m.getKey().name());
            if (m.getValue() == CLEARED) {
                sm.setClear(true);
            } else {
                sm.setValue(m.getValue());
            }
            b.addStateMutations(sm);
        }
        out.add(OperatorMessage.newBuilder().setBatchDone(b).build());
        if (!mutations.isEmpty()) {
            // Kept until a batch arrives whose shipped states include them (state_as_of_seq).
            overlays.addLast(Map.entry(seq, mutations));
            mutations = new LinkedHashMap<>();
        }
        timers.clear();
        done = BatchDone.newBuilder();
        return out;
    }

    /** A declared state; every call acts on the key in scope at that moment. */
    private final class StateHandle implements ValueState {
        private final String name;

        StateHandle(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public byte[] get() {
            ByteString v = view.get(new StateRef(stateKey(), name));
            return v == null || v == CLEARED ? null : v.toByteArray();
        }

        @Override
        public void set(byte[] value) {
            checkThread("state '" + name + "'.set");
            if (value == null) {
                throw new StateException("state '" + name + "': set(null); use clear() to remove the value");
            }
            if (value.length > maxStateValueBytes) {
                throw new StateException("state '" + name + "': value of " + value.length + " bytes exceeds the limit of "
                        + maxStateValueBytes + " bytes (Init.max_state_value_bytes); keep large values elsewhere and store a reference");
            }
            put(ByteString.copyFrom(value));
        }

        @Override
        public void clear() {
            checkThread("state '" + name + "'.clear");
            put(CLEARED);
        }

        private void put(ByteString value) {
            StateRef ref = new StateRef(stateKey(), name);
            view.put(ref, value);
            mutations.remove(ref);
            mutations.put(ref, value);
        }

        @Override
        public String toString() {
            return "ValueState(" + name + ")";
        }
    }
}

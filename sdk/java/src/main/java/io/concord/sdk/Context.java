package io.concord.sdk;

import com.google.protobuf.ByteString;

/**
 * What callbacks use to emit records, set timers and reach keyed state. Everything they do is
 * buffered and sent to the executor in the BatchDone of the batch being processed. Only valid
 * inside a callback, on the operator thread.
 */
public interface Context {
    /** Operator name from the executor's Init. */
    String operatorName();

    /** Index of this instance, 0-based. */
    int instanceIndex();

    /** Number of instances when the session opened. */
    int instanceCount();

    /**
     * Emits a record on {@code stream} (one of the metadata's outputs). {@code eventTimeUnixMs}
     * 0 inherits the event time of the record being processed ("now" in init and timers).
     *
     * @throws ProduceException for an undeclared stream or a record over the size limit
     */
    void produceRecord(String stream, ByteString key, ByteString value, long eventTimeUnixMs);

    /** {@link #produceRecord(String, ByteString, ByteString, long)} inheriting the event time. */
    default void produceRecord(String stream, ByteString key, ByteString value) {
        produceRecord(stream, key, value, 0);
    }

    /** Bytes are copied. */
    default void produceRecord(String stream, byte[] key, byte[] value) {
        produceRecord(stream, ByteString.copyFrom(key), ByteString.copyFrom(value), 0);
    }

    /** Key and value as UTF-8 text. */
    default void produceRecord(String stream, String key, String value) {
        produceRecord(stream, ByteString.copyFromUtf8(key), ByteString.copyFromUtf8(value), 0);
    }

    /**
     * Asks for {@link Computation#processTimer} at {@code timeUnixMs}, an absolute time in ms since
     * the Unix epoch (not a delay), on the wall clock. In an operator that declares states the
     * timer belongs to the key in scope: one pending timer per (state key, key, domain); setting
     * it again replaces its time. Without declared states: one per (key, domain).
     */
    default void setTimer(String key, long timeUnixMs) {
        setTimer(key, timeUnixMs, TimeDomain.PROCESSING);
    }

    /** {@link #setTimer(String, long)} in {@code domain}; EVENT needs the executor's "event-time.v1". */
    void setTimer(String key, long timeUnixMs, TimeDomain domain);

    /**
     * The declared state {@code name} for the key in scope.
     *
     * @throws StateException for an undeclared name, or in init (no key is in scope)
     */
    ValueState state(String name);

    /**
     * The key whose state is in scope: the record's key in processRecord, the timer's state key in
     * processTimer, empty in init.
     */
    ByteString stateKey();

    /** The executor's input watermark when the batch was cut (ms since the Unix epoch; 0 when unknown, and in init). */
    long watermarkUnixMs();

    /** A log line to the executor's log, sent with the batch's answer. */
    void log(LogLevel level, String message);

    /** An INFO log line. */
    default void log(String message) {
        log(LogLevel.INFO, message);
    }
}

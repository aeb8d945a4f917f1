package io.concord.sdk;

import concord.types.v1.Types.Record;

/**
 * An operator. Every callback runs on one thread, in delivery order: the records of a batch in
 * order, then its fired timers. Any exception escaping a callback is fatal.
 */
public interface Computation {
    /** Name, inputs with groupings, outputs and states; called once at session start. */
    Metadata metadata();

    /** Once, before any record; may produce records and set timers. */
    default void init(Context ctx) {
    }

    /** Every record of every input; {@code record} is the received message: do not keep it. */
    default void processRecord(Context ctx, Record record) {
    }

    /**
     * A timer set with {@link Context#setTimer} is due. The state in scope
     * ({@link Context#stateKey()}) is the record key that was in scope when it was set.
     */
    default void processTimer(Context ctx, String key, long timeUnixMs) {
        throw new UnsupportedOperationException(
                getClass().getSimpleName() + " sets timers but does not override processTimer; handle the timer '" + key + "'");
    }

    /** On Shutdown, before the process exits 0; not after a fatal error. */
    default void destroy() {
    }
}

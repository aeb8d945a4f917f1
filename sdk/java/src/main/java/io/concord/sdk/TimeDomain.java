package io.concord.sdk;

/** What clock a timer follows. */
public enum TimeDomain {
    /** Fires when the wall clock reaches the timer's time (the default). */
    PROCESSING,
    /** Fires when the executor's input watermark reaches the timer's time ("event-time.v1"). */
    EVENT
}

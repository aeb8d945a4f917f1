package io.concord.sdk;

/**
 * One declared state of the operator, as {@link Context#state(String)} returns it. Every call
 * acts on the value of the key in scope at that moment ({@link Context#stateKey()}).
 */
public interface ValueState {
    /** The declared state name. */
    String name();

    /** A copy of the value last set for the key in scope, or null when it has none. */
    byte[] get();

    /** The value as UTF-8 text, or null when it has none. */
    default String getString() {
        byte[] v = get();
        return v == null ? null : new String(v, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Sets the value (copied) for the key in scope, at most Init.max_state_value_bytes. */
    void set(byte[] value);

    /** Sets the value as UTF-8 text. */
    default void set(String value) {
        set(value.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** Removes the value of the key in scope ({@link #get()} returns null afterwards). */
    void clear();
}

package io.concord.sdk;

/**
 * Thrown in the user's callback by {@link Context#produceRecord} for a record the protocol
 * forbids (undeclared stream, too large). It is a bug in the operator: if it escapes the
 * callback the session ends with a fatal error.
 */
public class ProduceException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public ProduceException(String message) {
        super(message);
    }
}

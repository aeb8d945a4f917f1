package io.concord.sdk;

/**
 * Thrown in the user's callback by {@link Context#state} and {@link ValueState} for a use the
 * protocol forbids (an undeclared name, a value over the executor's limit, state in init). It is
 * a bug in the operator: if it escapes the callback the session ends with a fatal error.
 */
public class StateException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public StateException(String message) {
        super(message);
    }
}

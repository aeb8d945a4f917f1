package io.concord.sdk.internal;

/** The executor broke the session protocol (wrong first message, bad Init, bad batch). */
public final class ProtocolException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ProtocolException(String message) {
        super(message);
    }
}

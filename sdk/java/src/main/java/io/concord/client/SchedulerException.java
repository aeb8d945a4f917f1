package io.concord.client;

import io.grpc.Status;

/** A scheduler call failed: {@link #code()} is the gRPC status, the message carries the scheduler's own words. */
public class SchedulerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final transient Status.Code code;
    private final String details;

    public SchedulerException(String method, Status.Code code, String details, Throwable cause) {
        super(method + " failed: " + code + ": " + details, cause);
        this.code = code;
        this.details = details;
    }

    public Status.Code code() {
        return code;
    }

    public String details() {
        return details;
    }
}

package io.concord.sdk.internal;

import io.concord.sdk.SdkLimits;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Refuses every call that does not carry the launch's secret ({@link SdkLimits#OPERATOR_SECRET_HEADER})
 * with UNAUTHENTICATED: on loopback TCP any local user could otherwise open the session.
 */
public final class SecretInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> HEADER = Metadata.Key.of(SdkLimits.OPERATOR_SECRET_HEADER, Metadata.ASCII_STRING_MARSHALLER);

    private final byte[] secret;

    public SecretInterceptor(String secret) {
        if (secret == null || secret.isEmpty()) {
            throw new IllegalArgumentException("the operator secret is empty");
        }
        this.secret = secret.getBytes(StandardCharsets.US_ASCII);
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
        String presented = headers.get(HEADER);
        // Constant-time comparison: the time to refuse must not tell how much of a guess was right.
        if (presented == null || !MessageDigest.isEqual(secret, presented.getBytes(StandardCharsets.US_ASCII))) {
            call.close(Status.UNAUTHENTICATED.withDescription("the call lacks this operator's secret ("
                    + SdkLimits.OPERATOR_SECRET_HEADER + "); only the executor that started the operator may open its session"),
                    new Metadata());
            return new ServerCall.Listener<>() {
            };
        }
        return next.startCall(call, headers);
    }
}

package io.concord.sdk;

import io.concord.sdk.internal.SecretInterceptor;
import io.concord.sdk.internal.SessionService;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Serves a {@link Computation}'s operator session. Under the executor this SDK listens on
 * 127.0.0.1 TCP (Debian's grpc-java has no unix-socket transport): it binds a free port,
 * announces it in {@code CONCORD_OPERATOR_PORT_FILE} and refuses every call without
 * {@code CONCORD_OPERATOR_SECRET} (UNAUTHENTICATED). By hand, {@code CONCORD_OPERATOR_ADDRESS}
 * may be a host:port to serve instead.
 */
public final class ComputationServer {
    private ComputationServer() {
    }

    /**
     * What {@code main} calls: serves {@code computation} until the executor shuts the session
     * down, then exits the process: 0 after Shutdown, 1 after a fatal error, 2 when started wrongly.
     */
    public static void serve(Computation computation) {
        System.exit(run(computation, System.getenv()));
    }

    /** {@link #serve} without the exit, with the environment given (tests, embedding). */
    public static int run(Computation computation, Map<String, String> env) {
        String portFile = nonEmpty(env.get(SdkLimits.OPERATOR_PORT_FILE_VARIABLE));
        String secret = nonEmpty(env.get(SdkLimits.OPERATOR_SECRET_VARIABLE));
        String address = nonEmpty(env.get(SdkLimits.OPERATOR_ADDRESS_VARIABLE));
        InetSocketAddress listen;
        if (portFile != null) {
            if (secret == null) {
                return usage(SdkLimits.OPERATOR_PORT_FILE_VARIABLE + " is set but " + SdkLimits.OPERATOR_SECRET_VARIABLE
                        + " is not; the executor sets both, and a loopback port without the secret would let any local user in");
            }
            listen = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        } else if (address != null) {
            try {
                listen = parseHostPort(address);
            } catch (IllegalArgumentException e) {
                return usage(SdkLimits.OPERATOR_ADDRESS_VARIABLE + "='" + address + "': " + e.getMessage());
            }
        } else {
            return usage(SdkLimits.OPERATOR_PORT_FILE_VARIABLE + " and " + SdkLimits.OPERATOR_ADDRESS_VARIABLE
                    + " are not set. Operators are started by the Concord executor, which sets them; to run one by hand set "
                    + SdkLimits.OPERATOR_ADDRESS_VARIABLE + "=127.0.0.1:7001");
        }

        SessionService service = new SessionService(computation);
        NettyServerBuilder builder = NettyServerBuilder.forAddress(listen)
                .maxInboundMessageSize(SdkLimits.GRPC_MESSAGE_BYTES_MAX);
        builder.addService(secret == null ? service.bindService()
                : ServerInterceptors.intercept(service, new SecretInterceptor(secret)));
        Server server;
        try {
            server = builder.build().start();
        } catch (IOException e) {
            System.err.println("concord: cannot listen on " + listen + " (" + e.getMessage() + "); check that the port is free");
            return SdkLimits.EXIT_FATAL;
        }
        try {
            if (portFile != null) {
                announce(Path.of(portFile), server.getPort());
            }
            if (!service.awaitOpened(SdkLimits.SESSION_OPEN_TIMEOUT_MS)) {
                System.err.println("concord: no session opened on port " + server.getPort() + " within "
                        + SdkLimits.SESSION_OPEN_TIMEOUT_MS / 1000 + " s; the executor is gone, exiting");
                return SdkLimits.EXIT_FATAL;
            }
            return service.awaitFinished();
        } catch (IOException e) {
            System.err.println("concord: cannot write the port file " + portFile + " (" + e.getMessage()
                    + "); the work directory must be writable");
            return SdkLimits.EXIT_FATAL;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return SdkLimits.EXIT_FATAL;
        } finally {
            server.shutdown();
            try {
                if (!server.awaitTermination(SdkLimits.SERVER_STOP_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                    server.shutdownNow();
                }
            } catch (InterruptedException e) {
                server.shutdownNow();
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Writes the port to a temporary name and renames it, so the executor never reads half a port. */
    static void announce(Path portFile, int port) throws IOException {
        Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
        Files.writeString(tmp, port + "\n", StandardCharsets.US_ASCII);
        Files.move(tmp, portFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** "host:port" to listen on; a unix socket path is refused with the reason. */
    static InetSocketAddress parseHostPort(String text) {
        String t = text.startsWith("unix://") ? text.substring("unix://".length()) : text;
        if (t.startsWith("/") || t.startsWith("./")) {
            throw new IllegalArgumentException("the Java SDK cannot serve a unix socket (Debian's grpc-java has no unix transport); "
                    + "run it under an executor, which sets " + SdkLimits.OPERATOR_PORT_FILE_VARIABLE + ", or give host:port (127.0.0.1:7001)");
        }
        int colon = t.lastIndexOf(':');
        int port = -1;
        if (colon > 0) {
            try {
                port = Integer.parseInt(t.substring(colon + 1));
            } catch (NumberFormatException e) {
                port = -1;
            }
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("not an operator address; expected host:port (127.0.0.1:7001)");
        }
        return new InetSocketAddress(t.substring(0, colon), port);
    }

    private static int usage(String message) {
        System.err.println("concord: " + message);
        return SdkLimits.EXIT_USAGE;
    }

    private static String nonEmpty(String s) {
        return s == null || s.isEmpty() ? null : s;
    }
}

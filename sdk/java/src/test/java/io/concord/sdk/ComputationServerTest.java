package io.concord.sdk;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import concord.operator.v1.OperatorGrpc;
import concord.operator.v1.OperatorOuterClass.ExecutorMessage;
import concord.operator.v1.OperatorOuterClass.OperatorMessage;
import concord.operator.v1.OperatorOuterClass.Shutdown;
import concord.types.v1.Types.Record;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/** The real gRPC server on loopback TCP, played by a grpc-java client as the executor. */
public class ComputationServerTest {
    private static final String SECRET = "0123456789abcdef";

    private static Computation echo() {
        return new Computation() {
            @Override
            public io.concord.sdk.Metadata metadata() {
                return io.concord.sdk.Metadata.builder("op").input("in").output("out").build();
            }

            @Override
            public void processRecord(Context ctx, Record record) {
                ctx.produceRecord("out", record.getKey(), record.getValue());
            }
        };
    }

    /** Starts the server as the executor would, and returns the port it announced. */
    private static int start(Path dir, CompletableFuture<Integer> exit) throws Exception {
        Path portFile = dir.resolve("operator.port");
        Thread t = new Thread(() -> exit.complete(ComputationServer.run(echo(), Map.of(
                SdkLimits.OPERATOR_PORT_FILE_VARIABLE, portFile.toString(),
                SdkLimits.OPERATOR_SECRET_VARIABLE, SECRET))), "server-under-test");
        t.setDaemon(true);
        t.start();
        long deadline = System.currentTimeMillis() + Driver.STEP_TIMEOUT_MS;
        // Another thread's file: polled, bounded.
        while (!Files.exists(portFile)) {
            if (System.currentTimeMillis() > deadline || exit.isDone()) {
                fail("the server did not announce its port in " + portFile + " within " + Driver.STEP_TIMEOUT_MS + " ms");
            }
            Thread.sleep(10);
        }
        String text = Files.readString(portFile, StandardCharsets.US_ASCII);
        assertTrue("the port file holds the port and a newline: '" + text + "'", text.matches("[0-9]+\n"));
        assertTrue("written via a temporary name, which is gone", !Files.exists(dir.resolve("operator.port.tmp")));
        return Integer.parseInt(text.trim());
    }

    /** Opens a session; {@code secret} null sends none. Messages and the final status go to the queue. */
    private static StreamObserver<ExecutorMessage> open(ManagedChannel channel, String secret, LinkedBlockingQueue<Object> seen) {
        OperatorGrpc.OperatorStub stub = OperatorGrpc.newStub(channel);
        if (secret != null) {
            Metadata headers = new Metadata();
            headers.put(Metadata.Key.of(SdkLimits.OPERATOR_SECRET_HEADER, Metadata.ASCII_STRING_MARSHALLER), secret);
            stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
        }
        return stub.session(new StreamObserver<>() {
            @Override
            public void onNext(OperatorMessage value) {
                seen.add(value);
            }

            @Override
            public void onError(Throwable t) {
                seen.add(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
                seen.add(Status.OK);
            }
        });
    }

    private static Object next(LinkedBlockingQueue<Object> q) throws InterruptedException {
        Object o = q.poll(Driver.STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        if (o == null) {
            fail("nothing arrived within " + Driver.STEP_TIMEOUT_MS + " ms");
        }
        return o;
    }

    @Test
    public void calls_without_the_secret_are_unauthenticated_and_the_executors_session_runs_to_exit_0() throws Exception {
        Path dir = Files.createTempDirectory("concord-java-sdk");
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        int port = start(dir, exit);
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            for (String wrong : new String[] {null, "guess", SECRET + "0"}) {
                LinkedBlockingQueue<Object> refused = new LinkedBlockingQueue<>();
                StreamObserver<ExecutorMessage> req = open(channel, wrong, refused);
                req.onNext(ExecutorMessage.newBuilder().setInit(Driver.init()).build());
                Object status = next(refused);
                assertTrue("refused, not served: " + status, status instanceof Status);
                assertEquals(Status.Code.UNAUTHENTICATED, ((Status) status).getCode());
                assertTrue(((Status) status).getDescription().contains(SdkLimits.OPERATOR_SECRET_HEADER));
            }
            assertTrue("a refused call does not end the operator", !exit.isDone());

            LinkedBlockingQueue<Object> seen = new LinkedBlockingQueue<>();
            StreamObserver<ExecutorMessage> req = open(channel, SECRET, seen);
            req.onNext(ExecutorMessage.newBuilder().setInit(Driver.init()).build());
            assertTrue(((OperatorMessage) next(seen)).hasMetadata());
            assertEquals(0, ((OperatorMessage) next(seen)).getBatchDone().getSeq());
            req.onNext(ExecutorMessage.newBuilder().setShutdown(Shutdown.getDefaultInstance()).build());
            assertEquals(Status.OK, next(seen));
            req.onCompleted();
            assertEquals(SdkLimits.EXIT_OK, (int) exit.get(Driver.STEP_TIMEOUT_MS, TimeUnit.MILLISECONDS));
        } finally {
            channel.shutdownNow();
        }
    }

    @Test
    public void started_wrongly_it_exits_2() {
        assertEquals(SdkLimits.EXIT_USAGE, ComputationServer.run(echo(), Map.of()));
        assertEquals(SdkLimits.EXIT_USAGE, ComputationServer.run(echo(), Map.of(SdkLimits.OPERATOR_PORT_FILE_VARIABLE, "/tmp/x.port")));
        assertEquals(SdkLimits.EXIT_USAGE, ComputationServer.run(echo(), Map.of(SdkLimits.OPERATOR_ADDRESS_VARIABLE, "/tmp/op.sock")));
        assertEquals(SdkLimits.EXIT_USAGE, ComputationServer.run(echo(), Map.of(SdkLimits.OPERATOR_ADDRESS_VARIABLE, "127.0.0.1:0x")));
    }
}

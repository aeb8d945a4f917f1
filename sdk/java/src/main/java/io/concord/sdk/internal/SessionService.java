package io.concord.sdk.internal;

import concord.operator.v1.OperatorGrpc;
import concord.operator.v1.OperatorOuterClass.ExecutorMessage;
import concord.operator.v1.OperatorOuterClass.OperatorMessage;
import io.concord.sdk.Computation;
import io.concord.sdk.SdkLimits;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Operator.Session over grpc-java: runs exactly one {@link Session} on a dedicated thread
 * ("concord-operator"), reading ahead at most {@link SdkLimits#INBOUND_MESSAGES_MAX} executor
 * messages and writing answers only while the transport is ready (backpressure).
 */
public final class SessionService extends OperatorGrpc.OperatorImplBase {
    /** Queue markers: the executor ended its stream, or the call was cancelled. */
    private static final Object END = new Object();
    private static final Object CANCELLED = new Object();

    private final Computation computation;
    private final AtomicBoolean opened = new AtomicBoolean();
    private final CountDownLatch openedLatch = new CountDownLatch(1);
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile int exitCode = SdkLimits.EXIT_FATAL;

    public SessionService(Computation computation) {
        this.computation = computation;
    }

    /** Waits for the executor to open the session; false after {@code timeoutMs}. */
    public boolean awaitOpened(long timeoutMs) throws InterruptedException {
        return openedLatch.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /** Waits for the session (and its linger) to end and returns the process exit code. */
    public int awaitFinished() throws InterruptedException {
        finished.await();
        return exitCode;
    }

    @Override
    public StreamObserver<ExecutorMessage> session(StreamObserver<OperatorMessage> responseObserver) {
        ServerCallStreamObserver<OperatorMessage> call = (ServerCallStreamObserver<OperatorMessage>) responseObserver;
        if (!opened.compareAndSet(false, true)) {
            call.onError(Status.FAILED_PRECONDITION
                    .withDescription("an operator serves exactly one session and it is already open").asRuntimeException());
            return new StreamObserver<>() {
                @Override
                public void onNext(ExecutorMessage value) {
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                }
            };
        }
        LinkedBlockingQueue<Object> inbound = new LinkedBlockingQueue<>();
        CountDownLatch requestEnded = new CountDownLatch(1);
        Object readyLock = new Object();
        call.disableAutoRequest();
        call.setOnReadyHandler(() -> {
            synchronized (readyLock) {
                readyLock.notifyAll();
            }
        });
        call.setOnCancelHandler(() -> {
            inbound.add(CANCELLED);
            requestEnded.countDown();
            synchronized (readyLock) {
                readyLock.notifyAll();
            }
        });
        call.request(SdkLimits.INBOUND_MESSAGES_MAX);

        Session.Inbound in = () -> {
            Object item = inbound.take();
            if (item == END) {
                return null;
            }
            if (item == CANCELLED || item instanceof Throwable) {
                inbound.add(item); // every later read sees the same end
                throw new ProtocolException("the executor cancelled the session or disconnected before sending Shutdown");
            }
            call.request(1);
            return (ExecutorMessage) item;
        };
        Session.Outbound out = message -> {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(SdkLimits.OUTBOUND_READY_WAIT_MS);
            synchronized (readyLock) {
                while (!call.isReady() && !call.isCancelled() && System.nanoTime() < deadline) {
                    try {
                        readyLock.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new ProtocolException("interrupted while waiting to send to the executor");
                    }
                }
            }
            if (call.isCancelled()) {
                throw new ProtocolException("the executor cancelled the session or disconnected before sending Shutdown");
            }
            call.onNext(message);
        };

        Thread worker = new Thread(() -> {
            try {
                exitCode = new Session(computation).run(in, out);
                if (!call.isCancelled()) {
                    call.onCompleted();
                }
                // Keep the connection until the executor closes its side, bounded: closing
                // earlier can make it discard the last message (docs/architecture.md).
                requestEnded.await(SdkLimits.SESSION_LINGER_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (RuntimeException e) {
                System.err.println("concord: session transport failed: " + e);
            } finally {
                finished.countDown();
            }
        }, "concord-operator");
        worker.setDaemon(true);
        worker.start();
        openedLatch.countDown();

        return new StreamObserver<>() {
            @Override
            public void onNext(ExecutorMessage value) {
                inbound.add(value);
            }

            @Override
            public void onError(Throwable t) {
                inbound.add(CANCELLED);
                requestEnded.countDown();
            }

            @Override
            public void onCompleted() {
                inbound.add(END);
                requestEnded.countDown();
            }
        };
    }
}

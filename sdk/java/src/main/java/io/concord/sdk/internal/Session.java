package io.concord.sdk.internal;

import concord.operator.v1.OperatorOuterClass.Error;
import concord.operator.v1.OperatorOuterClass.ExecutorMessage;
import concord.operator.v1.OperatorOuterClass.Init;
import concord.operator.v1.OperatorOuterClass.OperatorMessage;
import concord.operator.v1.OperatorOuterClass.ProcessBatch;
import concord.operator.v1.OperatorOuterClass.TimerFired;
import concord.types.v1.Types.Record;
import io.concord.sdk.Computation;
import io.concord.sdk.Metadata;
import io.concord.sdk.SdkLimits;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * One operator session: the protocol of operator.proto and docs/architecture.md ("Operator
 * session rules"), independent of the transport so it can be tested directly. Runs every
 * callback on the calling thread.
 */
public final class Session {
    /** The executor's messages, in order. */
    public interface Inbound {
        /**
         * The next message; null when the executor ended its stream.
         *
         * @throws ProtocolException when the call was cancelled or broke
         */
        ExecutorMessage next() throws InterruptedException;
    }

    /** Where the operator's messages go, in order. */
    public interface Outbound {
        void send(OperatorMessage message);
    }

    private final Computation computation;

    public Session(Computation computation) {
        this.computation = computation;
    }

    /** Runs the session to its end and returns the process exit code (SdkLimits.EXIT_*). */
    public int run(Inbound in, Outbound out) {
        String where = "Init";
        try {
            Init init = checkInit(in.next());
            where = "metadata()";
            Metadata metadata = computation.metadata();
            if (metadata == null) {
                throw new IllegalStateException("metadata() returned null; return Metadata.builder(name)...build()");
            }
            if (!metadata.states().isEmpty() && !init.getCapabilitiesList().contains(SdkLimits.CAPABILITY_KEYED_STATE)) {
                throw new ProtocolException("the operator declares states " + metadata.states() + " but the executor lacks the capability "
                        + SdkLimits.CAPABILITY_KEYED_STATE + " (it supports " + init.getCapabilitiesList()
                        + "), so the state would not be kept; upgrade the executor");
            }
            out.send(OperatorMessage.newBuilder().setMetadata(concord.operator.v1.OperatorOuterClass.Metadata.newBuilder()
                    .setMetadata(metadata.toProto())
                    .setProtocolVersion(SdkLimits.PROTOCOL_VERSION)
                    .addAllCapabilities(SdkLimits.CAPABILITIES)
                    .setSdk(SdkLimits.SDK_NAME)).build());

            SessionContext ctx = new SessionContext(init, metadata);
            where = "init()";
            ctx.enterInit();
            computation.init(ctx);
            ctx.leaveInit();
            sendAll(out, ctx.take(0));

            while (true) {
                where = "session";
                ExecutorMessage message = in.next();
                if (message == null) {
                    throw new ProtocolException("the executor closed the session without Shutdown");
                }
                switch (message.getMessageCase()) {
                    case PROCESS_BATCH -> {
                        ProcessBatch batch = message.getProcessBatch();
                        where = "batch " + batch.getSeq();
                        sendAll(out, process(ctx, batch));
                    }
                    case SHUTDOWN -> {
                        where = "destroy()";
                        computation.destroy();
                        return SdkLimits.EXIT_OK;
                    }
                    default -> throw new ProtocolException("unexpected " + message.getMessageCase()
                            + " message after Init; the executor must send ProcessBatch or Shutdown");
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fatal(out, where, e);
        } catch (Exception | StackOverflowError | AssertionError e) {
            return fatal(out, where, e);
        }
    }

    private static int fatal(Outbound out, String where, Throwable e) {
        System.err.println("concord: fatal error in " + where + ": " + e.getClass().getSimpleName() + ": " + e.getMessage());
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        String detail = trace.toString();
        System.err.print(detail);
        if (detail.length() > SdkLimits.ERROR_DETAIL_CHARS_MAX) {
            detail = detail.substring(0, SdkLimits.ERROR_DETAIL_CHARS_MAX) + "... (truncated, SdkLimits.ERROR_DETAIL_CHARS_MAX)";
        }
        try {
            out.send(OperatorMessage.newBuilder().setError(Error.newBuilder()
                    .setMessage(e.getClass().getSimpleName() + " in " + where + ": " + e.getMessage())
                    .setDetail(detail)
                    .setFatal(true)).build());
        } catch (RuntimeException sendFailed) {
            // The session is gone (that may be why we are here): stderr has the reason.
        }
        return SdkLimits.EXIT_FATAL;
    }

    private static void sendAll(Outbound out, List<OperatorMessage> messages) {
        for (OperatorMessage m : messages) {
            out.send(m);
        }
    }

    private static Init checkInit(ExecutorMessage message) {
        if (message == null) {
            throw new ProtocolException("the executor closed the session before sending Init");
        }
        if (message.getMessageCase() != ExecutorMessage.MessageCase.INIT) {
            throw new ProtocolException("the first message of a session must be Init, got " + message.getMessageCase());
        }
        Init init = message.getInit();
        if (init.getProtocolVersion() != SdkLimits.PROTOCOL_VERSION) {
            throw new ProtocolException("executor speaks operator protocol version " + init.getProtocolVersion() + ", this SDK ("
                    + SdkLimits.SDK_NAME + ") speaks " + SdkLimits.PROTOCOL_VERSION + "; use an SDK and executor of matching versions");
        }
        List<String> missing = new ArrayList<>();
        for (String c : init.getRequiredCapabilitiesList()) {
            if (!SdkLimits.CAPABILITIES.contains(c)) {
                missing.add(c);
            }
        }
        if (!missing.isEmpty()) {
            throw new ProtocolException("the executor requires capabilities " + String.join(", ", missing) + " that "
                    + SdkLimits.SDK_NAME + " lacks (it supports " + String.join(", ", SdkLimits.CAPABILITIES) + "); upgrade the SDK");
        }
        return init;
    }

    private List<OperatorMessage> process(SessionContext ctx, ProcessBatch batch) {
        ctx.beginBatch(batch);
        for (Record record : batch.getRecordsList()) {
            ctx.enterRecord(record);
            computation.processRecord(ctx, record);
        }
        for (TimerFired timer : batch.getTimersFiredList()) {
            ctx.enterNow(timer.getStateKey());
            computation.processTimer(ctx, timer.getKey(), timer.getTimeUnixMs());
        }
        return ctx.take(batch.getSeq());
    }
}

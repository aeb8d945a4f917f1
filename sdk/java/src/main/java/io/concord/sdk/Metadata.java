package io.concord.sdk;

import concord.types.v1.Types;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * What the operator says about itself: name (the deploy file's "name"), inputs with their
 * groupings, outputs it may produce to, and the keyed states it uses. Build it with
 * {@code Metadata.builder("counter").input("words", Grouping.GROUP_BY).output("counts").state("count").build()}.
 */
public final class Metadata {
    private static final Pattern STREAM_NAME = Pattern.compile(SdkLimits.STREAM_NAME_PATTERN);
    private static final Pattern STATE_NAME = Pattern.compile(SdkLimits.STATE_NAME_PATTERN);

    /** One input stream and how its records are spread over the instances. */
    public record Input(String name, Grouping grouping) {
    }

    private final String name;
    private final List<Input> inputs;
    private final List<String> outputs;
    private final List<String> states;

    private Metadata(String name, List<Input> inputs, List<String> outputs, List<String> states) {
        this.name = name;
        this.inputs = Collections.unmodifiableList(inputs);
        this.outputs = Collections.unmodifiableList(outputs);
        this.states = Collections.unmodifiableList(states);
    }

    public static Builder builder(String name) {
        return new Builder(name);
    }

    public String name() {
        return name;
    }

    public List<Input> inputs() {
        return inputs;
    }

    public List<String> outputs() {
        return outputs;
    }

    public List<String> states() {
        return states;
    }

    /** The protocol message. */
    public Types.OperatorMetadata toProto() {
        Types.OperatorMetadata.Builder b = Types.OperatorMetadata.newBuilder().setName(name);
        for (Input i : inputs) {
            b.addInputs(Types.InputStream.newBuilder().setName(i.name()).setGrouping(i.grouping().proto));
        }
        b.addAllOutputs(outputs);
        for (String s : states) {
            b.addStates(Types.StateDescriptor.newBuilder().setName(s).setKind(Types.StateKind.STATE_KIND_VALUE));
        }
        return b.build();
    }

    @Override
    public String toString() {
        return "Metadata(name=" + name + ", inputs=" + inputs + ", outputs=" + outputs + ", states=" + states + ")";
    }

    /** Builds a {@link Metadata}; bad or repeated names throw {@link IllegalArgumentException} naming them. */
    public static final class Builder {
        private final String name;
        private final List<Input> inputs = new ArrayList<>();
        private final List<String> outputs = new ArrayList<>();
        private final Set<String> states = new LinkedHashSet<>();

        private Builder(String name) {
            if (name == null || name.isEmpty()) {
                throw new IllegalArgumentException("Metadata name must be a non-empty string equal to the deploy file's name");
            }
            this.name = name;
        }

        /** An input read with SHUFFLE grouping. */
        public Builder input(String stream) {
            return input(stream, Grouping.SHUFFLE);
        }

        public Builder input(String stream, Grouping grouping) {
            if (grouping == null) {
                throw new IllegalArgumentException("input '" + stream + "': grouping is null; use Grouping.SHUFFLE, GROUP_BY or BROADCAST");
            }
            inputs.add(new Input(streamName(stream, "input"), grouping));
            return this;
        }

        public Builder output(String stream) {
            outputs.add(streamName(stream, "output"));
            return this;
        }

        /** A keyed state used through {@link Context#state(String)}. */
        public Builder state(String state) {
            if (state == null || !STATE_NAME.matcher(state).matches()) {
                throw new IllegalArgumentException("state: '" + state + "' is not a state name; use 1-"
                        + SdkLimits.STREAM_NAME_CHARS_MAX + " characters from [A-Za-z0-9_.-]");
            }
            if (state.startsWith(SdkLimits.STATE_NAME_RESERVED_PREFIX)) {
                throw new IllegalArgumentException("state: '" + state + "' starts with '" + SdkLimits.STATE_NAME_RESERVED_PREFIX
                        + "', which is reserved for the executor's own state; choose another name");
            }
            if (!states.add(state)) {
                throw new IllegalArgumentException("state: '" + state + "' declared more than once; declare each name once");
            }
            return this;
        }

        public Metadata build() {
            return new Metadata(name, new ArrayList<>(inputs), new ArrayList<>(outputs), new ArrayList<>(states));
        }

        private static String streamName(String stream, String where) {
            if (stream == null || !STREAM_NAME.matcher(stream).matches()) {
                throw new IllegalArgumentException(where + ": '" + stream + "' is not a stream name; use 1-"
                        + SdkLimits.STREAM_NAME_CHARS_MAX + " characters from [A-Za-z0-9_.-]");
            }
            return stream;
        }
    }
}

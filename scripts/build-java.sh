#!/usr/bin/env bash
# Builds the Java operator SDK (sdk/java), the Java conformance test operator
# (tests/operators/java) and the Java word-count counter (examples/wordcount/java, when present)
# with plain javac against Debian's jars in /usr/share/java (no Maven on these machines;
# scripts/install-java.sh installs them). Protobuf and gRPC code is generated with protoc into
# artifacts/java/gen (not checked in). Outputs:
#   artifacts/java/concord-sdk.jar           the SDK with the generated code
#   artifacts/java/runtime.classpath         Debian's jars an operator runs with (one line)
#   artifacts/java/runtime.classpath         Debian's jars an operator runs with (one line)
#   artifacts/java/bin/concord-test-operator the conformance test operator (a launcher script)
#   artifacts/java/bin/concord-java-counter  the word-count counter (a launcher script)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/artifacts/java"
J=/usr/share/java
# Compile against the API jars; run with the transport (netty) and what gRPC loads at run time.
COMPILE_CP="$J/grpc-api.jar:$J/grpc-stub.jar:$J/grpc-protobuf.jar:$J/grpc-protobuf-lite.jar:$J/grpc-core.jar:$J/grpc-netty.jar:$J/protobuf.jar:$J/guava.jar:$J/geronimo-annotation-1.3-spec.jar"
RUN_CP="$J/grpc-api.jar:$J/grpc-context.jar:$J/grpc-core.jar:$J/grpc-netty.jar:$J/grpc-stub.jar:$J/grpc-protobuf.jar:$J/grpc-protobuf-lite.jar:$J/protobuf.jar:$J/guava.jar:$J/perfmark-api.jar:$J/gson.jar:$J/netty-buffer.jar:$J/netty-codec.jar:$J/netty-codec-http.jar:$J/netty-codec-http2.jar:$J/netty-common.jar:$J/netty-handler.jar:$J/netty-resolver.jar:$J/netty-transport.jar"

for tool in javac jar protoc /usr/bin/grpc_java_plugin; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-java: $tool is missing; run scripts/install-java.sh" >&2; exit 1; }
done

rm -rf "$OUT/gen" "$OUT/classes"
mkdir -p "$OUT/gen" "$OUT/classes/sdk" "$OUT/classes/test-operator" "$OUT/classes/counter" "$OUT/bin"
protoc -I "$ROOT/proto" --java_out="$OUT/gen" --grpc-java_out="$OUT/gen" \
  --plugin=protoc-gen-grpc-java=/usr/bin/grpc_java_plugin \
  "$ROOT/proto/concord/types/v1/types.proto" "$ROOT/proto/concord/operator/v1/operator.proto" \
  "$ROOT/proto/concord/scheduler/v1/scheduler.proto"

# Generated code first, quietly (protoc's output has deprecation noise that is not ours); then
# the SDK with every warning fatal. -classfile: Debian's gRPC jars name error-prone annotations
# that are not on the class path, which javac would report on every use.
LINT=(-Xlint:all,-classfile -Werror)
javac -nowarn -encoding UTF-8 --release 17 -cp "$COMPILE_CP" -d "$OUT/classes/sdk" $(find "$OUT/gen" -name '*.java' | sort)
javac "${LINT[@]}" -encoding UTF-8 --release 17 -cp "$COMPILE_CP:$OUT/classes/sdk" -d "$OUT/classes/sdk" \
  $(find "$ROOT/sdk/java/src/main/java" -name '*.java' | sort)
jar --create --file "$OUT/concord-sdk.jar" -C "$OUT/classes/sdk" .
# The run-time class path without the SDK, for scripts that run their own programs (tests).
printf '%s\n' "$RUN_CP" > "$OUT/runtime.classpath"
# The run-time class path without the SDK, for scripts that run their own programs (tests).
printf '%s\n' "$RUN_CP" > "$OUT/runtime.classpath"

# A launcher per program: the JVM with the run-time class path. SerialGC and C1 only: an
# operator is one busy thread, and on a shared 2-core machine the default GC and JIT threads
# cost start-up time the executor waits for (ExecutorLimits.OperatorStartTimeoutMs).
launcher() { # NAME MAIN-CLASS JAR
  cat > "$OUT/bin/$1" <<LAUNCH
#!/bin/sh
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -cp "$RUN_CP:$OUT/concord-sdk.jar:$3" $2 "\$@"
LAUNCH
  chmod +x "$OUT/bin/$1"
}

if [ -d "$ROOT/tests/operators/java/src/main/java" ]; then
  javac "${LINT[@]}" -encoding UTF-8 --release 17 -cp "$COMPILE_CP:$OUT/concord-sdk.jar" -d "$OUT/classes/test-operator" \
    $(find "$ROOT/tests/operators/java/src/main/java" -name '*.java' | sort)
  jar --create --file "$OUT/concord-test-operator.jar" -C "$OUT/classes/test-operator" .
  launcher concord-test-operator io.concord.testoperator.TestOperator "$OUT/concord-test-operator.jar"
fi
if [ -d "$ROOT/examples/wordcount/java/src/main/java" ]; then
  javac "${LINT[@]}" -encoding UTF-8 --release 17 -cp "$COMPILE_CP:$OUT/concord-sdk.jar" -d "$OUT/classes/counter" \
    $(find "$ROOT/examples/wordcount/java/src/main/java" -name '*.java' | sort)
  jar --create --file "$OUT/concord-java-counter.jar" -C "$OUT/classes/counter" .
  launcher concord-java-counter io.concord.examples.wordcount.Counter "$OUT/concord-java-counter.jar"
fi
echo "build-java: built ${OUT#$ROOT/}/concord-sdk.jar and the launchers in ${OUT#$ROOT/}/bin"

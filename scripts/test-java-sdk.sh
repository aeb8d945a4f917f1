#!/usr/bin/env bash
# Builds the Java SDK (scripts/build-java.sh) and runs its JUnit 4 tests (Debian's junit4 and
# hamcrest, no Maven): the session protocol without a transport, the loopback TCP server with
# its secret check, and SdkLimits against proto/concord/limits.json. Exits non-zero on failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/artifacts/java"
J=/usr/share/java
bash "$ROOT/scripts/build-java.sh"
CP="$(cat "$OUT/runtime.classpath"):$OUT/concord-sdk.jar:$J/junit4.jar:$J/hamcrest-core.jar"
rm -rf "$OUT/classes/sdk-tests"
mkdir -p "$OUT/classes/sdk-tests"
javac -encoding UTF-8 --release 17 -Xlint:all,-classfile -Werror -cp "$CP" -d "$OUT/classes/sdk-tests" \
  $(find "$ROOT/sdk/java/src/test/java" -name '*.java' | sort)
classes=$(cd "$ROOT/sdk/java/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
java -Dconcord.root="$ROOT" -cp "$CP:$OUT/classes/sdk-tests" org.junit.runner.JUnitCore $classes
echo "test-java-sdk: all Java tests passed"

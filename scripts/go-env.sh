# Sourced by the Go build scripts: installs the Debian packages, generates the proto code into
# the SDK module (sdk/go/gen) and vendors Debian's Go sources for it (scripts/go-vendor.sh),
# then sets Go to build modules offline from vendor/. go_vendor DIR vendors another module
# (an example or test operator that requires concord through a replace).
ROOT="${ROOT:?set ROOT to the repository root before sourcing go-env.sh}"
"$ROOT/scripts/install-go.sh" >/dev/null
"$ROOT/scripts/gen-go.sh" >/dev/null
bash "$ROOT/scripts/go-vendor.sh" "$ROOT/sdk/go"

export GO111MODULE=on
export GOFLAGS="-mod=vendor${GOFLAGS:+ $GOFLAGS}"
export GOPROXY=off
export GOTOOLCHAIN=local

go_vendor() { bash "$ROOT/scripts/go-vendor.sh" "$1"; }

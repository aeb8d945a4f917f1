// Builds against the Concord Go SDK in this repository (replace) and Debian's Go sources
// (scripts/go-vendor.sh, docs/sdk-go.md).
module concord.example/wordcount-counter

go 1.19

require concord v0.0.0

replace concord => ../../../../sdk/go

require (
	github.com/golang/protobuf v1.5.2 // indirect
	golang.org/x/net v0.7.0 // indirect
	golang.org/x/sys v0.3.0 // indirect
	golang.org/x/text v0.7.0 // indirect
	google.golang.org/genproto v0.0.0-20200413115906-b5235f65be36 // indirect
	google.golang.org/grpc v1.33.3 // indirect
	google.golang.org/protobuf v1.28.1 // indirect
)

package concord

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// The SDK's copies of the protocol constants agree with proto/concord/limits.json, their one
// source (the C# and Python SDKs check theirs against the same file).
func TestLimitsMatchTheLimitsFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "proto", "concord", "limits.json"))
	if err != nil {
		t.Fatalf("reading the limits file: %v", err)
	}
	var limits map[string]interface{}
	if err := json.Unmarshal(data, &limits); err != nil {
		t.Fatalf("parsing the limits file: %v", err)
	}
	copies := map[string]interface{}{
		"protocolVersion":                 float64(ProtocolVersion),
		"capabilities":                    []interface{}{CapabilityBatchPipelining, CapabilityTimers, CapabilityKeyedState, CapabilityEventTime},
		"operatorAddressVariable":         OperatorAddressVariable,
		"grpcMessageBytesMax":             float64(GrpcMessageBytesMax),
		"recordBytesMax":                  float64(RecordBytesMaxDefault),
		"unixSocketPathBytesMax":          float64(UnixSocketPathBytesMax),
		"streamNameCharsMax":              float64(StreamNameCharsMax),
		"streamNamePattern":               StreamNamePattern,
		"unavailableReaderDropAfterMsMax": float64(UnavailableReaderDropAfterMsMax),
	}
	for name, value := range copies {
		if !reflect.DeepEqual(limits[name], value) {
			t.Errorf("%s: limits.go has %v, proto/concord/limits.json has %v; copy the file's value", name, value, limits[name])
		}
	}
	if !reflect.DeepEqual(CapabilitiesShared, []string{CapabilityBatchPipelining, CapabilityTimers, CapabilityKeyedState, CapabilityEventTime}) {
		t.Errorf("CapabilitiesShared = %v lists other capabilities than the constants", CapabilitiesShared)
	}
	if !reflect.DeepEqual(Capabilities, []string{CapabilityBatchPipelining, CapabilityTimers, CapabilityKeyedState, CapabilityEventTime}) {
		t.Errorf("Capabilities = %v lists other capabilities than the constants", Capabilities)
	}
}

func TestStreamNamePatternAllowsExactlyUpToTheBound(t *testing.T) {
	pattern := regexp.MustCompile(StreamNamePattern)
	if !pattern.MatchString(strings.Repeat("a", StreamNameCharsMax)) {
		t.Errorf("a name of %d characters is rejected", StreamNameCharsMax)
	}
	if pattern.MatchString(strings.Repeat("a", StreamNameCharsMax+1)) {
		t.Errorf("a name of %d characters is accepted", StreamNameCharsMax+1)
	}
	if pattern.MatchString("") || pattern.MatchString("a b") {
		t.Errorf("an empty name or one with a space is accepted")
	}
}

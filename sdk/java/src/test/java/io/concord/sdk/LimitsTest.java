package io.concord.sdk;

import static org.junit.Assert.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.Test;

/** proto/concord/limits.json is the one source of the protocol constants; SdkLimits keeps copies. */
public class LimitsTest {
    private static JsonObject limits() throws Exception {
        String root = System.getProperty("concord.root", ".");
        return JsonParser.parseString(Files.readString(Path.of(root, "proto", "concord", "limits.json"))).getAsJsonObject();
    }

    @Test
    public void copies_match_the_limits_file() throws Exception {
        JsonObject l = limits();
        assertEquals(l.get("protocolVersion").getAsInt(), SdkLimits.PROTOCOL_VERSION);
        assertEquals(l.get("recordBytesMax").getAsInt(), SdkLimits.RECORD_BYTES_MAX_DEFAULT);
        assertEquals(l.get("grpcMessageBytesMax").getAsInt(), SdkLimits.GRPC_MESSAGE_BYTES_MAX);
        assertEquals(l.get("streamNameCharsMax").getAsInt(), SdkLimits.STREAM_NAME_CHARS_MAX);
        assertEquals(l.get("streamNamePattern").getAsString(), SdkLimits.STREAM_NAME_PATTERN);
        assertEquals(l.get("operatorAddressVariable").getAsString(), SdkLimits.OPERATOR_ADDRESS_VARIABLE);
        List<String> caps = new ArrayList<>();
        l.getAsJsonArray("capabilities").forEach(c -> caps.add(c.getAsString()));
        assertEquals(caps, SdkLimits.CAPABILITIES);
    }
}

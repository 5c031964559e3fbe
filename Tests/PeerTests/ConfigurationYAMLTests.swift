@testable import PeerDaemon
import Testing

/// The configuration file through the project's own YAML reader: the values it always accepted still parse,
/// and every refusal names the file, the key and the line.
@Suite("configuration: YAML values")
struct ConfigurationYAMLTests {
    static func parse(_ text: String) throws(ConfigurationError) -> PeerConfiguration {
        try ConfigurationFile.parse(text, source: "peer.yaml")
    }

    static func refusal(_ text: String) -> ConfigurationError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test("booleans: YAML 1.1's words as well as 1.2's, written plainly", arguments: [
        ("true", true), ("True", true), ("TRUE", true), ("yes", true), ("Yes", true), ("YES", true), ("on", true), ("On", true), ("ON", true),
        ("false", false), ("False", false), ("FALSE", false), ("no", false), ("No", false), ("NO", false), ("off", false), ("Off", false), ("OFF", false),
        ("!!bool true", true),
    ])
    func booleans(text: String, expected: Bool) throws {
        #expect(try Self.parse("runPods: \(text)\n").runPods == expected)
    }

    @Test("quoted, tagged-as-string and other words are not booleans", arguments: ["\"true\"", "'yes'", "!!str true", "tRUE", "1", "y", "enabled", "", "[true]"])
    func notBooleans(text: String) {
        let error = Self.refusal("name: a\nrunPods: \(text)\n")
        #expect(error?.key == "runPods")
        #expect(error?.description == "peer.yaml: runPods: line 2: expected true or false", "\(String(describing: error))")
    }

    @Test("whole numbers: decimal, signs, '_', 0x, 0o, 0b, a leading 0 (octal) and base 60", arguments: [
        ("8000", 8000), ("+8000", 8000), ("8_000", 8000), ("0x1F40", 8000), ("0o17500", 8000), ("017500", 8000),
        ("0b1111101000000", 8000), ("2:13:20", 8000),
    ])
    func wholeNumbers(text: String, expected: Int) throws {
        #expect(try Self.parse("gossipPort: \(text)\n").gossipPort == expected)
        #expect(try Self.parse("maxPods: \(text)\n").maxPods == expected)
    }

    @Test("quoted numbers, fractions and bad digits are refused on their line", arguments: ["\"8000\"", "'8000'", "8000.0", "08000", "0x", "eight", "1e3", "{}"])
    func notWholeNumbers(text: String) {
        let error = Self.refusal("# a comment\nname: a\nraftPort: \(text)\n")
        #expect(error?.description == "peer.yaml: raftPort: line 3: expected a port number", "\(String(describing: error))")
    }

    @Test("errors keep their shape: the key, then 'line N: '")
    func errorShapes() {
        #expect(Self.refusal("gossipPort: 70000\n")?.description == "peer.yaml: gossipPort: line 1: 70000 is out of range (1-65535)")
        #expect(Self.refusal("name: a\njoin: 1.2.3.4\n")?.description == "peer.yaml: join: line 2: expected a list of strings")
        #expect(Self.refusal("name: a\n\njoin:\n  - [x]\n")?.description == "peer.yaml: join: line 4: expected a list of strings")
        #expect(Self.refusal("nme: a\n")?.description == "peer.yaml: nme: line 1: unknown key (did you mean 'name'?)")
        #expect(Self.refusal("maxPods: 0\n")?.description == "peer.yaml: maxPods: line 1: must be positive")
        #expect(Self.refusal("logLevel: loud\n")?.description.hasPrefix("peer.yaml: logLevel: line 1: 'loud' is not a log level") == true)
        #expect(Self.refusal("imageTrust:\n  - prefix: x\n    keys: [k]\n    colour: red\n")?.description
            == "peer.yaml: imageTrust[0].colour: line 4: unknown key (expected prefix, namespaces, keys or mode)")
        #expect(Self.refusal("- a\n- b\n")?.description == "peer.yaml: the top level must be a mapping of keys to values")
    }

    @Test("YAML mistakes are reported with the reader's line and column")
    func yamlMistakes() {
        #expect(Self.refusal("name: a\n\tgossipPort: 1\n")?.description == "peer.yaml: not valid YAML: line 2, column 1: a tab cannot indent YAML")
        #expect(Self.refusal("name: a\ndataDir: /x\nname: b\n")?.description
            == "peer.yaml: not valid YAML: line 3, column 1: mapping keys must be unique: 'name' appears at lines 1 and 3")
        #expect(Self.refusal("name: \"a\n")?.description.contains("unterminated quoted string started at line 1") == true)
        #expect(Self.refusal("name: a\n---\nname: b\n")?.description.contains("line 2, column 1: only one YAML document") == true)
    }

    @Test("the forms a hand-written file uses all read the same")
    func forms() throws {
        let config = try Self.parse("""
            %YAML 1.2
            ---
            name: 'edge-1'   # quoted
            dataDir: >-
              /var/lib/peer
            join:
            - 10.0.0.1
            - "10.0.0.2:7000"
            imageRegistries: [registry.local:5000, 'http://mirror#1']
            imageTrust:
              - {prefix: "", keys: [abc], mode: enforce}
            insecureHTTP: no
            ...
            """)
        #expect(config.name == "edge-1" && config.dataDirectory == "/var/lib/peer")
        #expect(config.join == ["10.0.0.1", "10.0.0.2:7000"])
        #expect(config.imageRegistries == ["registry.local:5000", "http://mirror#1"])
        #expect(config.imageTrust.map(\.keys) == [["abc"]] && config.imageTrust.first?.mode == "enforce")
        #expect(config.insecureHTTP == false)
    }
}

import Foundation
import Logging
@testable import PeerDaemon
import ResourceModel
import Testing

@Suite("configuration")
struct ConfigurationTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("every key is read, and flags-style defaults fill the rest")
    func readsEveryKey() throws {
        let yaml = """
            name: edge-1
            dataDir: /var/lib/peer
            bindAddress: 10.1.2.3
            gossipPort: 8946
            raftPort: 8947
            apiPort: 9443
            join: [10.1.2.4, "10.1.2.5:9000", "[fd00::1]:7000"]
            insecureHTTP: false
            logLevel: debug
            """
        let config = try ConfigurationFile.parse(yaml, source: "test.yaml")
        #expect(config == PeerConfiguration(name: "edge-1", dataDirectory: "/var/lib/peer", bindAddress: "10.1.2.3",
                                            gossipPort: 8946, raftPort: 8947, apiPort: 9443,
                                            join: ["10.1.2.4", "10.1.2.5:9000", "[fd00::1]:7000"],
                                            insecureHTTP: false, logLevel: .debug))
        try config.validate(source: "test.yaml")
        let seeds = try config.joinAddresses()
        #expect(seeds.map { "\($0.host)|\($0.port)" } == ["10.1.2.4|8946", "10.1.2.5|9000", "fd00::1|7000"])
    }

    @Test("an empty file keeps the defaults")
    func emptyFile() throws {
        let config = try ConfigurationFile.parse("# nothing\n", source: "empty.yaml")
        #expect(config.bindAddress == "127.0.0.1")
        #expect(config.apiPort == 6443 && config.gossipPort == 7946 && config.raftPort == 7947)
    }

    @Test("values are checked by meaning, naming the key", arguments: [
        (PeerConfiguration(name: "Bad_Name"), "name"),
        (PeerConfiguration(bindAddress: "localhost"), "bindAddress"),
        (PeerConfiguration(gossipPort: 0), "gossipPort"),
        (PeerConfiguration(gossipPort: 6443), "apiPort"),
        (PeerConfiguration(join: ["host:port"]), "join"),
        (PeerConfiguration(join: ["host:99999"]), "join"),
        (PeerConfiguration(bindAddress: "192.0.2.1", insecureHTTP: true), "insecureHTTP"),
        (PeerConfiguration(voters: 2), "voters"),
    ])
    func validation(config: PeerConfiguration, key: String) {
        #expect(throws: ConfigurationError.self) { try config.validate(source: "x.yaml") }
        do {
            try config.validate(source: "x.yaml")
        } catch {
            #expect(error.key == key)
            #expect(error.description.hasPrefix("x.yaml: \(key): "))
        }
    }

    @Test("plain HTTP is allowed on any loopback address, IPv4 or IPv6")
    func loopbackInsecure() throws {
        for address in ["127.0.0.1", "127.0.0.3", "::1"] {
            try PeerConfiguration(bindAddress: address, insecureHTTP: true).validate(source: "x")
        }
    }

    @Test("the shipped examples in configs/ parse and validate")
    func shippedExamples() throws {
        let directory = Self.repositoryRoot.appendingPathComponent("configs")
        let all = try FileManager.default.subpathsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        // configs/manifests/ holds Kubernetes objects for kubectl, not peer configuration.
        let files = all.filter { !$0.hasPrefix("manifests/") }
        #expect(files.count >= 5, "\(files)")
        for file in files {
            let path = directory.appendingPathComponent(file).path
            let config = try ConfigurationFile.load(path: path)
            try config.validate(source: path)
        }
        let manifests = all.filter { $0.hasPrefix("manifests/") }
        #expect(!manifests.isEmpty)
        for file in manifests {
            var object = try YAMLBody.parse(Array(try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8).utf8))
            let info = try #require(ResourceRegistry.lookup(apiVersion: object["apiVersion"]?.stringValue ?? "", kind: object["kind"]?.stringValue ?? ""), "\(file)")
            Defaulting.apply(&object, as: info)
            #expect(Validation.validate(object, as: info).isEmpty, "\(file): \(Validation.validate(object, as: info))")
        }
        let three = try (1...3).map { try ConfigurationFile.load(path: directory.appendingPathComponent("three-peers/peer-\($0).yaml").path) }
        #expect(Set(three.map(\.bindAddress)) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"])
        #expect(Set(three.map(\.dataDirectory)).count == 3)
        #expect(three[1].join == ["127.0.0.1:7946"] && three[2].join == ["127.0.0.1:7946"] && three[0].join.isEmpty)
    }
}

import Foundation
import Testing

/// Real `peer` processes on loopback, each on its own address with the default ports.
@Suite("gossip between peer processes", .serialized)
struct GossipClusterTests {
    struct Member: Decodable, Equatable {
        var name: String
        var address: String
        var state: String
        var incarnation: UInt64
        var meta: [String: String]
    }

    struct GossipStatus: Decodable {
        var droppedUnauthenticated: Int
    }

    static func members(_ host: String) async -> [Member]? {
        await HTTP.getJSON("http://\(host):6443/v1/members")
    }

    static func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return await condition()
    }

    @Test("ten peers join through one seed; a key rotation never raises a suspicion; a wrong key is refused and counted; kill -9 is detected by all")
    func tenPeers() async throws {
        let scratch = try ScratchDirectory()
        let hosts = LoopbackAddress.block(11)
        var peers: [PeerProcess] = []
        defer { for peer in peers { peer.signal(SIGKILL) } }
        func start(_ i: Int, _ extra: [String]) throws -> PeerProcess {
            try PeerProcess(["start", "--insecure-http", "--name", "peer-\(i)", "--bind-address", hosts[i], "--data-dir", "data-\(i)"] + extra,
                            workingDirectory: scratch.url)
        }
        peers.append(try start(0, []))
        #expect(await HTTP.waitUntilServing("http://\(hosts[0]):6443/healthz") != nil)
        let keyFile = scratch.url.appendingPathComponent("data-0/gossip.keyring").path
        for i in 1..<10 { peers.append(try start(i, ["--join", hosts[0], "--gossip-key-file", keyFile])) }

        let names = Set((0..<10).map { "peer-\($0)" })
        let joined = await Self.eventually(.seconds(60)) {
            for host in hosts.prefix(10) {
                guard let view = await Self.members(host), Set(view.map(\.name)) == names,
                      view.allSatisfy({ $0.state == "alive" }) else { return false }
            }
            return true
        }
        #expect(joined, "every peer sees all ten alive")
        guard joined else { return }
        #expect(await Self.members(hosts[4])?.first { $0.name == "peer-7" }?.meta["api"] == "\(hosts[7]):6443")

        // Rotate the gossip key on every peer while watching every view for any suspicion.
        let newKey = try #require(String(data: try Data(contentsOf: URL(fileURLWithPath: keyFile)), encoding: .utf8))
            .split(separator: "\n").first.map(String.init)
        let oldKey = try #require(newKey)
        let rotated = try await PeerProcess.run(["keygen", "gossip"], workingDirectory: scratch.url).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        var nonAlive: [String] = []
        for operation in ["install", "use", "remove"] {
            for host in hosts.prefix(10) {
                let key = operation == "remove" ? oldKey : rotated
                let answer = await HTTP.sendUntilOK("POST", "http://\(host):6443/v1/gossip/keyring", json: "{\"operation\":\"\(operation)\",\"key\":\"\(key)\"}")
                #expect(answer?.status == 200, "\(operation) on \(host): \(String(describing: answer))")
                for view in [await Self.members(hosts[0]), await Self.members(hosts[9])] {
                    nonAlive += (view ?? []).filter { $0.state != "alive" }.map { "\($0.name) \($0.state) during \(operation)" }
                }
            }
        }
        try await Task.sleep(for: .seconds(3))
        for host in hosts.prefix(10) {
            nonAlive += (await Self.members(host) ?? []).filter { $0.state != "alive" }.map { "\($0.name) \($0.state) after rotation" }
        }
        #expect(nonAlive.isEmpty, "\(nonAlive)")
        for peer in peers where peer.log.contains("member suspected") { Issue.record("a peer logged a suspicion: \(peer.log)") }

        // An eleventh peer with a key of its own is refused by the seed, and counted.
        let wrongKey = scratch.url.appendingPathComponent("wrong.key")
        try (try await PeerProcess.run(["keygen", "gossip"], workingDirectory: scratch.url).output).write(to: wrongKey, atomically: true, encoding: .utf8)
        peers.append(try start(10, ["--join", hosts[0], "--gossip-key-file", wrongKey.path]))
        let refused = await Self.eventually(.seconds(60)) {
            let status: GossipStatus? = await HTTP.getJSON("http://\(hosts[0]):6443/v1/gossip")
            return (status?.droppedUnauthenticated ?? 0) >= 1
        }
        #expect(refused)
        #expect(await Self.members(hosts[0])?.contains { $0.name == "peer-10" } == false)

        // kill -9 peer 5: every other peer declares it dead.
        peers[5].signal(SIGKILL)
        let detected = await Self.eventually(.seconds(60)) {
            for (i, host) in hosts.prefix(10).enumerated() where i != 5 {
                guard let view = await Self.members(host), view.first(where: { $0.name == "peer-5" })?.state == "dead" else { return false }
            }
            return true
        }
        #expect(detected)
        for (i, host) in hosts.prefix(10).enumerated() where i != 5 {
            let others = (await Self.members(host) ?? []).filter { $0.name != "peer-5" }
            #expect(others.count == 9 && others.allSatisfy { $0.state == "alive" }, "\(host): \(others)")
        }
    }
}

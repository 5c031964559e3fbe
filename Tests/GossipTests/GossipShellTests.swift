import Foundation
import Gossip
import Logging
import NIOConcurrencyHelpers
import Sodium
import Testing

/// Real UDP and TCP on loopback, several `GossipNode`s in one process, with fast protocol timings.
@Suite("gossip shell over loopback")
struct GossipShellTests {
    static let fast: SWIMConfiguration = {
        var c = SWIMConfiguration.lan
        // Fast enough for a test, slow enough that a loaded 2-core CI machine does not look like a failure.
        c.probeInterval = .milliseconds(400)
        c.probeTimeout = .milliseconds(250)
        c.gossipInterval = .milliseconds(80)
        c.pushPullInterval = .seconds(3)
        c.suspicionMultiplier = 3
        return c
    }()

    final class Cluster: Sendable {
        let nodes: [GossipNode]
        let tasks: NIOLockedValueBox<[Task<Void, any Error>]>
        let events: NIOLockedValueBox<[(Int, MembershipEvent)]>

        init(count: Int, key: SecretBoxKey, basePort: Int, host: String = "127.0.0.1") throws {
            var nodes: [GossipNode] = []
            for i in 0..<count {
                var settings = GossipNode.Settings(bindHost: host, port: basePort + i)
                settings.swim = GossipShellTests.fast
                var logger = Logger(label: "gossip-\(i)")
                logger.logLevel = .warning
                nodes.append(GossipNode(settings: settings, keyring: GossipKeyring(primary: key),
                                        metadata: ["name": "node-\(i)"], incarnation: 0, logger: logger))
            }
            self.nodes = nodes
            self.tasks = NIOLockedValueBox([])
            self.events = NIOLockedValueBox([])
            for (i, node) in nodes.enumerated() {
                let stream = node.events()
                let events = self.events
                Task { for await event in stream { events.withLockedValue { $0.append((i, event)) } } }
                let task = Task { try await node.run() }
                tasks.withLockedValue { $0.append(task) }
            }
        }

        func stopAll() {
            for task in tasks.withLockedValue({ $0 }) { task.cancel() }
        }

        func statuses(seenBy index: Int) -> [String: MemberStatus] {
            Dictionary(nodes[index].members.map { ($0.address, $0.status) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Generous, since it returns as soon as the condition holds: a loaded CI machine must not fail a test
    /// that a quiet one passes in two seconds.
    static func eventually(_ timeout: Duration = .seconds(45), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Each test gets its own loopback address, so concurrent tests never fight over a port.
    static let hosts = NIOLockedValueBox(0)
    static func uniqueHost() -> String {
        let n = hosts.withLockedValue { $0 += 1; return $0 }
        return "127.42.\(getpid() % 250).\(n)"
    }

    @Test("five nodes join through one seed, see each other alive with their metadata, and a crashed one is declared dead")
    func joinAndDetect() async throws {
        let key = try SecretBoxKey.generate()
        let cluster = try Cluster(count: 5, key: key, basePort: 17946, host: Self.uniqueHost())
        defer { cluster.stopAll() }
        for node in cluster.nodes.dropFirst() { node.join([cluster.nodes[0].address]) }
        let all = Set(cluster.nodes.map(\.address))
        #expect(await Self.eventually {
            cluster.nodes.indices.allSatisfy { i in
                let view = cluster.statuses(seenBy: i)
                return Set(view.keys) == all && view.values.allSatisfy { $0 == .alive }
            }
        })
        #expect(cluster.nodes[3].members.first { $0.address == cluster.nodes[1].address }?.metadata.entries["name"] == "node-1")

        // Crash node 4: its loop stops without leaving, as a kill would.
        cluster.tasks.withLockedValue { $0[4].cancel() }
        let victim = cluster.nodes[4].address
        #expect(await Self.eventually {
            (0..<4).allSatisfy { cluster.statuses(seenBy: $0)[victim] == .dead }
        })
        // False verdicts are a timing property: the simulator (5% loss, slow members) and the Serf benchmark
        // measure them; on a starved CI machine these fast test timings would only measure the machine.
    }

    @Test("a packet sealed under a key the keyring does not hold is rejected and counted")
    func wrongKeyIsRejected() async throws {
        let host = Self.uniqueHost()
        let cluster = try Cluster(count: 2, key: try SecretBoxKey.generate(), basePort: 17946, host: host)
        let outsider = try Cluster(count: 1, key: try SecretBoxKey.generate(), basePort: 17948, host: host)
        defer { cluster.stopAll(); outsider.stopAll() }
        cluster.nodes[1].join([cluster.nodes[0].address])
        outsider.nodes[0].join([cluster.nodes[0].address])
        #expect(await Self.eventually { cluster.nodes[0].counters.droppedUnauthenticated >= 1 })
        #expect(await Self.eventually { cluster.statuses(seenBy: 0)[cluster.nodes[1].address] == .alive })
        #expect(cluster.statuses(seenBy: 0)[outsider.nodes[0].address] == nil)
    }

    @Test("rotating the key on every node (install, use, remove) never leaves a packet unopenable")
    func keyRotation() async throws {
        let oldKey = try SecretBoxKey.generate()
        let newKey = try SecretBoxKey.generate()
        let cluster = try Cluster(count: 4, key: oldKey, basePort: 17946, host: Self.uniqueHost())
        defer { cluster.stopAll() }
        for node in cluster.nodes.dropFirst() { node.join([cluster.nodes[0].address]) }
        #expect(await Self.eventually { cluster.nodes.indices.allSatisfy { cluster.statuses(seenBy: $0).count == 4 } })

        for node in cluster.nodes { try await node.changeKeyring { $0.install(newKey) } }
        try await Task.sleep(for: .milliseconds(300))
        for node in cluster.nodes { try await node.changeKeyring { try $0.use(newKey) } }
        try await Task.sleep(for: .milliseconds(300))
        for node in cluster.nodes { try await node.changeKeyring { try $0.remove(oldKey) } }
        try await Task.sleep(for: .seconds(1))

        #expect(cluster.nodes.allSatisfy { $0.keyring.keys == [newKey] })
        // The rotation's promise: no packet was ever sealed under a key its receiver could not open. (With
        // these fast test timings a starved CI machine can raise a suspicion that has nothing to do with
        // keys; the process test with real timings checks for suspicions.)
        #expect(cluster.nodes.allSatisfy { $0.counters.droppedUnauthenticated == 0 })
        #expect(cluster.nodes.allSatisfy { $0.counters.packetsReceived > 0 })
        #expect(await Self.eventually { cluster.nodes.indices.allSatisfy { i in cluster.statuses(seenBy: i).values.allSatisfy { $0 == .alive } } })
    }

    @Test("a node that leaves is reported as left, not dead")
    func gracefulLeave() async throws {
        let cluster = try Cluster(count: 3, key: try SecretBoxKey.generate(), basePort: 17946, host: Self.uniqueHost())
        defer { cluster.stopAll() }
        for node in cluster.nodes.dropFirst() { node.join([cluster.nodes[0].address]) }
        #expect(await Self.eventually { cluster.nodes.indices.allSatisfy { cluster.statuses(seenBy: $0).count == 3 } })
        await cluster.nodes[2].leave()
        let leaver = cluster.nodes[2].address
        #expect(await Self.eventually { (0..<2).allSatisfy { cluster.statuses(seenBy: $0)[leaver] == .left } })
        try await Task.sleep(for: .seconds(1))
        #expect((0..<2).allSatisfy { cluster.statuses(seenBy: $0)[leaver] == .left })
    }

    @Test("a datagram the kernel refuses (a firewall's EPERM, a lost route's ENETUNREACH; here EACCES) is a lost packet: the sender keeps hearing and being heard")
    func refusedDatagramDoesNotDeafenTheNode() async throws {
        let host = Self.uniqueHost()
        let key = try SecretBoxKey.generate()
        let cluster = try Cluster(count: 2, key: key, basePort: 17946, host: host)
        // A member that claims a broadcast address: the kernel refuses every datagram to it (EACCES), nothing
        // leaves the machine. Before the fix, NIO closed the sender's UDP channel on that error.
        var settings = GossipNode.Settings(bindHost: host, port: 17948)
        settings.advertisedAddress = "127.255.255.255:17948"
        settings.swim = Self.fast
        var logger = Logger(label: "unreachable")
        logger.logLevel = .critical
        let unreachable = GossipNode(settings: settings, keyring: GossipKeyring(primary: key), metadata: [:], incarnation: 0, logger: logger)
        let unreachableTask = Task { try await unreachable.run() }
        defer {
            cluster.stopAll()
            unreachableTask.cancel()
        }
        let (first, second) = (cluster.nodes[0].address, cluster.nodes[1].address)
        cluster.nodes[1].join([first])
        #expect(await Self.eventually { cluster.statuses(seenBy: 1)[first] == .alive && cluster.statuses(seenBy: 0)[second] == .alive })
        unreachable.join([first])
        // The first node has probed it (and the kernel refused): it is suspect or dead there.
        #expect(await Self.eventually {
            cluster.statuses(seenBy: 0)[settings.advertisedAddress ?? ""].map { $0 != .alive } ?? false
        })
        let received = cluster.nodes[0].counters.packetsReceived
        // Several suspicion timeouts: a deaf first node would be declared dead by the second meanwhile.
        try await Task.sleep(for: .seconds(4))
        let counters = cluster.nodes[0].counters
        #expect(counters.datagramSendFailures > 0, "the refused datagrams are counted")
        #expect(counters.packetsReceived > received + 5, "the first node still receives datagrams: \(counters)")
        #expect(await Self.eventually(.seconds(5)) { cluster.statuses(seenBy: 1)[first] == .alive && cluster.statuses(seenBy: 0)[second] == .alive })
    }
}

import Foundation
import Testing

/// Three real peers: the first bootstraps, two join through gossip and are added by the leader.
@Suite("Raft between peer processes", .serialized)
struct RaftClusterTests {
    struct RaftView: Decodable {
        var id: UInt64
        var role: String
        var term: UInt64
        var leader: UInt64
        var commitIndex: UInt64
        var appliedIndex: UInt64
        var voters: [UInt64]
        var learners: [UInt64]
    }

    struct Revision: Decodable { var revision: UInt64 }

    static func raft(_ host: String) async -> RaftView? { await HTTP.getJSON("http://\(host):6443/v1/raft") }

    static func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await condition()
    }

    static func put(_ host: String, _ key: String, _ value: String, cas: UInt64? = nil) async -> (status: Int, body: String)? {
        await HTTP.send("PUT", "http://\(host):6443/v1/kv/\(key)" + (cas.map { "?cas=\($0)" } ?? ""), json: value)
    }

    @Test("writes through any peer are linearizable everywhere, and the cluster survives kill -9 of its leader")
    func threePeers() async throws {
        let scratch = try ScratchDirectory()
        let hosts = LoopbackAddress.block(3)
        var peers: [PeerProcess?] = []
        defer { for peer in peers { peer?.signal(SIGKILL) } }
        let keyFile = scratch.url.appendingPathComponent("data-0/gossip.keyring").path
        func start(_ i: Int) throws -> PeerProcess {
            let join = i == 0 ? [] : ["--join", hosts[0], "--gossip-key-file", keyFile]
            return try PeerProcess(["start", "--insecure-http", "--name", "peer-\(i)", "--bind-address", hosts[i], "--data-dir", "data-\(i)"] + join,
                                   workingDirectory: scratch.url)
        }
        peers.append(try start(0))
        #expect(await HTTP.waitUntilServing("http://\(hosts[0]):6443/healthz") != nil)
        peers.append(try start(1))
        peers.append(try start(2))

        let formed = await Self.eventually(.seconds(60)) {
            for host in hosts {
                guard let view = await Self.raft(host), view.voters.count == 3, view.leader != 0 else { return false }
            }
            return true
        }
        #expect(formed, "three voters with a leader on every peer")
        guard formed else { return }

        // A write through one peer is visible at once to a linearizable read on another.
        let written = await Self.put(hosts[1], "greeting", "hello")
        #expect(written?.status == 200)
        let revision = try #require(written.flatMap { try? JSONDecoder().decode(Revision.self, from: Data($0.body.utf8)) }).revision
        #expect(await HTTP.get("http://\(hosts[2]):6443/v1/kv/greeting")?.body == "hello")

        // Compare-and-swap: the right revision wins, a stale one gets 409 with a Status.
        #expect(await Self.put(hosts[2], "greeting", "hi", cas: revision)?.status == 200)
        let stale = await Self.put(hosts[0], "greeting", "hey", cas: revision)
        #expect(stale?.status == 409)
        #expect(stale?.body.contains("\"kind\":\"Status\"") == true)
        #expect(await HTTP.get("http://\(hosts[0]):6443/v1/kv/missing")?.status == 404)

        // kill -9 the leader: the others elect a new one and keep taking writes.
        let view = try #require(await Self.raft(hosts[0]))
        var leaderIndex = -1
        for (i, host) in hosts.enumerated() where await Self.raft(host)?.id == view.leader { leaderIndex = i }
        try #require(leaderIndex >= 0, "the leader \(view.leader) is one of the three")
        peers[leaderIndex]?.signal(SIGKILL)
        _ = await peers[leaderIndex]?.waitForExit()
        peers[leaderIndex] = nil
        let survivors = hosts.indices.filter { $0 != leaderIndex }
        var acknowledged: [String: String] = [:]
        let writesResume = await Self.eventually(.seconds(60)) {
            let key = "after-\(acknowledged.count)"
            guard await Self.put(hosts[survivors[0]], key, "v").map({ $0.status == 200 }) == true else { return false }
            acknowledged[key] = "v"
            return true
        }
        #expect(writesResume, "a new leader takes writes")
        var refused: [String] = []
        for i in 0..<20 {
            let host = hosts[survivors[i % 2]]
            let reply = await Self.put(host, "k\(i)", "value-\(i)")
            if reply?.status == 200 {
                acknowledged["k\(i)"] = "value-\(i)"
            } else {
                refused.append("k\(i) via \(host): \(reply.map { "\($0.status) \($0.body.prefix(200))" } ?? "no answer")")
            }
        }
        #expect(acknowledged.count >= 21, "writes refused after the new leader took over: \(refused)")

        // The killed peer comes back from its data directory and catches up with everything acknowledged.
        peers[leaderIndex] = try start(leaderIndex)
        let caughtUp = await Self.eventually(.seconds(60)) {
            for (key, value) in acknowledged {
                guard await HTTP.get("http://\(hosts[leaderIndex]):6443/v1/kv/\(key)?stale")?.body == value else { return false }
            }
            return true
        }
        #expect(caughtUp, "the restarted peer holds every acknowledged write")
        #expect(await HTTP.get("http://\(hosts[leaderIndex]):6443/v1/kv/greeting")?.body == "hi")
    }
}

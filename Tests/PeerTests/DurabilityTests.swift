import Foundation
import Simulation
import Testing

/// A register per key whose state is just its value: every value written is unique, so a compare-and-swap
/// on the value read is the same as one on its revision, and the checker prunes well.
struct RegisterModel: LinearizabilityModel {
    enum Input: Hashable, Sendable {
        case put(key: String, value: String)
        case get(key: String)
        case cas(key: String, expected: String?, value: String)
        var key: String {
            switch self { case .put(let k, _), .get(let k), .cas(let k, _, _): k }
        }
    }
    enum Output: Hashable, Sendable {
        case ok
        case value(String?)
        case cas(Bool)
    }

    var initialState: String? { nil }
    func partition(of input: Input) -> String { input.key }
    func isReadOnly(_ input: Input) -> Bool { if case .get = input { true } else { false } }

    func step(_ state: String?, _ input: Input, _ output: Output?) -> String?? {
        switch input {
        case .put(_, let value):
            return output == nil || output == .ok ? .some(value) : nil
        case .get:
            return output == nil || output == .value(state) ? .some(state) : nil
        case .cas(_, let expected, let value):
            let holds = state == expected
            switch output {
            case nil: return .some(holds ? value : state)
            case .cas(true)?: return holds ? .some(value) : nil
            case .cas(false)?: return holds ? nil : .some(state)
            default: return nil
            }
        }
    }
}

@Suite("durability under kill -9", .serialized)
struct DurabilityTests {
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var recorder = HistoryRecorder<RegisterModel.Input, RegisterModel.Output>()
        private let origin = ContinuousClock.now

        func now() -> UInt64 {
            let elapsed = (ContinuousClock.now - origin).components
            return UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000)
        }
        func invoke(_ client: Int, _ input: RegisterModel.Input) -> Int { lock.withLock { recorder.invoke(client: client, input, at: now()) } }
        func complete(_ handle: Int, _ output: RegisterModel.Output?) { lock.withLock { recorder.complete(handle, output: output, at: now()) } }
        func discard(_ handle: Int) { lock.withLock { recorder.discard(handle) } }
        var history: [HistoryOperation<RegisterModel.Input, RegisterModel.Output>] { lock.withLock { recorder.history } }
    }

    final class Cluster: @unchecked Sendable {
        let scratch: ScratchDirectory
        let hosts: [String]
        private let lock = NSLock()
        private var peers: [PeerProcess?]

        init(size: Int) throws {
            scratch = try ScratchDirectory()
            hosts = LoopbackAddress.block(size)
            peers = Array(repeating: nil, count: size)
        }

        func start(_ i: Int) throws {
            let keyFile = scratch.url.appendingPathComponent("data-0/gossip.keyring").path
            let join = i == 0 ? [] : ["--join", hosts[0], "--gossip-key-file", keyFile]
            let peer = try PeerProcess(["start", "--insecure-http", "--name", "peer-\(i)", "--bind-address", hosts[i], "--data-dir", "data-\(i)"] + join,
                                       workingDirectory: scratch.url)
            lock.withLock { peers[i] = peer }
        }

        func kill(_ i: Int) async {
            let peer = lock.withLock { defer { peers[i] = nil }; return peers[i] }
            peer?.signal(SIGKILL)
            _ = await peer?.waitForExit()
        }

        func killAll() { lock.withLock { for peer in peers { peer?.signal(SIGKILL) } } }
        func log(_ i: Int) -> String { lock.withLock { peers[i]?.log ?? "" } }
    }

    static func raft(_ host: String) async -> RaftClusterTests.RaftView? { await HTTP.getJSON("http://\(host):6443/v1/raft") }

    @Test("20 kill -9s of random peers (the leader half the time) under load lose no acknowledged write, and the history is linearizable")
    func killNineTwentyTimes() async throws {
        let cluster = try Cluster(size: 3)
        defer { cluster.killAll() }
        try cluster.start(0)
        #expect(await HTTP.waitUntilServing("http://\(cluster.hosts[0]):6443/healthz") != nil)
        try cluster.start(1)
        try cluster.start(2)
        let formed = await RaftClusterTests.eventually(.seconds(60)) {
            for host in cluster.hosts {
                guard let view = await Self.raft(host), view.voters.count == 3, view.leader != 0 else { return false }
            }
            return true
        }
        #expect(formed)
        guard formed else { return }

        let recorder = Recorder()
        let keys = (0..<8).map { "register-\($0)" }
        let stop = NSLock()
        nonisolated(unsafe) var stopped = false
        let clients = (0..<3).map { client in
            Task {
                var rng = SeededRandom(seed: UInt64(client + 1))
                var counter = 0
                while !stop.withLock({ stopped }) {
                    let host = cluster.hosts[rng.int(in: 0..<cluster.hosts.count)]
                    let key = keys[rng.int(in: 0..<keys.count)]
                    counter += 1
                    let value = "c\(client)-\(counter)"
                    let roll = rng.int(in: 0..<10)
                    if roll < 5 {
                        let handle = recorder.invoke(client, .put(key: key, value: value))
                        switch await HTTP.attempt("PUT", "http://\(host):6443/v1/kv/\(key)", body: value) {
                        case .answered(200, _): recorder.complete(handle, .ok)
                        case .refused: recorder.discard(handle)
                        // Refused before it was proposed: no leader was known, so it never reached a log.
                        case .answered(503, let body) where body.contains("no Raft leader is known"): recorder.discard(handle)
                        // No answer, or an error that does not say whether the write reached the log: it may
                        // take effect at any later moment, or never, so it stays pending.
                        default: break
                        }
                    } else if roll < 8 {
                        let handle = recorder.invoke(client, .get(key: key))
                        let answer = await HTTP.get("http://\(host):6443/v1/kv/\(key)")
                        switch answer?.status {
                        case 200: recorder.complete(handle, .value(answer?.body))
                        case 404: recorder.complete(handle, .value(nil))
                        default: recorder.discard(handle) // a read that failed changed nothing
                        }
                    } else {
                        // Read-modify-write: CAS on the revision of what we read.
                        guard let read = await HTTP.getWithHeaders("http://\(host):6443/v1/kv/\(key)"), read.status == 200 || read.status == 404 else { continue }
                        let expected = read.status == 200 ? read.body : nil
                        guard let revision = read.status == 200 ? read.headers["x-mod-revision"] : "0" else {
                            Issue.record("GET answered without X-Mod-Revision")
                            continue
                        }
                        let handle = recorder.invoke(client, .cas(key: key, expected: expected, value: value))
                        switch await HTTP.attempt("PUT", "http://\(host):6443/v1/kv/\(key)?cas=\(revision)", body: value) {
                        case .answered(200, _): recorder.complete(handle, .cas(true))
                        case .answered(409, _): recorder.complete(handle, .cas(false))
                        case .refused: recorder.discard(handle)
                        // Refused before it was proposed: no leader was known, so it never reached a log.
                        case .answered(503, let body) where body.contains("no Raft leader is known"): recorder.discard(handle)
                        // No answer, or an error that does not say whether the write reached the log: it may
                        // take effect at any later moment, or never, so it stays pending.
                        default: break
                        }
                    }
                }
            }
        }

        // The nemesis: kill -9 a peer, half the time the leader, leave it down a moment, restart it.
        var rng = SeededRandom(seed: 20261126)
        var killedLeader = 0
        for round in 0..<20 {
            var victim = rng.int(in: 0..<3)
            if round % 2 == 0 {
                // Every other round the victim is the leader; wait for the cluster to have one.
                let deadline = ContinuousClock.now + .seconds(15)
                search: while ContinuousClock.now < deadline {
                    for (i, host) in cluster.hosts.enumerated() {
                        if let view = await Self.raft(host), view.role == "leader" { victim = i; killedLeader += 1; break search }
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                if ContinuousClock.now >= deadline {
                    var views: [String] = []
                    for host in cluster.hosts { views.append("\(host): \(String(describing: await Self.raft(host)))") }
                    Issue.record("round \(round): no leader within 15 s: \(views)")
                }
            }
            try await Task.sleep(for: rng.duration(in: .milliseconds(200) ... .milliseconds(1200)))
            await cluster.kill(victim)
            try await Task.sleep(for: rng.duration(in: .milliseconds(100) ... .milliseconds(1500)))
            try cluster.start(victim)
            let back = await HTTP.waitUntilServing("http://\(cluster.hosts[victim]):6443/healthz", timeout: 30)
            #expect(back != nil, "peer \(victim) restarts after round \(round): \(cluster.log(victim))")
        }
        try await Task.sleep(for: .seconds(2))
        stop.withLock { stopped = true }
        for client in clients { await client.value }

        // Every peer converges on the same value for every key.
        let converged = await RaftClusterTests.eventually(.seconds(60)) {
            for key in keys {
                var seen: Set<String> = []
                for host in cluster.hosts {
                    guard let answer = await HTTP.get("http://\(host):6443/v1/kv/\(key)"), answer.status == 200 || answer.status == 404 else { return false }
                    seen.insert(answer.status == 200 ? answer.body : "<absent>")
                }
                if seen.count != 1 { return false }
            }
            return true
        }
        #expect(converged, "all peers agree on every key")

        // The last read of each key after the run joins the history, so a lost acknowledged write shows up.
        for key in keys {
            let handle = recorder.invoke(99, .get(key: key))
            let answer = await HTTP.get("http://\(cluster.hosts[0]):6443/v1/kv/\(key)")
            if answer?.status == 200 { recorder.complete(handle, .value(answer?.body)) }
            else if answer?.status == 404 { recorder.complete(handle, .value(nil)) }
            else { recorder.discard(handle) }
        }
        let history = recorder.history
        let acknowledged = history.filter { $0.output == .ok || $0.output == .cas(true) }.count
        #expect(acknowledged > 50, "the clients got writes through: \(acknowledged) of \(history.count) operations")
        #expect(killedLeader == 10)
        let verdict = LinearizabilityChecker(model: RegisterModel()).check(history)
        if case .notLinearizable(let key, _) = verdict {
            // The whole partition, in invocation order, for whoever has to find out why.
            let lines = history.filter { $0.input.key == key }.sorted { $0.invoke < $1.invoke }
                .map { "\($0.invoke) \($0.response.map(String.init) ?? "-") client \($0.client) \($0.input) -> \($0.output.map { "\($0)" } ?? "unknown")" }
            let path = NSTemporaryDirectory() + "durability-\(key).txt"
            try? lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            Issue.record("history of \(history.count) operations is not linearizable on \(key); its operations are in \(path)")
        }
        #expect(verdict == .linearizable || { if case .notLinearizable = verdict { true } else { false } }(), "checker verdict: \(verdict)")
        let pending = history.filter { $0.response == nil }.count
        print("durability: \(pending) pending, \(history.count) operations, \(acknowledged) acknowledged writes, \(killedLeader) leader kills, verdict \(verdict)")
    }

    @Test("a WAL record damaged in the middle stops the peer with the file and offset; a tail cut mid-record recovers")
    func walCorruption() async throws {
        let cluster = try Cluster(size: 1)
        defer { cluster.killAll() }
        let host = cluster.hosts[0]
        try cluster.start(0)
        #expect(await HTTP.waitUntilServing("http://\(host):6443/healthz") != nil)
        #expect(await RaftClusterTests.eventually(.seconds(60)) { await Self.raft(host)?.role == "leader" })
        for i in 0..<50 { #expect(await HTTP.sendUntilOK("PUT", "http://\(host):6443/v1/kv/k\(i)", json: "value-\(i)")?.status == 200) }
        await cluster.kill(0)

        let walDirectory = cluster.scratch.url.appendingPathComponent("data-0/raft/wal")
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: walDirectory.path).filter { $0.hasSuffix(".wal") }.sorted().last)
        let path = walDirectory.appendingPathComponent(segment).path
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(original.count > 1000)

        // Cut the tail in the middle of the last record: the peer recovers and keeps every earlier write.
        try original.prefix(original.count - 3).write(to: URL(fileURLWithPath: path))
        try cluster.start(0)
        #expect(await HTTP.waitUntilServing("http://\(host):6443/healthz") != nil, "\(cluster.log(0))")
        let recovered = await RaftClusterTests.eventually(.seconds(60)) {
            await HTTP.get("http://\(host):6443/v1/kv/k40?stale")?.body == "value-40"
        }
        #expect(recovered, "\(cluster.log(0))")
        await cluster.kill(0)

        // Flip a byte in the middle: the peer refuses to start and names the file and the offset.
        var damaged = try Data(contentsOf: URL(fileURLWithPath: path))
        let middle = damaged.count / 2
        damaged[middle] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: path))
        let refused = try await PeerProcess.run(["start", "--insecure-http", "--name", "peer-0", "--bind-address", host, "--data-dir", "data-0"],
                                                workingDirectory: cluster.scratch.url)
        #expect(refused.status == 1, "\(refused.output)")
        let lastLine = refused.output.split(separator: "\n").last.map(String.init) ?? ""
        #expect(lastLine.hasPrefix("peer: "), "\(refused.output)")
        #expect(lastLine.contains(segment), "names the file: \(lastLine)")
        #expect(lastLine.contains("offset"), "names the offset: \(lastLine)")
    }
}

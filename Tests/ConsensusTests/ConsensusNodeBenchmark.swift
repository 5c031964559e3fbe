@testable import Consensus
import Foundation
import Testing

/// A throughput check, not a timed test: off unless CONSENSUS_BENCH is set (e.g. CONSENSUS_BENCH=3 for seconds).
/// CONSENSUS_BENCH_READS=1 measures linearizable reads (ReadIndex) of keys written first instead of puts.
@Suite("Consensus node throughput")
struct ConsensusNodeBenchmark {
    @Test("3 peers, 64 concurrent proposers spread over all peers", .enabled(if: ProcessInfo.processInfo.environment["CONSENSUS_BENCH"] != nil))
    func throughput() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["CONSENSUS_BENCH"] ?? "") ?? 3
        let proposers = Int(ProcessInfo.processInfo.environment["CONSENSUS_BENCH_PROPOSERS"] ?? "") ?? 64
        let onlyLeader = ProcessInfo.processInfo.environment["CONSENSUS_BENCH_LEADER_ONLY"] != nil
        let reads = ProcessInfo.processInfo.environment["CONSENSUS_BENCH_READS"] != nil
        var settings = TestCluster.fastSettings
        settings.tickInterval = .milliseconds(100)
        settings.snapshotThreshold = 10_000
        try await TestCluster.with(settings) { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let leader = try await cluster.waitForLeader()
            let nodes = onlyLeader ? [cluster.node(leader)] : (1...3).map { cluster.node(UInt64($0)) }
            let value = [UInt8](repeating: 7, count: 128)
            if reads {
                for k in 0..<100 { _ = try await cluster.node(leader).propose(.put(key: "/bench/read/\(k)", value: value)) }
            }
            let end = ContinuousClock.now + .seconds(seconds)
            let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
                for p in 0..<proposers {
                    let node = nodes[p % nodes.count]
                    group.addTask {
                        var mine: [Duration] = []
                        var i = 0
                        while ContinuousClock.now < end {
                            let start = ContinuousClock.now
                            if reads {
                                let found = try await node.read { $0.get("/bench/read/\(i % 100)") != nil }
                                guard found else { throw TestFailure("a written key is missing") }
                            } else {
                                let r = try await node.propose(.put(key: "/bench/\(p)/\(i % 100)", value: value))
                                guard r.appliedRevision != nil else { throw TestFailure("\(r)") }
                            }
                            mine.append(ContinuousClock.now - start)
                            i += 1
                        }
                        return mine
                    }
                }
                var all: [Duration] = []
                for try await l in group { all += l }
                return all.sorted()
            }
            #expect(!latencies.isEmpty)
            func ms(_ d: Duration) -> String { String(format: "%.2f ms", Double(d.components.attoseconds) / 1e15 + Double(d.components.seconds) * 1000) }
            let p50 = latencies[latencies.count / 2]
            let p99 = latencies[min(latencies.count - 1, latencies.count * 99 / 100)]
            print("consensus throughput: \(latencies.count) \(reads ? "linearizable reads" : "proposals") in \(seconds) s = \(Int(Double(latencies.count) / seconds))/s, p50 \(ms(p50)), p99 \(ms(p99)), \(proposers) proposers on \(onlyLeader ? "the leader" : "all 3 peers")")
        }
    }
}

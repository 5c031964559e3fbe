import Foundation

/// The promises an edge cluster keeps, as reusable checks over a running `Cluster`.
enum Checks {
    /// Raft's election timeout in the peer (10 ticks of 100 ms), randomized up to twice that.
    static let electionTimeout: Duration = .seconds(1)
    static let maximumElectionTimeout: Duration = .seconds(2)

    /// Writes a key until one write is acknowledged.
    static func write(_ cluster: Cluster, _ key: String, _ value: String, through hosts: [Int], timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout, every: .milliseconds(100)) {
            for host in hosts {
                if case .answered(let answer) = await HTTPClient.request("PUT", cluster.url(host, "/v1/kv/\(key)"), body: value, timeout: 2),
                   answer.status == 200 { return true }
            }
            return false
        }
    }

    struct MinorityAnswers: Sendable {
        /// A stale read answered from the minority peer's replica: status, body, X-Stale.
        var staleStatus: Int?
        var staleBody: String?
        var staleMarked: Bool
        /// A linearizable read on the minority peer once it knows it has no leader: status, how long it took.
        var linearizableStatus: Int?
        var linearizableBody: String?
        var linearizableTook: Duration?
        /// From the partition to the first prompt 503.
        var untilPrompt503: Duration?
    }

    /// What a peer cut off on the minority side answers: stale reads marked as stale, and a prompt 503 for
    /// linearizable ones (waits up to `timeout` for the peer to notice it has no leader).
    static func minorityAnswers(_ cluster: Cluster, host: Int, key: String, since: ContinuousClock.Instant,
                                timeout: Duration = .seconds(20)) async -> MinorityAnswers {
        var result = MinorityAnswers(staleMarked: false)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let start = ContinuousClock.now
            // Longer than the peer's 5 s request timeout, so a slow answer is still an answer.
            let answer = await HTTPClient.get(cluster.url(host, "/v1/kv/\(key)"), timeout: 8)
            let took = ContinuousClock.now - start
            result.linearizableStatus = answer?.status
            result.linearizableBody = answer?.body
            result.linearizableTook = took
            if answer?.status == 503 && took < .seconds(1) {
                result.untilPrompt503 = ContinuousClock.now - since
                break
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        let stale = await HTTPClient.get(cluster.url(host, "/v1/kv/\(key)?consistency=stale"), timeout: 3)
        result.staleStatus = stale?.status
        result.staleBody = stale?.body
        result.staleMarked = stale?.headers["x-stale"] == "true"
        return result
    }

    /// Every listed peer answers a linearizable read of `key` with 200.
    static func allAnswer(_ cluster: Cluster, _ hosts: [Int], key: String) async -> [Int: Int?] {
        var statuses: [Int: Int?] = [:]
        for host in hosts {
            statuses[host] = await HTTPClient.get(cluster.url(host, "/v1/kv/\(key)"), timeout: 5)?.status
        }
        return statuses
    }
}

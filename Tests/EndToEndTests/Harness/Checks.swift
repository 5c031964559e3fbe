import Foundation

/// The promises an edge cluster keeps, as reusable checks over a running `Cluster`.
enum Checks {
    /// Raft's election timeout in the peer (10 ticks of 100 ms), randomized up to twice that.
    static let electionTimeout: Duration = .seconds(1)
    static let maximumElectionTimeout: Duration = .seconds(2)

    /// How soon after a heal the cluster must be whole again (`settled`). Gossip's share: a member that heard
    /// nothing for the whole fault learns of its death from the next datagram or the 5 s reconnect and
    /// refutes at once; Raft's: a restarted peer starts, is heard and catches up. 20 s leaves room for a
    /// loaded 2-core machine; the report gives the measured times.
    static let convergenceBound: Duration = .seconds(20)

    /// Whole again: every peer names the same leader, the leader has all its voters, and every peer's gossip
    /// sees every peer alive. Commit indexes may differ by what is in flight (the workload keeps writing);
    /// `Cluster.converged` also asks them to agree once writes stop.
    static func settled(_ cluster: Cluster) async -> Bool {
        var leaders: Set<UInt64> = []
        var voters: Int?
        for i in 0..<cluster.count {
            guard let view = await cluster.raft(i), view.leader != 0 else { return false }
            leaders.insert(view.leader)
            if view.role == "leader" { voters = view.voters.count }
            guard let members = await cluster.members(i) else { return false }
            let alive = Set(members.filter { $0.state == "alive" }.map(\.name))
            guard alive.isSuperset(of: cluster.hosts.map(\.name)) else { return false }
        }
        return leaders.count == 1 && voters == min(cluster.voters, cluster.count)
    }

    /// Time from `since` until `settled`, or nil if not within `timeout`.
    static func timeToSettle(_ cluster: Cluster, since: ContinuousClock.Instant, timeout: Duration) async -> Duration? {
        while ContinuousClock.now - since < timeout {
            if await settled(cluster) { return ContinuousClock.now - since }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return await settled(cluster) ? ContinuousClock.now - since : nil
    }

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

    /// What a peer whose wall clock just jumped answers: `GET /v1/members`, and a ConfigMap created through
    /// its Kubernetes API (stamped with the jumped clock; only that it is created is asked).
    static func answersAfterClockJump(_ cluster: Cluster, host: Int) async -> (members: Int?, created: Int?, stampedAhead: Duration?) {
        let members = await HTTPClient.get(cluster.url(host, "/v1/members"), timeout: 5)?.status
        let name = "clock-jump-\(UInt32.random(in: 0...UInt32.max))"
        let body = #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\#(name)"},"data":{"k":"v"}}"#
        var created: Int?
        var stampedAhead: Duration?
        if case .answered(let answer) = await HTTPClient.request("POST", cluster.url(host, "/api/v1/namespaces/default/configmaps"),
                                                                body: body, contentType: "application/json", timeout: 5) {
            created = answer.status
            // How far ahead of the test's clock the peer stamped it: shows the jump reached the peer's Date().
            struct Created: Decodable { struct Meta: Decodable { var creationTimestamp: String? }; var metadata: Meta }
            if let stamp = (try? JSONDecoder().decode(Created.self, from: Data(answer.body.utf8)))?.metadata.creationTimestamp,
               let date = ISO8601DateFormatter().date(from: stamp) {
                stampedAhead = .milliseconds(Int64(date.timeIntervalSinceNow * 1000))
            }
        }
        return (members, created, stampedAhead)
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

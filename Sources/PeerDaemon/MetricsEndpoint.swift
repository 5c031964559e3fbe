import Consensus
import Gossip
import Metrics
import Prometheus

/// This peer's metrics, through swift-metrics into its own Prometheus registry (one per peer, so tests can
/// run several peers in one process). Request figures are recorded as requests finish; Raft and gossip
/// figures are sampled when `/metrics` is scraped.
final class PeerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        self.factory = factory
    }

    /// One API request, in kube-apiserver's names (`apiserver_request_total`, `apiserver_request_duration_seconds`).
    func recordRequest(verb: String, resource: String, code: Int, duration: Duration) {
        Counter(label: "apiserver_request_total",
                dimensions: [("verb", verb), ("resource", resource), ("code", String(code))], factory: factory).increment()
        Timer(label: "apiserver_request_duration_seconds",
              dimensions: [("verb", verb), ("resource", resource)], factory: factory).recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    /// A write this peer proposed to Raft, by outcome (applied, conflict, notFound, invalid, error).
    func recordProposal(result: String) {
        Counter(label: "raft_proposals_total", dimensions: [("result", result)], factory: factory).increment()
    }

    func gauge(_ label: String, _ value: Double, _ dimensions: [(String, String)] = []) {
        Gauge(label: label, dimensions: dimensions, factory: factory).record(value)
    }

    /// Samples Raft and gossip, then renders everything in the Prometheus text format.
    func scrape(raft: ConsensusStatus, gossip: GossipNode?) -> [UInt8] {
        gauge("raft_term", Double(raft.term))
        gauge("raft_commit_index", Double(raft.commitIndex))
        gauge("raft_applied_index", Double(raft.appliedIndex))
        gauge("raft_has_leader", raft.leader == 0 ? 0 : 1)
        gauge("raft_is_leader", raft.role == .leader ? 1 : 0)
        gauge("raft_voters", Double(raft.voters.count))
        gauge("raft_learners", Double(raft.learners.count))
        if let gossip {
            let members = gossip.members
            for state in ["alive", "suspect", "dead", "left"] {
                gauge("gossip_members", Double(members.filter { $0.status.description == state }.count), [("state", state)])
            }
            let counters = gossip.counters
            gauge("gossip_packets_received", Double(counters.packetsReceived))
            gauge("gossip_packets_sent", Double(counters.packetsSent))
            gauge("gossip_packets_dropped", Double(counters.droppedUnauthenticated), [("reason", "unauthenticated")])
            gauge("gossip_packets_dropped", Double(counters.droppedMalformed), [("reason", "malformed")])
            gauge("gossip_packets_dropped", Double(counters.datagramSendFailures), [("reason", "send_refused")])
            gauge("gossip_streams_received", Double(counters.streamsReceived))
            gauge("gossip_stream_failures", Double(counters.streamFailures))
            gauge("gossip_local_health_multiplier", Double(gossip.localHealthMultiplier))
        }
        return registry.emitToBuffer()
    }
}

/// kube-apiserver's request labels, from a request path: the verb (get, list, watch, create, update,
/// patch, delete) and the resource (with `/subresource`). Non-resource paths are their first segment.
enum RequestLabels {
    static func of(method: String, path: String, watch: Bool) -> (verb: String, resource: String) {
        var segments = path.split(separator: "/").map(String.init)
        let resourceSegments: [String]
        if segments.first == "api", segments.count >= 3 {
            resourceSegments = Array(segments.dropFirst(2))
        } else if segments.first == "apis", segments.count >= 4 {
            resourceSegments = Array(segments.dropFirst(3))
        } else {
            segments = segments.prefix(2).map { $0 }
            let resource = segments.first.map { "/" + $0 } ?? "/"
            return (method.lowercased(), resource)
        }
        var rest = resourceSegments
        if rest.count >= 3, rest[0] == "namespaces" { rest.removeFirst(2) }
        let resource = rest.count >= 3 ? rest[0] + "/" + rest[2] : rest[0]
        let named = rest.count >= 2
        let verb: String
        switch method {
        case "GET", "HEAD": verb = watch ? "watch" : (named ? "get" : "list")
        case "POST": verb = "create"
        case "PUT": verb = "update"
        case "PATCH": verb = "patch"
        case "DELETE": verb = named ? "delete" : "deletecollection"
        default: verb = method.lowercased()
        }
        return (verb, resource)
    }
}

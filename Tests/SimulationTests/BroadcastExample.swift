import Simulation

/// A tiny pure protocol used to exercise the simulator: node 0 learns a value and
/// floods it; every holder re-sends to peers that have not acked, on a retry timer.
/// A node persists the value (fsynced) so it survives crashes.
enum BroadcastMessage: Sendable, Equatable {
    case value(Int)
    case ack
}

struct BroadcastNode {
    let id: Int
    let peers: [Int]
    var value: Int?
    var unacked: Set<Int> = []

    struct Output {
        var sends: [(to: Int, message: BroadcastMessage)] = []
        var retryAfter: Duration?
        var persist: Int?
    }

    static let retryInterval: Duration = .milliseconds(100)

    init(id: Int, peers: [Int], recovered: Int? = nil) {
        self.id = id
        self.peers = peers
        if let recovered { value = recovered }
    }

    mutating func learn(_ v: Int) -> Output {
        var out = Output()
        guard value == nil else { return out }
        value = v
        out.persist = v
        unacked = Set(peers)
        out.sends = peers.map { ($0, .value(v)) }
        out.retryAfter = BroadcastNode.retryInterval
        return out
    }

    mutating func receive(from: Int, _ message: BroadcastMessage) -> Output {
        switch message {
        case let .value(v):
            var out = learn(v)
            out.sends.append((from, .ack))
            return out
        case .ack:
            unacked.remove(from)
            return Output()
        }
    }

    mutating func retry() -> Output {
        guard let v = value, !unacked.isEmpty else { return Output() }
        var out = Output()
        out.sends = unacked.sorted().map { ($0, .value(v)) }
        out.retryAfter = BroadcastNode.retryInterval
        return out
    }
}

/// The test loop: feeds simulator events to cores and hands their outputs back.
final class BroadcastCluster {
    let sim: Simulation<BroadcastMessage>
    var cores: [BroadcastNode]

    init(seed: UInt64, nodes: Int, network: NetworkFaults, keepsTraceLog: Bool = false) {
        sim = Simulation(seed: seed, nodes: nodes, network: network, keepsTraceLog: keepsTraceLog)
        cores = (0..<nodes).map { id in BroadcastNode(id: id, peers: (0..<nodes).filter { $0 != id }) }
    }

    func apply(_ out: BroadcastNode.Output, at node: Int) {
        if let v = out.persist {
            let disk = sim.disk(node)
            try? disk.write("value", [UInt8(truncatingIfNeeded: v)])
            try? disk.fsync("value")
        }
        for (to, message) in out.sends { sim.send(from: node, to: to, message) }
        if let after = out.retryAfter { sim.setTimer(node, after: after) }
    }

    func restart(_ node: Int) {
        sim.restart(node)
        let recovered = (try? sim.disk(node).read("value")).flatMap { $0.first }.map(Int.init)
        cores[node] = BroadcastNode(id: node, peers: cores[node].peers, recovered: recovered)
        var core = cores[node]
        let out = core.retryOnRestart()
        cores[node] = core
        apply(out, at: node)
    }

    func start(value: Int, at node: Int = 0) {
        let out = cores[node].learn(value)
        apply(out, at: node)
    }

    /// Runs until `deadline` or until nothing is queued; control events go to `onControl`.
    func run(until deadline: Duration, onControl: (Int) -> Void = { _ in }) {
        while let event = sim.step(until: deadline) {
            switch event {
            case let .deliver(from, to, message):
                let out = cores[to].receive(from: from, message)
                apply(out, at: to)
            case let .timer(node, _):
                let out = cores[node].retry()
                apply(out, at: node)
            case let .control(tag):
                onControl(tag)
            }
        }
    }

    var holders: [Int] { cores.indices.filter { cores[$0].value != nil } }
}

extension BroadcastNode {
    /// After a restart a holder does not know who acked, so it re-floods.
    mutating func retryOnRestart() -> Output {
        guard let v = value else { return Output() }
        unacked = Set(peers)
        var out = Output()
        out.sends = peers.map { ($0, .value(v)) }
        out.retryAfter = BroadcastNode.retryInterval
        return out
    }
}

import Gossip
import Simulation

/// Drives many `SWIMInstance`s on the shared deterministic simulator. Addresses
/// are "n<id>"; push/pull packets travel over the same simulated network.
final class SWIMCluster {
    let sim: Simulation<SWIMPacket>
    let configuration: SWIMConfiguration
    private(set) var cores: [SWIMInstance]
    private var rngs: [SeededRandom]
    private var scheduled: [Int64]
    /// Round-trips every packet through the wire codec (slower; catches codec bugs).
    var throughCodec = false
    /// Called for every membership event: (observer, event, virtual time).
    var onEvent: ((Int, MembershipEvent, Duration) -> Void)?
    /// Called for every packet sent: (sender, receiver, packet, virtual time).
    var onSend: ((Int, Int, SWIMPacket, Duration) -> Void)?

    /// - Parameter started: the first `started` nodes know each other from the start; the others are down
    ///   and unknown until `restart` makes them join (default: all started).
    init(seed: UInt64, size: Int, started: Int? = nil, configuration: SWIMConfiguration = .lan, network: NetworkFaults) {
        sim = Simulation<SWIMPacket>(seed: seed, nodes: size, network: network)
        self.configuration = configuration
        let started = min(size, started ?? size)
        let everyone = (0..<started).map { MemberState(address: SWIMCluster.address($0), incarnation: 0, status: .alive) }
        cores = []
        rngs = []
        scheduled = Array(repeating: .min, count: size)
        for node in 0..<size {
            var rng = sim.rng.split()
            let core = SWIMInstance(
                address: Self.address(node), configuration: configuration,
                knownMembers: node < started ? everyone : [], now: .zero, rng: &rng)
            cores.append(core)
            rngs.append(rng)
        }
        for node in 0..<started {
            schedule(node, at: cores[node].nextDeadline)
        }
        for node in started..<size {
            sim.crash(node)
        }
    }

    static func address(_ node: Int) -> String { "n\(node)" }

    static func node(_ address: String) -> Int? {
        guard address.first == "n" else { return nil }
        return Int(address.dropFirst())
    }

    func time(_ node: Int) -> SWIMTime {
        SWIMTime(nanoseconds: sim.localTime(node).swimNanoseconds)
    }

    private func schedule(_ node: Int, at deadline: SWIMTime) {
        guard scheduled[node] != deadline.nanoseconds else { return }
        scheduled[node] = deadline.nanoseconds
        sim.setTimer(node, atLocalTime: .nanoseconds(deadline.nanoseconds))
    }

    func apply(_ directives: [SWIMDirective], from node: Int) {
        for directive in directives {
            switch directive {
            case .send(let packet, let to, _):
                guard let target = Self.node(to), target < cores.count else { continue }
                onSend?(node, target, packet, sim.now)
                sim.send(from: node, to: target, packet)
            case .event(let event):
                onEvent?(node, event, sim.now)
            case .scheduleTick(let at):
                schedule(node, at: at)
            }
        }
    }

    /// Members stopped like a SIGSTOPped process: packets to them wait in their socket buffer and their
    /// timers wait, both handled at `resume`.
    private(set) var paused: Set<Int> = []
    private var pausedInbox: [Int: [(from: Int, packet: SWIMPacket)]] = [:]

    func pause(_ node: Int) {
        paused.insert(node)
    }

    /// SIGCONT: the buffered packets first (as the shell drains its mailbox before ticking), then the timers.
    func resume(_ node: Int) {
        guard paused.remove(node) != nil else { return }
        var directives: [SWIMDirective] = []
        for (from, packet) in pausedInbox.removeValue(forKey: node) ?? [] {
            directives += cores[node].receive(packet, from: Self.address(from), now: time(node), rng: &rngs[node])
        }
        directives += cores[node].tick(now: time(node), rng: &rngs[node])
        scheduled[node] = .min
        apply(directives, from: node)
    }

    /// Runs the simulation until virtual time `deadline`, or until `stop` says so
    /// (checked after every event).
    func run(until deadline: Duration, stop: (() -> Bool)? = nil) {
        while let event = sim.step(until: deadline) {
            switch event {
            case .deliver(let from, let to, let packet) where paused.contains(to):
                pausedInbox[to, default: []].append((from, packet))
            case .timer(let node, _) where paused.contains(node):
                scheduled[node] = .min
            case .deliver(let from, let to, var packet):
                if throughCodec {
                    // Unreachable on success; a codec bug drops the packet and fails the check below.
                    guard let decoded = try? SWIMPacket(decoding: packet.encode()), decoded == packet else {
                        codecFailures += 1
                        continue
                    }
                    packet = decoded
                }
                let directives = cores[to].receive(packet, from: Self.address(from), now: time(to), rng: &rngs[to])
                apply(directives, from: to)
            case .timer(let node, _):
                scheduled[node] = .min
                let directives = cores[node].tick(now: time(node), rng: &rngs[node])
                apply(directives, from: node)
            case .control:
                break
            }
            if let stop, stop() { return }
        }
    }

    private(set) var codecFailures = 0

    func crash(_ node: Int) {
        sim.crash(node)
        scheduled[node] = .min
    }

    /// Brings a crashed member back as a fresh instance that joins through `seeds`.
    func restart(_ node: Int, incarnation: UInt64, seeds: [Int]) {
        sim.restart(node)
        var rng = sim.rng.split()
        cores[node] = SWIMInstance(
            address: Self.address(node), configuration: configuration,
            incarnation: incarnation, now: time(node), rng: &rng)
        rngs[node] = rng
        scheduled[node] = .min
        apply(cores[node].join(seeds: seeds.map(Self.address), now: time(node)), from: node)
    }

    func updateMetadata(_ node: Int, _ entries: [String: String]) {
        apply(cores[node].updateMetadata(entries, now: time(node)), from: node)
    }

    /// Tells `node` that `member` may be gone, as a closed Raft connection does in the peer.
    func hint(_ node: Int, about member: Int) {
        apply(cores[node].probeSoon(Self.address(member), now: time(node)), from: node)
    }

    func leave(_ node: Int) {
        apply(cores[node].leave(now: time(node), rng: &rngs[node]), from: node)
    }
}

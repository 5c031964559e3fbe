import Gossip
import Simulation

/// One core with its own seeded RNG, driven by hand in unit tests.
struct TestNode {
    var core: SWIMInstance
    var rng: SeededRandom

    init(_ address: String, knows others: [String], configuration: SWIMConfiguration = .lan, seed: UInt64 = 7, incarnation: UInt64 = 0) {
        rng = SeededRandom(seed: seed)
        let known = others.map { MemberState(address: $0, incarnation: 0, status: .alive) }
        core = SWIMInstance(address: address, configuration: configuration, incarnation: incarnation, knownMembers: known, now: .zero, rng: &rng)
    }

    mutating func tick(_ now: SWIMTime) -> [SWIMDirective] {
        core.tick(now: now, rng: &rng)
    }

    mutating func receive(_ packet: SWIMPacket, from: String, at now: SWIMTime) -> [SWIMDirective] {
        core.receive(packet, from: from, now: now, rng: &rng)
    }

    /// The sequence number of the ping a helper sent in `directives` on another's behalf.
    func relayedSequence(_ directives: [SWIMDirective]) -> UInt64 {
        for send in directives.sends {
            for case .ping(let sequence, _, _) in send.packet.messages { return sequence }
        }
        return 0
    }

    mutating func receive(_ update: MemberUpdate, at now: SWIMTime) -> [SWIMDirective] {
        core.receive(SWIMPacket([.update(update)]), from: "x", now: now, rng: &rng)
    }
}

extension Array where Element == SWIMDirective {
    var sends: [(packet: SWIMPacket, to: String)] {
        compactMap { if case .send(let p, let to, _) = $0 { (p, to) } else { nil } }
    }

    var events: [MembershipEvent] {
        compactMap { if case .event(let e) = $0 { e } else { nil } }
    }

    var scheduledTick: SWIMTime? {
        compactMap { if case .scheduleTick(let t) = $0 { t } else { nil } }.last
    }

    /// Packets carrying a message of the given kind.
    func sent(where predicate: (SWIMMessage) -> Bool) -> [(packet: SWIMPacket, to: String)] {
        sends.filter { $0.packet.messages.contains(where: predicate) }
    }
}

extension SWIMMessage {
    var isPing: Bool { if case .ping = self { true } else { false } }
    var isPingReq: Bool { if case .pingReq = self { true } else { false } }
    var isAck: Bool { if case .ack = self { true } else { false } }
    var isNack: Bool { if case .nack = self { true } else { false } }
    var isPushPull: Bool { if case .pushPull = self { true } else { false } }
}

func seconds(_ s: Double) -> SWIMTime {
    SWIMTime(nanoseconds: Int64(s * 1e9))
}

import Simulation
import Testing

@Suite struct ScaleTests {
    /// 1,000 members pinging random peers under loss and slow members: checks the
    /// simulator stays fast and its bookkeeping adds up at SWIM-like scale.
    @Test func thousandMembersPingRandomPeers() {
        let n = 1000
        let sim = Simulation<Bool>(seed: 99, nodes: n,
            network: NetworkFaults(loss: 0.05, duplication: 0.01, delay: .milliseconds(1) ... .milliseconds(20)))
        for slow in [3, 500, 999] { sim.setSlowness(slow, extraDelay: .milliseconds(100) ... .milliseconds(400)) }
        for node in sim.nodes { sim.setTimer(node, after: .milliseconds(Int64(sim.rng.int(in: 0..<200)))) }
        var acks = 0
        while let event = sim.step(until: .seconds(4)) {
            switch event {
            case let .timer(node, _):
                var peer = sim.rng.int(in: 0..<(n - 1))
                if peer >= node { peer += 1 }
                sim.send(from: node, to: peer, true)
                sim.setTimer(node, after: .milliseconds(200))
            case let .deliver(from, to, isPing):
                if isPing { sim.send(from: to, to: from, false) } else { acks += 1 }
            case .control:
                break
            }
        }
        let stats = sim.stats
        #expect(stats.timersFired >= n * 19)
        #expect(stats.sent == stats.timersFired + stats.delivered - acks)
        #expect(acks > stats.timersFired * 8 / 10)
        #expect(stats.droppedByLoss > 0 && stats.duplicated > 0)
    }
}

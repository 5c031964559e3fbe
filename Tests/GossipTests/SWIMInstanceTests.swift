import Gossip
import Simulation
import Testing

/// Ticks `node` at `now` and returns the probe it started (ping packet and target).
private func startProbe(_ node: inout TestNode, at now: SWIMTime) -> (packet: SWIMPacket, to: String) {
    let out = node.tick(now)
    let pings = out.sent(where: \.isPing)
    guard let first = pings.first else { return (SWIMPacket([]), "") }
    return first
}

/// `member` (one of `others`, all known to `node`) answers `node`'s ping, and `node` receives the ack.
private func answer(_ ping: SWIMPacket, from member: String, to node: inout TestNode, others: [String], at time: SWIMTime, seed: UInt64) {
    var answering = TestNode(member, knows: [node.core.address] + others.filter { $0 != member }, seed: seed)
    let ack = answering.receive(ping, from: node.core.address, at: time + .milliseconds(5)).sent(where: \.isAck)
    _ = node.receive(ack[0].packet, from: member, at: time + .milliseconds(10))
}

@Suite struct ProbeTests {
    @Test func pingIsAnsweredWithAckAndProbeSucceeds() {
        var a = TestNode("a", knows: ["b"])
        var b = TestNode("b", knows: ["a"], seed: 8)
        let start = a.core.nextProbeAt
        let (ping, target) = startProbe(&a, at: start)
        #expect(target == "b")
        let reply = b.receive(ping, from: "a", at: start + .milliseconds(5))
        let acks = reply.sent(where: \.isAck)
        #expect(acks.count == 1 && acks[0].to == "a")
        _ = a.receive(acks[0].packet, from: "b", at: start + .milliseconds(10))
        // No indirect probe once acked, and no suspicion at the end of the period.
        let later = a.tick(start + .milliseconds(600))
        #expect(later.sent(where: \.isPingReq).isEmpty)
        let next = a.tick(a.core.nextProbeAt)
        #expect(next.events.isEmpty)
        #expect(a.core.member("b")?.status == .alive)
    }

    /// A hint (this peer's Raft connection to the member closed) makes that member the next probe, out of its
    /// turn. It is only a hint: a member that answers stays alive, and one that does not is suspected by the
    /// usual path (indirect probes, then the end of the period).
    @Test func aHintedMemberIsProbedNextAndSuspectedOnlyIfTheProbeFails() {
        let others = (1...8).map { "m\($0)" }
        var a = TestNode("a", knows: others)
        var now = a.core.nextProbeAt
        for (round, hinted) in (others + others.reversed()).enumerated() {
            _ = a.core.probeSoon(hinted, now: now)
            let out = a.tick(now)
            #expect(out.events.isEmpty)
            let (ping, target) = out.sent(where: \.isPing)[0]
            #expect(target == hinted, "round \(round)")
            answer(ping, from: hinted, to: &a, others: others, at: now, seed: UInt64(round + 1))
            now = a.core.nextProbeAt
        }
        #expect(others.allSatisfy { a.core.member($0)?.status == .alive })

        // Hints about ourselves or a stranger are ignored: the round-robin goes on.
        _ = a.core.probeSoon("a", now: now)
        _ = a.core.probeSoon("stranger", now: now)
        now = a.core.nextProbeAt
        let (ping, target) = startProbe(&a, at: now)
        #expect(others.contains(target))
        answer(ping, from: target, to: &a, others: others, at: now, seed: 99)

        // A hinted member that does not answer: indirect probes, then suspected at the end of the period.
        now = a.core.nextProbeAt
        _ = a.core.probeSoon("m5", now: now)
        #expect(startProbe(&a, at: now).to == "m5")
        #expect(!a.tick(now + .milliseconds(500)).sent(where: \.isPingReq).isEmpty)
        _ = a.tick(a.core.nextProbeAt)
        #expect(a.core.member("m5")?.status == .suspect)
    }

    /// With no probe waiting for an answer, a hint starts the next protocol period at once instead of at its
    /// time; at most once per probe interval, so hints cannot raise the probe rate more than twofold.
    @Test func aHintStartsTheProbeAtOnceWhenNoProbeAwaitsAnAnswer() {
        let others = (1...8).map { "m\($0)" }
        var a = TestNode("a", knows: others)
        let interval = a.core.configuration.probeInterval
        var now = a.core.nextProbeAt
        let (first, firstTarget) = startProbe(&a, at: now)
        answer(first, from: firstTarget, to: &a, others: others, at: now, seed: 3)

        // 200 ms into an answered period: the hinted member is pinged in this very tick.
        let hinted = others.first { $0 != firstTarget }!
        now = now + .milliseconds(200)
        #expect(a.core.nextProbeAt > now)
        #expect(a.core.probeSoon(hinted, now: now).scheduledTick == now)
        let early = a.tick(now).sent(where: \.isPing)
        #expect(early.map(\.to) == [hinted])
        #expect(a.core.nextProbeAt == now + interval)
        answer(early[0].packet, from: hinted, to: &a, others: others, at: now, seed: 4)

        // A second hint within the probe interval waits for the period's own start.
        let second = others.first { $0 != firstTarget && $0 != hinted }!
        let soon = now + .milliseconds(300)
        _ = a.core.probeSoon(second, now: soon)
        #expect(a.tick(soon).sent(where: \.isPing).isEmpty)
        let secondStart = a.core.nextProbeAt
        let (_, next) = startProbe(&a, at: secondStart)
        #expect(next == second)

        // While a probe waits for its answer, a hint about another member does not cut it short, even once
        // the probe interval since the last early start has passed.
        now = secondStart + .milliseconds(100)
        let third = others.first { ![firstTarget, hinted, second].contains($0) }!
        let before = a.core.nextProbeAt
        _ = a.core.probeSoon(third, now: now)
        #expect(a.core.nextProbeAt == before)
    }

    @Test func misroutedPingIsNotAcked() {
        var b = TestNode("b", knows: ["a"])
        let out = b.receive(SWIMPacket([.ping(sequence: 1, target: "someone-else", source: "a")]), from: "a", at: .zero)
        #expect(out.sends.isEmpty)
    }

    @Test func indirectProbeThroughHelpersSavesTarget() {
        var a = TestNode("a", knows: ["b", "c", "d"])
        let start = a.core.nextProbeAt
        let (_, target) = startProbe(&a, at: start)  // the direct ping is lost
        let helpers = ["b", "c", "d"].filter { $0 != target }
        let out = a.tick(start + .milliseconds(500))
        let requests = out.sent(where: \.isPingReq)
        #expect(Set(requests.map(\.to)) == Set(helpers))

        var helper = TestNode(requests[0].to, knows: ["a", "b", "c", "d"].filter { $0 != requests[0].to }, seed: 9)
        let relayed = helper.receive(requests[0].packet, from: "a", at: start + .milliseconds(510))
        let relayPing = relayed.sent(where: \.isPing)
        #expect(relayPing.count == 1 && relayPing[0].to == target)

        var targetNode = TestNode(target, knows: ["a", "b", "c", "d"].filter { $0 != target }, seed: 10)
        let ack = targetNode.receive(relayPing[0].packet, from: helper.core.address, at: start + .milliseconds(520))
        let ackToHelper = ack.sent(where: \.isAck)
        #expect(ackToHelper.first?.to == helper.core.address)
        let forwarded = helper.receive(ackToHelper[0].packet, from: target, at: start + .milliseconds(530)).sent(where: \.isAck)
        #expect(forwarded.first?.to == "a")
        _ = a.receive(forwarded[0].packet, from: helper.core.address, at: start + .milliseconds(540))
        let end = a.tick(a.core.nextProbeAt)
        #expect(!end.events.contains(.suspect(MemberState(address: target, incarnation: 0, status: .suspect))))
        #expect(a.core.member(target)?.status == .alive)
    }

    @Test func helperSendsNackWhenTargetIsSilent() {
        var helper = TestNode("h", knows: ["a", "t"])
        let out = helper.receive(SWIMPacket([.pingReq(sequence: 42, target: "t", source: "a", wantsNack: true)]), from: "a", at: seconds(1))
        #expect(out.sent(where: \.isPing).first?.to == "t")
        let nackAt = seconds(1) + helper.core.configuration.relayNackDelay
        #expect(out.scheduledTick! <= nackAt)
        #expect(helper.tick(seconds(1) + (helper.core.configuration.relayNackDelay - .milliseconds(1))).sent(where: \.isNack).isEmpty)
        let timeout = helper.tick(nackAt)
        let nacks = timeout.sent(where: \.isNack)
        #expect(nacks.count == 1 && nacks.first?.to == "a")
        #expect(nacks.first?.packet.messages.contains(.nack(sequence: 42, source: "h")) == true)
        // Once only, and a late ack is still forwarded until the probe timeout.
        #expect(helper.tick(seconds(1.45)).sent(where: \.isNack).isEmpty)
        let ack = helper.receive(SWIMPacket([.ack(sequence: helper.relayedSequence(out), source: "t")]), from: "t", at: seconds(1.45))
        #expect(ack.sent(where: \.isAck).first?.to == "a")
    }

    /// A helper's nack reaches the asker before the asker's period ends, so a healthy asker probing a
    /// crashed member keeps its Local Health (the nacks used to land just after the end).
    @Test func nacksFromHealthyHelpersArriveWithinTheAskersPeriod() {
        let config = SWIMConfiguration.lan
        let oneWay = Duration.milliseconds(10)
        let pingReqSent = config.probeTimeout
        let nackArrives = pingReqSent + oneWay + config.relayNackDelay + oneWay
        #expect(nackArrives < config.probeInterval)
    }

    @Test func failedProbeWithAllNacksSuspectsTargetWithoutHurtingLocalHealth() {
        var a = TestNode("a", knows: ["b", "c", "d"])
        let start = a.core.nextProbeAt
        let (_, target) = startProbe(&a, at: start)
        let requests = a.tick(start + .milliseconds(500)).sent(where: \.isPingReq)
        #expect(requests.count == 2)
        for request in requests {
            guard case .pingReq(let sequence, _, _, _)? = request.packet.messages.first(where: \.isPingReq) else { continue }
            _ = a.receive(SWIMPacket([.nack(sequence: sequence, source: request.to)]), from: request.to, at: start + .milliseconds(900))
        }
        let end = a.tick(a.core.nextProbeAt)
        #expect(end.events.contains { if case .suspect(let s) = $0 { s.address == target } else { false } })
        #expect(a.core.localHealthMultiplier == 0)
    }

    @Test func missingNacksRaiseLocalHealthAndStretchTheProbeInterval() {
        var a = TestNode("a", knows: ["b", "c", "d"])
        let start = a.core.nextProbeAt
        _ = startProbe(&a, at: start)
        _ = a.tick(start + .milliseconds(500))  // two ping-reqs, no answer at all
        let end = a.core.nextProbeAt
        _ = a.tick(end)
        #expect(a.core.localHealthMultiplier == 2)
        // The next probe's timeout scales with LHM + 1 at once; its period only once it goes unanswered.
        #expect(a.core.nextProbeAt == end + .seconds(1))
        #expect(a.tick(end + .seconds(1)).sent(where: \.isPing).isEmpty)
        #expect(a.core.nextProbeAt == end + .seconds(3))
        #expect(a.tick(end + .milliseconds(1499)).sent(where: \.isPingReq).isEmpty)
        #expect(!a.tick(end + .milliseconds(1500)).sent(where: \.isPingReq).isEmpty)
    }

    @Test func answeredProbesKeepTheNormalRateWhileLocalHealthIsRaised() {
        var a = TestNode("a", knows: ["b"])
        var b = TestNode("b", knows: ["a"], seed: 3)
        let first = a.core.nextProbeAt
        _ = startProbe(&a, at: first)  // lost: no helpers, so LHM += 1
        let now = a.core.nextProbeAt
        #expect(now == first + .seconds(1), "the lost probe ran at the multiplier it started with (0)")
        let (ping, _) = startProbe(&a, at: now)
        #expect(a.core.localHealthMultiplier == 1)
        let ack = b.receive(ping, from: "a", at: now).sent(where: \.isAck)[0].packet
        _ = a.receive(ack, from: "b", at: now + .milliseconds(1))
        #expect(a.core.nextProbeAt == now + .seconds(1))
        let next = a.tick(now + .seconds(1)).sent(where: \.isPing)
        #expect(next.first?.to == "b")
        #expect(a.core.localHealthMultiplier == 0)
    }

    @Test func lateAckEndsAStretchedPeriod() {
        var a = TestNode("a", knows: ["b"])
        var b = TestNode("b", knows: ["a"], seed: 3)
        var now = a.core.nextProbeAt
        _ = startProbe(&a, at: now)  // lost: LHM 1
        now = a.core.nextProbeAt
        let (ping, _) = startProbe(&a, at: now)
        _ = a.tick(now + .seconds(1))  // unanswered: stretched to 2 s
        #expect(a.core.nextProbeAt == now + .seconds(2))
        let ack = b.receive(ping, from: "a", at: now).sent(where: \.isAck).first?.packet ?? SWIMPacket([])
        _ = a.receive(ack, from: "b", at: now + .milliseconds(1200))
        #expect(a.core.nextProbeAt == now + .milliseconds(1200))
        #expect(a.tick(now + .milliseconds(1200)).sent(where: \.isPing).first?.to == "b")
    }

    @Test func duplicatedNacksDoNotCountAsHealth() {
        var a = TestNode("a", knows: ["b", "c", "d"])
        var now = a.core.nextProbeAt
        _ = startProbe(&a, at: now)
        _ = a.tick(now + .milliseconds(500))  // nobody answers: LHM 2
        now = a.core.nextProbeAt
        _ = startProbe(&a, at: now)
        #expect(a.core.localHealthMultiplier == 2)
        let requests = a.tick(now + .milliseconds(1500)).sent(where: \.isPingReq)
        #expect(!requests.isEmpty)  // the earlier target is now suspect, so not a helper
        for request in requests {
            guard case .pingReq(let sequence, _, _, _)? = request.packet.messages.first(where: \.isPingReq) else { continue }
            let nack = SWIMPacket([.nack(sequence: sequence, source: request.to)])
            _ = a.receive(nack, from: request.to, at: now + .milliseconds(1600))
            _ = a.receive(nack, from: request.to, at: now + .milliseconds(1601))  // duplicated by the network
        }
        _ = a.tick(a.core.nextProbeAt)
        #expect(a.core.localHealthMultiplier == 2)
    }

    @Test func successfulProbesLowerLocalHealth() {
        var a = TestNode("a", knows: ["b"])
        var b = TestNode("b", knows: ["a"], seed: 3)
        var now = a.core.nextProbeAt
        _ = startProbe(&a, at: now)  // lost: no helpers, so LHM += 1
        now = a.core.nextProbeAt
        let (ping, _) = startProbe(&a, at: now)
        #expect(a.core.localHealthMultiplier == 1)
        let ack = b.receive(ping, from: "a", at: now).sent(where: \.isAck)[0].packet
        _ = a.receive(ack, from: "b", at: now + .milliseconds(1))
        _ = a.tick(a.core.nextProbeAt)
        #expect(a.core.localHealthMultiplier == 0)
    }

    @Test func localHealthSaturatesAtItsMaximum() {
        var config = SWIMConfiguration.lan
        config.maxLocalHealthMultiplier = 3
        var a = TestNode("a", knows: ["b"], configuration: config)
        for _ in 0..<10 {
            _ = a.tick(a.core.nextProbeAt)
        }
        #expect(a.core.localHealthMultiplier == 3)
    }
}

@Suite struct SuspicionTests {
    @Test func suspicionBecomesDeathAfterTimeout() {
        var a = TestNode("a", knows: ["b"])
        let start = a.core.nextProbeAt
        _ = startProbe(&a, at: start)
        let end = a.core.nextProbeAt
        let out = a.tick(end)
        #expect(out.events.contains(.suspect(MemberState(address: "b", incarnation: 0, status: .suspect))))
        let timeout = a.core.configuration.suspicionTimeout(confirmations: 0, memberCount: 2)
        #expect(a.core.suspicionDeadline(of: "b") == end + timeout)
        let before = a.tick(end + (timeout - .milliseconds(1)))
        #expect(!before.events.contains { if case .dead = $0 { true } else { false } })
        let after = a.tick(end + timeout)
        #expect(after.events.contains(.dead(MemberState(address: "b", incarnation: 0, status: .dead))))
        #expect(a.core.member("b")?.status == .dead)
        #expect(a.core.memberCount == 1)
    }

    @Test func timeoutShrinksWithIndependentConfirmations() {
        let others = (1...20).map { "m\($0)" }
        var a = TestNode("a", knows: others)
        let n = a.core.memberCount
        let config = a.core.configuration
        let (minimum, maximum) = config.suspicionTimeoutBounds(memberCount: n)
        #expect(maximum == minimum * config.suspicionMaxTimeoutMultiplier)
        let t0 = seconds(1)
        _ = a.receive(.suspect(address: "m1", incarnation: 0, from: "m2"), at: t0)
        let initial = config.suspicionTimeout(confirmations: 0, memberCount: n)
        #expect(a.core.suspicionDeadline(of: "m1") == t0 + initial)
        #expect(maximum - initial < .milliseconds(1))
        var previous = initial
        for (i, confirmer) in ["m3", "m4"].enumerated() {
            _ = a.receive(.suspect(address: "m1", incarnation: 0, from: confirmer), at: t0 + .seconds(1))
            let expected = config.suspicionTimeout(confirmations: i + 1, memberCount: n)
            #expect(a.core.suspicionDeadline(of: "m1") == t0 + expected)
            #expect(expected < previous)
            previous = expected
        }
        #expect(previous == minimum)
        // A repeated confirmer does not count twice.
        _ = a.receive(.suspect(address: "m1", incarnation: 0, from: "m3"), at: t0 + .seconds(2))
        #expect(a.core.suspicionConfirmations(of: "m1") == 2)
    }

    @Test func suspectedMemberRefutesWithHigherIncarnation() {
        var b = TestNode("b", knows: ["a", "c"])
        let out = b.receive(.suspect(address: "b", incarnation: 0, from: "a"), at: seconds(1))
        #expect(b.core.incarnation == 1)
        #expect(b.core.localHealthMultiplier == 1)
        // The refutation rides on the next packet b sends.
        let gossip = b.tick(seconds(1.3)).sends
        #expect(out.events.isEmpty)
        #expect(gossip.contains { $0.packet.updates.contains(.alive(address: "b", incarnation: 1, metadata: MemberMetadata())) })

        var a = TestNode("a", knows: ["b", "c"], seed: 2)
        _ = a.receive(.suspect(address: "b", incarnation: 0, from: "c"), at: seconds(1))
        #expect(a.core.member("b")?.status == .suspect)
        let back = a.receive(.alive(address: "b", incarnation: 1, metadata: MemberMetadata()), at: seconds(2))
        #expect(back.events == [.alive(MemberState(address: "b", incarnation: 1, status: .alive))])
        #expect(a.core.suspicionDeadline(of: "b") == nil)
    }

    @Test func buddySystemLetsSuspectRefuteOnPing() {
        var a = TestNode("a", knows: ["b"])
        var b = TestNode("b", knows: ["a"], seed: 4)
        _ = a.receive(.suspect(address: "b", incarnation: 0, from: "c"), at: seconds(0.1))
        let now = a.core.nextProbeAt
        let (ping, target) = startProbe(&a, at: now)
        #expect(target == "b")
        #expect(ping.messages.first == .update(.suspect(address: "b", incarnation: 0, from: "a")))
        let reply = b.receive(ping, from: "a", at: now + .milliseconds(2)).sent(where: \.isAck)
        #expect(b.core.incarnation == 1)
        // The ack itself carries the refutation.
        #expect(reply[0].packet.updates.contains(.alive(address: "b", incarnation: 1, metadata: MemberMetadata())))
        let events = a.receive(reply[0].packet, from: "b", at: now + .milliseconds(4)).events
        #expect(events.contains(.alive(MemberState(address: "b", incarnation: 1, status: .alive))))
    }

    @Test func deadMemberRefutesAndRecoversEverywhere() {
        var b = TestNode("b", knows: ["a"])
        _ = b.receive(.dead(address: "b", incarnation: 3, from: "a"), at: seconds(1))
        #expect(b.core.incarnation == 4)
        var a = TestNode("a", knows: ["b"])
        _ = a.receive(.dead(address: "b", incarnation: 3, from: "c"), at: seconds(1))
        #expect(a.core.member("b")?.status == .dead)
        let out = a.receive(.alive(address: "b", incarnation: 4, metadata: MemberMetadata()), at: seconds(2))
        #expect(out.events == [.alive(MemberState(address: "b", incarnation: 4, status: .alive))])
    }
}

/// A verdict must not outlive the heal of the fault that caused it (docs/RELIABILITY.md, issue 8).
@Suite struct VerdictAfterHealTests {
    /// Runs a's timers from `from` to `until` in gossip steps, collecting what it sends to `to`.
    private func sends(_ a: inout TestNode, from: SWIMTime, until: SWIMTime, to: String) -> [SWIMPacket] {
        var packets: [SWIMPacket] = []
        var now = from
        while now <= until {
            packets += a.tick(now).sends.filter { $0.to == to }.map(\.packet)
            now = now + a.core.configuration.gossipInterval
        }
        return packets
    }

    @Test func aSuspectThatHeardNothingIsToldDirectlyAndItsRefutationComesStraightBack() {
        // a suspects b (say, across a partition that just healed); the suspect news ran out of retransmits
        // while the link was down, and b still has its old incarnation.
        var a = TestNode("a", knows: ["b", "c", "d"])
        var b = TestNode("b", knows: ["a", "c", "d"], seed: 3)
        let t0 = seconds(10)
        _ = a.receive(.suspect(address: "b", incarnation: 0, from: "c"), at: t0)
        _ = sends(&a, from: t0, until: t0 + .seconds(5), to: "x")  // the link is down: whatever a sends is lost
        #expect(a.core.member("b")?.status == .suspect)
        #expect(b.core.incarnation == 0)
        // The link is back: within a probe interval, a tells b itself, whatever it probes.
        let healed = t0 + .seconds(5)
        let told = sends(&a, from: healed, until: healed + a.core.configuration.probeInterval, to: "b")
        let notice = told.first { $0.updates.contains(.suspect(address: "b", incarnation: 0, from: "a")) }
        #expect(notice != nil, "a tells b it is suspected")
        guard let notice else { return }
        let answer = b.receive(notice, from: "a", at: healed + .seconds(1))
        #expect(b.core.incarnation == 1)
        let toA = answer.sends.filter { $0.to == "a" }
        #expect(toA.contains { $0.packet.updates.contains(.alive(address: "b", incarnation: 1, metadata: MemberMetadata())) },
                "b answers a directly with its refutation")
        for packet in toA.map(\.packet) { _ = a.receive(packet, from: "b", at: healed + .seconds(1)) }
        #expect(a.core.member("b")?.status == .alive)
        #expect(a.core.suspicionDeadline(of: "b") == nil)
    }

    @Test func aRecentlyDeadMemberIsToldDirectlyAndComesBack() {
        var a = TestNode("a", knows: ["b", "c"])
        var b = TestNode("b", knows: ["a", "c"], seed: 3)
        let t0 = seconds(10)
        _ = a.receive(.dead(address: "b", incarnation: 0, from: "c"), at: t0)
        _ = sends(&a, from: t0, until: t0 + .seconds(3), to: "x")
        let healed = t0 + .seconds(3)
        let told = sends(&a, from: healed, until: healed + a.core.configuration.probeInterval, to: "b")
        let notice = told.first { $0.updates.contains(.dead(address: "b", incarnation: 0, from: "a")) }
        #expect(notice != nil, "a tells b it was declared dead")
        guard let notice else { return }
        let answer = b.receive(notice, from: "a", at: healed + .seconds(1)).sends.filter { $0.to == "a" }
        #expect(b.core.incarnation == 1)
        for (packet, _) in answer { _ = a.receive(packet, from: "b", at: healed + .seconds(1)) }
        #expect(a.core.member("b")?.status == .alive)
        // Long dead members are left to the reconnect push/pull, not told every second forever.
        var c = TestNode("c", knows: ["b"])
        _ = c.receive(.dead(address: "b", incarnation: 0, from: "a"), at: t0)
        let late = t0 + c.core.configuration.gossipToTheDeadTime + .seconds(1)
        let lateNotices = sends(&c, from: late, until: late + .seconds(2), to: "b").filter { !$0.updates.isEmpty && !$0.messages.contains(where: \.isPushPull) }
        #expect(lateNotices.isEmpty)
    }

    @Test func aStaleVerdictIsAnsweredWithTheCurrentAliveWithoutARefutation() {
        // b refuted long ago (incarnation 2), but a never heard that alive: a still holds b suspect at 1.
        var b = TestNode("b", knows: ["a", "c"], incarnation: 2)
        let answer = b.receive(SWIMPacket([.update(.suspect(address: "b", incarnation: 1, from: "a"))]), from: "a", at: seconds(1))
        #expect(b.core.incarnation == 2, "a stale verdict does not raise the incarnation")
        #expect(answer.sends.contains { $0.to == "a" && $0.packet.updates.contains(.alive(address: "b", incarnation: 2, metadata: MemberMetadata())) })
        var a = TestNode("a", knows: ["b", "c"])
        _ = a.receive(.suspect(address: "b", incarnation: 1, from: "c"), at: seconds(1))
        for (packet, _) in answer.sends { _ = a.receive(packet, from: "b", at: seconds(1.1)) }
        #expect(a.core.member("b")?.status == .alive)
    }
}

@Suite struct PrecedenceTests {
    private func node() -> TestNode { TestNode("a", knows: ["b", "c"]) }

    @Test func higherIncarnationAliveOverridesSuspect() {
        var a = node()
        _ = a.receive(.suspect(address: "b", incarnation: 1, from: "c"), at: seconds(1))
        _ = a.receive(.alive(address: "b", incarnation: 1, metadata: MemberMetadata()), at: seconds(1))
        #expect(a.core.member("b")?.status == .suspect)  // same incarnation: suspect wins
        _ = a.receive(.alive(address: "b", incarnation: 2, metadata: MemberMetadata()), at: seconds(1))
        #expect(a.core.member("b")?.status == .alive)
    }

    @Test func staleSuspicionIsIgnored() {
        var a = node()
        _ = a.receive(.alive(address: "b", incarnation: 5, metadata: MemberMetadata()), at: seconds(1))
        let out = a.receive(.suspect(address: "b", incarnation: 4, from: "c"), at: seconds(1))
        #expect(out.events.isEmpty)
        #expect(a.core.member("b")?.status == .alive)
    }

    @Test func deadOverridesAliveAtSameIncarnationAndIsFinalUntilNewerAlive() {
        var a = node()
        _ = a.receive(.dead(address: "b", incarnation: 0, from: "c"), at: seconds(1))
        #expect(a.core.member("b")?.status == .dead)
        _ = a.receive(.alive(address: "b", incarnation: 0, metadata: MemberMetadata()), at: seconds(1))
        _ = a.receive(.suspect(address: "b", incarnation: 9, from: "c"), at: seconds(1))
        #expect(a.core.member("b")?.status == .dead)
        _ = a.receive(.alive(address: "b", incarnation: 1, metadata: MemberMetadata()), at: seconds(1))
        #expect(a.core.member("b")?.status == .alive)
    }

    @Test func leftIsNotTurnedIntoDead() {
        var a = node()
        let out = a.receive(.left(address: "b", incarnation: 0), at: seconds(1))
        #expect(out.events == [.left(MemberState(address: "b", incarnation: 0, status: .left))])
        let again = a.receive(.dead(address: "b", incarnation: 0, from: "c"), at: seconds(1))
        #expect(again.events.isEmpty)
        #expect(a.core.member("b")?.status == .left)
    }

    @Test func forgedMaximalIncarnationDoesNotTrap() {
        var a = node()
        _ = a.receive(.suspect(address: "a", incarnation: .max, from: "b"), at: seconds(1))
        _ = a.receive(.alive(address: "b", incarnation: .max, metadata: MemberMetadata()), at: seconds(1))
        _ = a.core.updateMetadata(["k": "v"], now: seconds(2))
        #expect(a.core.member("b")?.incarnation == .max)
        #expect(a.core.incarnation == 1)
    }

    @Test func pushPullConfirmsSuspicionAsItsSourceAndRepliesToTheTransportPeer() {
        var a = TestNode("a", knows: (1...10).map { "m\($0)" })
        _ = a.receive(.suspect(address: "m1", incarnation: 0, from: "m2"), at: seconds(1))
        let request = SWIMPacket([.pushPull(isReply: false, source: "m3", members: [MemberState(address: "m1", incarnation: 0, status: .dead)])])
        let out = a.receive(request, from: "conn-17", at: seconds(2))
        #expect(a.core.suspicionConfirmations(of: "m1") == 1)
        #expect(out.sent(where: \.isPushPull).map(\.to) == ["conn-17"])
    }

    @Test func mergeAppliesPrecedenceAndSuspectsRatherThanKills() {
        var a = node()
        var rng = SeededRandom(seed: 1)
        let remote = [
            MemberState(address: "b", incarnation: 0, status: .dead),
            MemberState(address: "c", incarnation: 2, status: .alive),
            MemberState(address: "d", incarnation: 0, status: .alive),
            MemberState(address: "e", incarnation: 0, status: .dead),  // unknown and dead: ignored
            MemberState(address: "a", incarnation: 0, status: .suspect),  // about us: refute
        ]
        let out = a.core.mergeRemoteState(remote, from: "c", now: seconds(1), rng: &rng)
        #expect(a.core.member("b")?.status == .suspect)
        #expect(a.core.member("c")?.incarnation == 2)
        #expect(a.core.member("d")?.status == .alive)
        #expect(a.core.member("e") == nil)
        #expect(a.core.incarnation == 1)
        #expect(out.events.contains(.joined(MemberState(address: "d", incarnation: 0, status: .alive))))
    }
}

@Suite struct LifecycleTests {
    @Test func gracefulLeaveIsReportedAsLeftNotDead() {
        var b = TestNode("b", knows: ["a"])
        let out = b.core.leave(now: seconds(1), rng: &b.rng)
        let packets = out.sends
        #expect(packets.count == 1 && packets[0].to == "a")
        #expect(packets[0].packet.updates.contains(.left(address: "b", incarnation: 0)))
        // A leaving member does not refute, and stops probing.
        _ = b.receive(.suspect(address: "b", incarnation: 0, from: "a"), at: seconds(2))
        #expect(b.core.incarnation == 0)
        #expect(b.tick(b.core.nextProbeAt).sent(where: \.isPing).isEmpty)

        var a = TestNode("a", knows: ["b"])
        let events = a.receive(packets[0].packet, from: "b", at: seconds(1)).events
        #expect(events == [.left(MemberState(address: "b", incarnation: 0, status: .left))])
        #expect(a.core.memberCount == 1)
    }

    @Test func metadataUpdateSpreadsWithNewIncarnation() {
        var b = TestNode("b", knows: ["a"])
        _ = b.core.updateMetadata(["raft": "10.0.0.2:7000", "zone": "z1"], now: seconds(1))
        #expect(b.core.incarnation == 1 && b.core.metadata.version == 1)
        let packet = b.tick(b.core.nextDeadline).sends.first { !$0.packet.updates.isEmpty }
        #expect(packet != nil)
        var a = TestNode("a", knows: ["b"])
        let events = a.receive(packet!.packet, from: "b", at: seconds(1.2)).events
        let expected = MemberState(address: "b", incarnation: 1, status: .alive,
                                   metadata: MemberMetadata(version: 1, entries: ["raft": "10.0.0.2:7000", "zone": "z1"]))
        #expect(events == [.metadataChanged(expected)])
        #expect(a.core.member("b") == expected)
    }

    @Test func joinThroughSeedLearnsTheCluster() {
        var seed = TestNode("s", knows: ["x", "y"])
        var rng = SeededRandom(seed: 5)
        var newcomer = SWIMInstance(address: "n", metadata: ["role": "worker"], now: .zero, rng: &rng)
        let join = newcomer.join(seeds: ["s"], now: .zero)
        #expect(join.count == 2)  // one push/pull request + the tick schedule
        guard case .send(let request, "s", .stream)? = join.first else {
            Issue.record("no push/pull request to the seed")
            return
        }
        let answer = seed.receive(request, from: "n", at: seconds(0.01))
        #expect(answer.events.contains { if case .joined(let s) = $0 { s.address == "n" && s.metadata.entries["role"] == "worker" } else { false } })
        let reply = answer.sent(where: \.isPushPull)
        #expect(reply.count == 1 && reply[0].to == "n")
        let learned = newcomer.receive(reply[0].packet, from: "s", now: seconds(0.02), rng: &rng).events
        #expect(Set(learned.map(\.address)) == ["s", "x", "y"])
        #expect(newcomer.memberCount == 4)
    }

    @Test func tombstonesAreReapedAfterTimeout() {
        var config = SWIMConfiguration.lan
        config.tombstoneTimeout = .seconds(10)
        var a = TestNode("a", knows: ["b", "c"], configuration: config)
        _ = a.receive(.dead(address: "b", incarnation: 0, from: "c"), at: seconds(1))
        _ = a.tick(seconds(10.9))
        #expect(a.core.member("b")?.status == .dead)
        let out = a.tick(seconds(11))
        #expect(out.events.contains(.reaped(address: "b")))
        #expect(a.core.member("b") == nil)
    }

    @Test func pushPullTargetsALiveMemberAndReconnectTargetsTheDead() {
        var config = SWIMConfiguration.lan
        // Short intervals: b never answers, so it must still be live (suspect at worst).
        config.pushPullInterval = .seconds(1)
        config.reconnectInterval = .seconds(1)
        var a = TestNode("a", knows: ["b", "c"], configuration: config)
        _ = a.receive(.dead(address: "c", incarnation: 0, from: "b"), at: seconds(0.1))
        var targets: [String] = []
        var now = seconds(0.2)
        while now < seconds(5) {
            targets += a.tick(now).sent(where: \.isPushPull).map(\.to)
            now = now + .milliseconds(100)
        }
        #expect(targets.contains("b"))
        #expect(targets.contains("c"))
        #expect(targets.count >= 6, "\(targets)")
    }
}

/// What the shell must do after feeding an input to `SWIMInstance`.
public enum SWIMDirective: Sendable, Hashable {
    /// Encode and send `packet` to `to`. Push/pull packets use `.stream`.
    case send(SWIMPacket, to: String, transport: SWIMTransport)
    /// Report a membership change to the rest of the program.
    case event(MembershipEvent)
    /// Call `tick(now:rng:)` again no later than this time.
    case scheduleTick(at: SWIMTime)
}

/// Pure SWIM + Lifeguard state machine for one member.
///
/// Inputs: `tick`, `receive`, `join`, `leave`, `updateMetadata`, `mergeRemoteState`,
/// each with the current time (and a caller-owned RNG where randomness is needed).
/// Outputs: `[SWIMDirective]`. No I/O, clocks or global randomness inside.
public struct SWIMInstance: Sendable {
    struct MemberRecord: Sendable {
        var state: MemberState
        var changedAt: SWIMTime
        var suspicion: Suspicion?
    }

    struct Probe: Sendable {
        var target: String
        var sequence: UInt64
        var startedAt: SWIMTime
        var directDeadline: SWIMTime
        /// End of this probe's period if it goes unanswered: the probe interval scaled by the Local Health
        /// Multiplier at its start. An answered probe ends after the plain interval.
        var stretchedEnd: SWIMTime
        var indirectSent = false
        var expectedNacks = 0
        var nacks = 0
        var acked = false
        var ackedDirectly = false
    }

    /// A ping we send on behalf of another member (ping-req).
    struct Relay: Sendable {
        var origin: String
        var originSequence: UInt64
        /// Until when the target's ack is still forwarded.
        var deadline: SWIMTime
        /// When the nack goes out if the target has not answered; nil once sent or not wanted.
        var nackAt: SWIMTime?
    }

    static let never = SWIMTime(nanoseconds: .max)

    public let address: String
    public let configuration: SWIMConfiguration
    public private(set) var incarnation: UInt64 { didSet { revision &+= 1 } }
    public private(set) var metadata: MemberMetadata { didSet { revision &+= 1 } }
    /// Lifeguard Local Health Multiplier, 0...maxLocalHealthMultiplier.
    public private(set) var localHealthMultiplier = 0 { didSet { revision &+= 1 } }
    public private(set) var hasLeft = false { didSet { revision &+= 1 } }
    /// Changes whenever what `members`, `member(_:)` or `localHealthMultiplier` report may have changed: a
    /// shell republishes its view only then, not on every packet.
    public private(set) var revision: UInt64 = 0

    private(set) var memberRecords: [String: MemberRecord] = [:]
    /// Alive + suspect members other than us.
    private(set) var liveCount = 0
    private var probeOrder: [String] = []
    private var probeIndex = 0
    /// A member to probe in the next protocol period, out of its round-robin turn (see `probeSoon`).
    private(set) var hintedProbe: String?
    /// Before this time a hint does not start a protocol period early (see `probeSoon`).
    private var nextEarlyPeriodAllowedAt = SWIMTime.zero
    private(set) var probe: Probe?
    private var relays: [UInt64: Relay] = [:]
    private var nextSequence: UInt64 = 0
    private(set) var broadcasts = BroadcastQueue()
    private var suspected: Set<String> = []
    private var nextSuspicionDeadline = SWIMInstance.never
    private var tombstones: [String: SWIMTime] = [:]
    private var nextReapAt = SWIMInstance.never
    private var nextRelayDeadline = SWIMInstance.never
    /// End of the current protocol period (start of the next one), unless an unanswered probe stretches it.
    public private(set) var nextProbeAt: SWIMTime
    private var nextGossipAt: SWIMTime
    private var nextPushPullAt: SWIMTime
    private var nextReconnectAt: SWIMTime
    /// Next time suspects and the recently dead are told of their verdict directly.
    private var nextNoticeAt: SWIMTime
    /// Until when some member counts as recently dead (the latest death + `gossipToTheDeadTime`).
    private var recentlyDeadUntil = SWIMTime.zero
    private var output: [SWIMDirective] = []
    /// Size-dependent settings, recomputed only when the member count changes.
    private var scaled = ScaledSettings(configuration: .lan, memberCount: 1)

    struct ScaledSettings: Sendable {
        let memberCount: Int
        let retransmitLimit: Int
        let suspicionMinimum: Duration
        let suspicionMaximum: Duration
        let confirmationsNeeded: Int

        init(configuration: SWIMConfiguration, memberCount: Int) {
            self.memberCount = memberCount
            retransmitLimit = configuration.retransmitLimit(memberCount: memberCount)
            (suspicionMinimum, suspicionMaximum) = configuration.suspicionTimeoutBounds(memberCount: memberCount)
            confirmationsNeeded = configuration.suspicionConfirmationsNeeded(memberCount: memberCount)
        }
    }

    /// - Parameters:
    ///   - incarnation: a restarted member should pass a value above its previous
    ///     life's (if the shell persisted it); otherwise it refutes its own death.
    ///   - knownMembers: an initial view installed silently (no events, no gossip),
    ///     e.g. from a snapshot.
    public init(
        address: String,
        configuration: SWIMConfiguration = .lan,
        metadata: [String: String] = [:],
        incarnation: UInt64 = 0,
        knownMembers: [MemberState] = [],
        now: SWIMTime,
        rng: inout some RandomNumberGenerator
    ) {
        self.address = address
        self.configuration = configuration
        self.incarnation = incarnation
        self.metadata = MemberMetadata(version: 0, entries: metadata)
        // Staggered first timers keep members from probing in lockstep.
        nextProbeAt = now + Self.randomFraction(of: configuration.probeInterval, using: &rng)
        nextGossipAt = now + Self.randomFraction(of: configuration.gossipInterval, using: &rng)
        nextReconnectAt = now + configuration.reconnectInterval / 2
            + Self.randomFraction(of: configuration.reconnectInterval, using: &rng)
        nextPushPullAt = now
        nextNoticeAt = now
        scaled = ScaledSettings(configuration: configuration, memberCount: 1)
        broadcasts.maxUpdateSize = configuration.maxPacketSize - 3
        for state in knownMembers where state.address != address {
            let previous = memberRecords[state.address]?.state.status
            if previous == nil {
                probeOrder.append(state.address)
            }
            store(MemberRecord(state: state, changedAt: now, suspicion: nil), previous: previous)
        }
        probeOrder.shuffle(using: &rng)
        nextPushPullAt = now + Self.randomFraction(of: configuration.scaledPushPullInterval(memberCount: memberCount), using: &rng)
    }

    // MARK: - Queries

    /// Members known alive or suspect, counting ourselves.
    public var memberCount: Int { liveCount + 1 }

    /// What we know about `address` (ourselves included).
    public func member(_ address: String) -> MemberState? {
        if address == self.address { return selfState }
        return memberRecords[address]?.state
    }

    /// When the current suspicion of `address` turns into a death, if suspected.
    public func suspicionDeadline(of address: String) -> SWIMTime? {
        memberRecords[address]?.suspicion?.deadline
    }

    /// Suspicion confirmations from distinct members received for `address`.
    public func suspicionConfirmations(of address: String) -> Int? {
        memberRecords[address]?.suspicion?.confirmations
    }

    /// Every other member we know about, tombstones included, ordered by address.
    public var members: [MemberState] { memberRecords.keys.sorted().compactMap { memberRecords[$0]?.state } }

    /// Updates still waiting to be gossiped (a leaving member waits for this to empty).
    public var hasPendingBroadcasts: Bool { !broadcasts.isEmpty }

    /// Full membership view, ourselves included, for a push/pull exchange.
    public func localState() -> [MemberState] {
        // Sorted: dictionary order varies between processes, and the receiver's
        // behaviour must depend only on the seed.
        var states = [selfState]
        states.reserveCapacity(memberRecords.count + 1)
        for address in memberRecords.keys.sorted() {
            if let record = memberRecords[address] { states.append(record.state) }
        }
        return states
    }

    /// Earliest time at which `tick` has work to do.
    public var nextDeadline: SWIMTime {
        var deadline = min(nextProbeAt, nextPushPullAt, nextReconnectAt)
        deadline = min(deadline, nextSuspicionDeadline, nextReapAt, nextRelayDeadline)
        // An idle member does not wake every gossip interval to find nothing to say (most of its wake-ups).
        if gossipPending(at: nextGossipAt) { deadline = min(deadline, nextGossipAt) }
        if let probe, !probe.acked, !probe.indirectSent {
            deadline = min(deadline, probe.directDeadline)
        }
        return deadline
    }

    var selfState: MemberState {
        MemberState(address: address, incarnation: incarnation, status: hasLeft ? .left : .alive, metadata: metadata)
    }

    // MARK: - Inputs

    /// Contacts seeds with a full-state exchange; their replies teach us the cluster.
    public mutating func join(seeds: [String], now: SWIMTime) -> [SWIMDirective] {
        // We also announce ourselves (as memberlist does): once the reply has taught us the members, our own
        // gossip tells them directly. Left to the seed's retransmits alone (4 at N = 5, some spent on us and
        // on recently dead members), the news missed a member in about half the joins of issue #3's
        // benchmark, which then waited for the 30 s push/pull.
        if !hasLeft {
            broadcasts.enqueue(.alive(address: address, incarnation: incarnation, metadata: metadata))
        }
        let state = localState()
        for seed in seeds where seed != address {
            output.append(.send(SWIMPacket([.pushPull(isReply: false, source: address, members: state)]), to: seed, transport: .stream))
        }
        return flush()
    }

    /// Graceful leave: gossip `left` so others do not report a failure. Keep calling
    /// `tick` until `hasPendingBroadcasts` is false before shutting down.
    public mutating func leave(now: SWIMTime, rng: inout some RandomNumberGenerator) -> [SWIMDirective] {
        guard !hasLeft else { return flush() }
        hasLeft = true
        probe = nil
        broadcasts.enqueue(.left(address: address, incarnation: incarnation))
        gossip(now: now, rng: &rng)
        return flush()
    }

    /// Publishes new metadata: a new incarnation makes it win everywhere.
    public mutating func updateMetadata(_ entries: [String: String], now: SWIMTime) -> [SWIMDirective] {
        metadata = MemberMetadata(version: metadata.version &+ 1, entries: entries)
        if incarnation < .max { incarnation += 1 }
        broadcasts.enqueue(.alive(address: address, incarnation: incarnation, metadata: metadata))
        return flush()
    }

    /// Another part of this peer saw `member` go away (a connection to it closed): probe it now instead of
    /// waiting for its turn, which at small sizes can be seconds away. Only a hint: the member is suspected only
    /// if that probe and its indirect probes fail, like any other.
    ///
    /// When no probe awaits an answer, the next protocol period starts at the next `tick` (so the hint saves
    /// up to a whole period); otherwise the hinted member is the next period's target. Periods start early at
    /// most once per probe interval, so a flapping connection can at most double our probe rate.
    public mutating func probeSoon(_ member: String, now: SWIMTime) -> [SWIMDirective] {
        // A probe of it still waiting for an answer already covers the hint.
        let awaited = probe.map { $0.target == member && !$0.acked } ?? false
        guard member != address, !hasLeft, memberRecords[member]?.state.status.isLive == true, !awaited else { return flush() }
        hintedProbe = member
        let answered = probe.map(\.acked) ?? true
        if answered, now >= nextEarlyPeriodAllowedAt, now < nextProbeAt {
            nextProbeAt = now
            nextEarlyPeriodAllowedAt = now + configuration.probeInterval
        }
        return flush()
    }

    /// Runs every timer that is due at `now`.
    public mutating func tick(now: SWIMTime, rng: inout some RandomNumberGenerator) -> [SWIMDirective] {
        expireRelays(now: now)
        if var current = probe, !current.acked, !current.indirectSent, now >= current.directDeadline {
            sendIndirectProbes(&current, rng: &rng)
            probe = current
        }
        if now >= nextProbeAt, let current = probe, !current.acked, now < current.stretchedEnd {
            // Lifeguard stretches only a probe that goes unanswered (as memberlist does): a degraded member
            // waits longer before it suspects anyone, but keeps probing at the normal rate while its probes
            // are answered. Stretching every period kept a member with a raised multiplier probing each
            // other member up to 9 times less often, which delayed the detection of a real crash by seconds.
            nextProbeAt = current.stretchedEnd
        }
        if now >= nextProbeAt {
            finishProbe(now: now)
            if !hasLeft {
                startProbe(now: now, rng: &rng)
            }
            nextProbeAt = now + configuration.probeInterval
        }
        if now >= nextSuspicionDeadline {
            expireSuspicions(now: now)
        }
        if now >= nextGossipAt {
            nextGossipAt = now + configuration.gossipInterval
            if gossipPending(at: now) {
                gossip(now: now, rng: &rng)
                if now >= nextNoticeAt {
                    nextNoticeAt = now + configuration.probeInterval
                    noticeVerdicts(now: now, rng: &rng)
                }
            }
        }
        if now >= nextPushPullAt {
            nextPushPullAt = now + configuration.scaledPushPullInterval(memberCount: memberCount)
            if !hasLeft, let peer = randomMembers(1, rng: &rng, where: { $0.status.isLive }).first {
                sendPushPull(to: peer)
            }
        }
        if now >= nextReconnectAt {
            nextReconnectAt = now + configuration.reconnectInterval
            if !hasLeft, let peer = randomMembers(1, rng: &rng, where: { $0.status == .dead }).first {
                sendPushPull(to: peer)
            }
        }
        if now >= nextReapAt {
            reapTombstones(now: now)
        }
        return flush()
    }

    /// Handles one received packet. `from` is the transport-level sender, used
    /// only as the destination of a push/pull reply (it may be a connection id).
    public mutating func receive(
        _ packet: SWIMPacket,
        from: String,
        now: SWIMTime,
        rng: inout some RandomNumberGenerator
    ) -> [SWIMDirective] {
        // Updates first, so that an ack already carries e.g. a refutation of a
        // suspicion that came with the ping (buddy system).
        for case .update(let update) in packet.messages {
            apply(update, now: now, rng: &rng)
        }
        for message in packet.messages {
            switch message {
            case .update:
                continue
            case .ping(let sequence, let target, let source):
                guard target == address else { continue }
                sendDatagram([.ack(sequence: sequence, source: address)], to: source)
            case .pingReq(let sequence, let target, let source, let wantsNack):
                handlePingRequest(sequence: sequence, target: target, origin: source, wantsNack: wantsNack, now: now)
            case .ack(let sequence, let source):
                handleAck(sequence: sequence, source: source, now: now)
            case .nack(let sequence, _):
                if var current = probe, current.sequence == sequence, !current.acked {
                    current.nacks += 1
                    probe = current
                }
            case .pushPull(let isReply, let source, let states):
                merge(states, from: source, now: now, rng: &rng)
                if !isReply {
                    // Answer the transport peer, so the shell can reply on the same connection.
                    output.append(.send(SWIMPacket([.pushPull(isReply: true, source: address, members: localState())]), to: from, transport: .stream))
                }
            }
        }
        return flush()
    }

    /// Applies a remote full state (push/pull) with the usual precedence rules.
    /// A remote `dead` only makes us suspect: the member gets a chance to refute.
    public mutating func mergeRemoteState(
        _ states: [MemberState],
        from: String,
        now: SWIMTime,
        rng: inout some RandomNumberGenerator
    ) -> [SWIMDirective] {
        merge(states, from: from, now: now, rng: &rng)
        return flush()
    }

    // MARK: - Probing

    private mutating func startProbe(now: SWIMTime, rng: inout some RandomNumberGenerator) {
        guard let target = nextProbeTarget(rng: &rng), let record = memberRecords[target] else { return }
        nextSequence &+= 1
        var messages: [SWIMMessage] = []
        if record.state.status == .suspect {
            // Buddy system: tell the suspect directly so it can refute at once.
            messages.append(.update(.suspect(address: target, incarnation: record.state.incarnation, from: address)))
        }
        messages.append(.ping(sequence: nextSequence, target: target, source: address))
        sendDatagram(messages, to: target)
        probe = Probe(
            target: target,
            sequence: nextSequence,
            startedAt: now,
            directDeadline: now + configuration.probeTimeout * (localHealthMultiplier + 1),
            stretchedEnd: now + configuration.probeInterval * (localHealthMultiplier + 1)
        )
    }

    private mutating func nextProbeTarget(rng: inout some RandomNumberGenerator) -> String? {
        if let hinted = hintedProbe {
            hintedProbe = nil
            if memberRecords[hinted]?.state.status.isLive == true { return hinted }
        }
        var checked = 0
        while checked <= probeOrder.count {
            if probeIndex >= probeOrder.count {
                // New round: drop forgotten members and reshuffle.
                probeOrder.removeAll { memberRecords[$0] == nil }
                probeOrder.shuffle(using: &rng)
                probeIndex = 0
                if probeOrder.isEmpty { return nil }
            }
            let candidate = probeOrder[probeIndex]
            probeIndex += 1
            checked += 1
            if let record = memberRecords[candidate], record.state.status.isLive {
                return candidate
            }
        }
        return nil
    }

    private mutating func sendIndirectProbes(_ current: inout Probe, rng: inout some RandomNumberGenerator) {
        current.indirectSent = true
        let target = current.target
        let helpers = randomMembers(configuration.indirectChecks, rng: &rng) { $0.status == .alive && $0.address != target }
        for helper in helpers {
            sendDatagram([.pingReq(sequence: current.sequence, target: target, source: address, wantsNack: true)], to: helper)
        }
        current.expectedNacks = helpers.count
    }

    private mutating func finishProbe(now: SWIMTime) {
        guard let finished = probe else { return }
        probe = nil
        if finished.acked {
            if finished.ackedDirectly { adjustLocalHealth(-1) }
            return
        }
        // Lifeguard: missing nacks hint that our own links are the problem; with
        // no helper to ask, the failed probe itself counts.
        // Duplicated nacks must not count as health.
        let missed = finished.expectedNacks > 0 ? max(0, finished.expectedNacks - finished.nacks) : 1
        adjustLocalHealth(missed)
        guard let record = memberRecords[finished.target], record.state.status.isLive else { return }
        applySuspect(address: finished.target, incarnation: record.state.incarnation, from: address, now: now)
    }

    private mutating func handleAck(sequence: UInt64, source: String, now: SWIMTime) {
        if var current = probe, current.sequence == sequence {
            if !current.acked {
                current.acked = true
                current.ackedDirectly = source == current.target
                probe = current
                // A stretched period ends once the probe is answered, as memberlist's does.
                nextProbeAt = min(nextProbeAt, max(now, current.startedAt + configuration.probeInterval))
            }
            return
        }
        if let relay = relays.removeValue(forKey: sequence) {
            sendDatagram([.ack(sequence: relay.originSequence, source: address)], to: relay.origin)
        }
    }

    private mutating func handlePingRequest(sequence: UInt64, target: String, origin: String, wantsNack: Bool, now: SWIMTime) {
        if target == address {
            sendDatagram([.ack(sequence: sequence, source: address)], to: origin)
            return
        }
        nextSequence &+= 1
        let deadline = now + configuration.probeTimeout
        let nackAt = wantsNack ? now + configuration.relayNackDelay : nil
        relays[nextSequence] = Relay(origin: origin, originSequence: sequence, deadline: deadline, nackAt: nackAt)
        nextRelayDeadline = min(nextRelayDeadline, nackAt ?? deadline)
        sendDatagram([.ping(sequence: nextSequence, target: target, source: address)], to: target)
    }

    private mutating func expireRelays(now: SWIMTime) {
        guard now >= nextRelayDeadline else { return }
        nextRelayDeadline = Self.never
        for sequence in relays.keys.sorted() {
            guard var relay = relays[sequence] else { continue }
            if let nackAt = relay.nackAt, nackAt <= now {
                relay.nackAt = nil
                relays[sequence] = relay
                sendDatagram([.nack(sequence: relay.originSequence, source: address)], to: relay.origin)
            }
            if relay.deadline <= now {
                relays.removeValue(forKey: sequence)
            } else {
                nextRelayDeadline = min(nextRelayDeadline, relay.nackAt ?? relay.deadline)
            }
        }
    }

    private mutating func adjustLocalHealth(_ delta: Int) {
        localHealthMultiplier = min(configuration.maxLocalHealthMultiplier, max(0, localHealthMultiplier + delta))
    }

    // MARK: - Dissemination

    private mutating func sendDatagram(_ messages: [SWIMMessage], to target: String) {
        var packet = SWIMPacket(messages)
        var used = 3  // version byte + message count varint (< 16384 messages)
        for message in messages {
            used += message.encodedSize
        }
        let updates = broadcasts.take(
            budget: configuration.maxPacketSize - used,
            maxCount: configuration.maxUpdatesPerPacket,
            limit: scaledSettings().retransmitLimit
        )
        for update in updates {
            packet.messages.append(.update(update))
        }
        output.append(.send(packet, to: target, transport: .datagram))
    }

    /// Whether a gossip round at `time` has anything to send: updates, or verdicts to notice. News that
    /// arrives after an idle stretch goes out on the next tick, as it would had the gossip timer kept running.
    private func gossipPending(at time: SWIMTime) -> Bool {
        !broadcasts.isEmpty || !suspected.isEmpty || time < recentlyDeadUntil
    }

    private mutating func gossip(now: SWIMTime, rng: inout some RandomNumberGenerator) {
        guard !broadcasts.isEmpty else { return }
        // Gossip to the recently dead too (memberlist does): a member declared dead a moment ago, e.g. across a
        // partition that just healed, hears it and refutes at once instead of waiting for a reconnect.
        let targets = randomMembers(configuration.gossipNodes, rng: &rng) { state in
            state.status.isLive || (state.status == .dead
                && memberRecords[state.address].map { now - $0.changedAt < configuration.gossipToTheDeadTime } == true)
        }
        for target in targets {
            if broadcasts.isEmpty { break }
            sendDatagram([], to: target)
        }
    }

    /// Tells members we hold suspect, or declared dead less than `gossipToTheDeadTime` ago, of their verdict,
    /// directly, once per probe interval while it lasts (at most `maxVerdictNotices` a round, picked at
    /// random). The piggybacked news ran out of retransmits while the link was down; without this, a member
    /// that heard nothing during a partition or a pause kept its incarnation after the heal, and the verdict
    /// stood until our next probe of it (each other member in turn, and a holder that just lost its link has
    /// its failing probes stretched by Local Health, up to 9 s each) or until the suspicion ran out and it
    /// was declared dead. A notice carries nothing else: piggybacking would spend the retransmits of real
    /// news on members that may well be unreachable.
    private mutating func noticeVerdicts(now: SWIMTime, rng: inout some RandomNumberGenerator) {
        guard !hasLeft else { return }
        var notices: [MemberUpdate] = []
        for address in suspected.sorted() {
            guard let record = memberRecords[address], record.state.status == .suspect else { continue }
            notices.append(.suspect(address: address, incarnation: record.state.incarnation, from: self.address))
        }
        for address in tombstones.keys.sorted() {
            guard let record = memberRecords[address], record.state.status == .dead,
                  now - record.changedAt < configuration.gossipToTheDeadTime else { continue }
            notices.append(.dead(address: address, incarnation: record.state.incarnation, from: self.address))
        }
        if notices.count > configuration.maxVerdictNotices {
            notices.shuffle(using: &rng)
            notices.removeLast(notices.count - configuration.maxVerdictNotices)
        }
        for notice in notices {
            output.append(.send(SWIMPacket([.update(notice)]), to: notice.address, transport: .datagram))
        }
    }

    private mutating func sendPushPull(to peer: String) {
        output.append(.send(SWIMPacket([.pushPull(isReply: false, source: address, members: localState())]), to: peer, transport: .stream))
    }

    /// Up to `count` distinct random members matching `predicate`.
    private func randomMembers(
        _ count: Int,
        rng: inout some RandomNumberGenerator,
        where predicate: (MemberState) -> Bool
    ) -> [String] {
        guard count > 0, !probeOrder.isEmpty else { return [] }
        if probeOrder.count <= 4 * count + 16 {
            var eligible = probeOrder.filter { memberRecords[$0].map { predicate($0.state) } ?? false }
            eligible.shuffle(using: &rng)
            return Array(eligible.prefix(count))
        }
        // Large view: sample instead of scanning everything.
        var chosen: [String] = []
        var attempts = 0
        while chosen.count < count, attempts < 8 * count + 32 {
            attempts += 1
            let candidate = probeOrder[Int.random(in: 0..<probeOrder.count, using: &rng)]
            guard !chosen.contains(candidate), let record = memberRecords[candidate], predicate(record.state) else { continue }
            chosen.append(candidate)
        }
        return chosen
    }

    // MARK: - Membership updates

    private mutating func merge(_ states: [MemberState], from: String, now: SWIMTime, rng: inout some RandomNumberGenerator) {
        for state in states {
            switch state.status {
            case .alive:
                applyAlive(address: state.address, incarnation: state.incarnation, metadata: state.metadata, now: now, rng: &rng)
            case .suspect, .dead:
                applySuspect(address: state.address, incarnation: state.incarnation, from: from, now: now)
            case .left:
                applyDead(address: state.address, incarnation: state.incarnation, from: from, left: true, now: now)
            }
        }
    }

    private mutating func apply(_ update: MemberUpdate, now: SWIMTime, rng: inout some RandomNumberGenerator) {
        switch update {
        case .alive(let address, let incarnation, let metadata):
            applyAlive(address: address, incarnation: incarnation, metadata: metadata, now: now, rng: &rng)
        case .suspect(let address, let incarnation, let from):
            applySuspect(address: address, incarnation: incarnation, from: from, now: now)
        case .dead(let address, let incarnation, let from):
            applyDead(address: address, incarnation: incarnation, from: from, left: false, now: now)
        case .left(let address, let incarnation):
            applyDead(address: address, incarnation: incarnation, from: address, left: true, now: now)
        }
    }

    private mutating func applyAlive(
        address: String,
        incarnation: UInt64,
        metadata: MemberMetadata,
        now: SWIMTime,
        rng: inout some RandomNumberGenerator
    ) {
        if address == self.address {
            // An alive about us that we did not send: an older life of ours, or stale metadata.
            if incarnation > self.incarnation || (incarnation == self.incarnation && metadata != self.metadata) {
                refute(observed: incarnation)
            }
            return
        }
        let state = MemberState(address: address, incarnation: incarnation, status: .alive, metadata: metadata)
        guard var record = memberRecords[address] else {
            let position = Int.random(in: 0...probeOrder.count, using: &rng)
            probeOrder.insert(address, at: position)
            if position < probeIndex { probeIndex += 1 }
            store(MemberRecord(state: state, changedAt: now, suspicion: nil), previous: nil)
            output.append(.event(.joined(state)))
            broadcasts.enqueue(.alive(address: address, incarnation: incarnation, metadata: metadata))
            return
        }
        let current = record.state
        let newer = incarnation > current.incarnation
        let newerMetadata = incarnation == current.incarnation && current.status == .alive
            && metadata.version > current.metadata.version
        guard newer || newerMetadata else { return }
        record.state = state
        record.suspicion = nil
        if current.status != .alive { record.changedAt = now }
        store(record, previous: current.status)
        if current.status != .alive {
            output.append(.event(.alive(state)))
        } else if metadata != current.metadata {
            output.append(.event(.metadataChanged(state)))
        }
        broadcasts.enqueue(.alive(address: address, incarnation: incarnation, metadata: metadata))
    }

    private mutating func applySuspect(address: String, incarnation: UInt64, from: String, now: SWIMTime) {
        if address == self.address {
            answerVerdict(incarnation: incarnation, from: from)
            return
        }
        guard var record = memberRecords[address], record.state.status.isLive,
              incarnation >= record.state.incarnation
        else { return }
        if record.state.status == .suspect, var suspicion = record.suspicion {
            record.state.incarnation = incarnation
            let confirmed = suspicion.confirm(from: from)
            record.suspicion = suspicion
            store(record, previous: .suspect)
            if confirmed {
                nextSuspicionDeadline = min(nextSuspicionDeadline, suspicion.deadline)
                // Re-gossip so that others count this confirmation too.
                broadcasts.enqueue(.suspect(address: address, incarnation: incarnation, from: from))
            }
            return
        }
        let settings = scaledSettings()
        let suspicion = Suspicion(
            startedAt: now,
            from: from,
            needed: settings.confirmationsNeeded,
            minimum: settings.suspicionMinimum,
            maximum: settings.suspicionMaximum
        )
        record.state.incarnation = incarnation
        record.state.status = .suspect
        record.changedAt = now
        record.suspicion = suspicion
        store(record, previous: .alive)
        nextSuspicionDeadline = min(nextSuspicionDeadline, suspicion.deadline)
        output.append(.event(.suspect(record.state)))
        broadcasts.enqueue(.suspect(address: address, incarnation: incarnation, from: from))
    }

    private mutating func applyDead(address: String, incarnation: UInt64, from: String, left: Bool, now: SWIMTime) {
        if address == self.address {
            answerVerdict(incarnation: incarnation, from: from)
            return
        }
        guard var record = memberRecords[address], incarnation >= record.state.incarnation else { return }
        let previous = record.state.status
        // Left is final; dead may still be upgraded to left (graceful news arriving late).
        guard previous != .left, previous != .dead || left else { return }
        record.state.incarnation = incarnation
        record.state.status = left ? .left : .dead
        record.changedAt = now
        record.suspicion = nil
        store(record, previous: previous)
        if left {
            output.append(.event(.left(record.state)))
            broadcasts.enqueue(.left(address: address, incarnation: incarnation))
        } else {
            output.append(.event(.dead(record.state)))
            broadcasts.enqueue(.dead(address: address, incarnation: incarnation, from: from))
        }
    }

    /// `from` holds us suspect or dead at `incarnation`. A current verdict is refuted; a stale one (we refuted
    /// it already, but our alive never reached `from`) is answered with our alive as it stands. Either answer
    /// also goes straight to `from`, so its verdict does not wait for gossip to find it.
    private mutating func answerVerdict(incarnation: UInt64, from: String) {
        guard !hasLeft else { return }
        if incarnation >= self.incarnation { refute(observed: incarnation) }
        if from != address {
            output.append(.send(SWIMPacket([.update(.alive(address: address, incarnation: self.incarnation, metadata: metadata))]),
                                to: from, transport: .datagram))
        }
    }

    /// Someone believes we are suspect, dead or an older self: outbid them.
    private mutating func refute(observed: UInt64) {
        // A forged maximal incarnation cannot be outbid; never trap on it.
        guard observed < .max, incarnation < .max else { return }
        incarnation = max(incarnation, observed) + 1
        adjustLocalHealth(1)
        broadcasts.enqueue(.alive(address: address, incarnation: incarnation, metadata: metadata))
    }

    private mutating func expireSuspicions(now: SWIMTime) {
        nextSuspicionDeadline = Self.never
        for suspect in suspected.sorted() {
            guard let record = memberRecords[suspect], let suspicion = record.suspicion else { continue }
            if suspicion.deadline <= now {
                applyDead(address: suspect, incarnation: record.state.incarnation, from: address, left: false, now: now)
            } else {
                nextSuspicionDeadline = min(nextSuspicionDeadline, suspicion.deadline)
            }
        }
    }

    private mutating func reapTombstones(now: SWIMTime) {
        nextReapAt = Self.never
        for tombstone in tombstones.keys.sorted() {
            guard let reapAt = tombstones[tombstone] else { continue }
            if reapAt <= now {
                tombstones.removeValue(forKey: tombstone)
                memberRecords.removeValue(forKey: tombstone)
                revision &+= 1
                broadcasts.remove(address: tombstone)
                if let index = probeOrder.firstIndex(of: tombstone) {
                    probeOrder.remove(at: index)
                    if index < probeIndex { probeIndex -= 1 }
                }
                output.append(.event(.reaped(address: tombstone)))
            } else {
                nextReapAt = min(nextReapAt, reapAt)
            }
        }
    }

    /// Single place that writes a record, keeping the derived indexes in step.
    private mutating func store(_ record: MemberRecord, previous: MemberStatus?) {
        let address = record.state.address
        let wasLive = previous?.isLive ?? false
        let isLive = record.state.status.isLive
        if wasLive != isLive { liveCount += isLive ? 1 : -1 }
        memberRecords[address] = record
        revision &+= 1
        if record.state.status == .dead {
            recentlyDeadUntil = max(recentlyDeadUntil, record.changedAt + configuration.gossipToTheDeadTime)
        }
        if record.suspicion != nil {
            suspected.insert(address)
        } else {
            suspected.remove(address)
        }
        if isLive {
            tombstones.removeValue(forKey: address)
        } else if tombstones[address] == nil || previous != record.state.status {
            let reapAt = record.changedAt + configuration.tombstoneTimeout
            tombstones[address] = reapAt
            nextReapAt = min(nextReapAt, reapAt)
        }
    }

    private mutating func scaledSettings() -> ScaledSettings {
        if scaled.memberCount != memberCount {
            scaled = ScaledSettings(configuration: configuration, memberCount: memberCount)
        }
        return scaled
    }

    private mutating func flush() -> [SWIMDirective] {
        output.append(.scheduleTick(at: nextDeadline))
        defer { output = [] }
        return output
    }

    private static func randomFraction(of duration: Duration, using rng: inout some RandomNumberGenerator) -> Duration {
        let nanos = duration.swimNanoseconds
        guard nanos > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0..<nanos, using: &rng))
    }
}

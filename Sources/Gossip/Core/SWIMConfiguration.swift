/// Tunables of the SWIM + Lifeguard core. Defaults follow HashiCorp memberlist's
/// LAN profile so that results can be compared with Serf.
public struct SWIMConfiguration: Sendable, Hashable {
    /// Time between the start of two consecutive probes (scaled by LHM + 1).
    public var probeInterval: Duration = .seconds(1)
    /// Time to wait for a direct ack before asking others (scaled by LHM + 1).
    public var probeTimeout: Duration = .milliseconds(500)
    /// Number of members asked to ping a silent target on our behalf.
    public var indirectChecks: Int = 3
    /// Minimum suspicion timeout = suspicionMultiplier × max(1, log10(n)) × probeInterval.
    public var suspicionMultiplier: Int = 4
    /// Initial (maximum) suspicion timeout = this × the minimum.
    public var suspicionMaxTimeoutMultiplier: Int = 6
    /// Retransmit limit of an update = retransmitMultiplier × ceil(log10(n + 1)).
    public var retransmitMultiplier: Int = 4
    /// Time between two rounds of pure gossip (updates sent to random members).
    public var gossipInterval: Duration = .milliseconds(200)
    /// Members contacted in each gossip round.
    public var gossipNodes: Int = 3
    /// Base time between full-state exchanges; scaled up with cluster size.
    public var pushPullInterval: Duration = .seconds(30)
    /// Time between full-state exchanges with a random dead (not left) member, which is how a healed
    /// partition finds the other side again. Serf waits 30 s; edge links flap, and a view that stays split
    /// after the link is back keeps Raft from trusting its voters, so we try every 5 s (one TCP exchange).
    public var reconnectInterval: Duration = .seconds(5)
    /// How long a member declared dead still receives gossip, so it can hear the verdict and refute it.
    public var gossipToTheDeadTime: Duration = .seconds(30)
    /// Most members told of their suspicion or recent death directly in one probe interval.
    public var maxVerdictNotices: Int = 8
    /// How long dead and left members are kept as tombstones.
    public var tombstoneTimeout: Duration = .seconds(3600)
    /// Upper bound of the Local Health Multiplier (Lifeguard).
    public var maxLocalHealthMultiplier: Int = 8
    /// Largest datagram the core builds.
    public var maxPacketSize: Int = 1400
    /// Most updates piggybacked on one datagram.
    public var maxUpdatesPerPacket: Int = 64

    public init() {}

    /// How long a member asked to ping a target on another's behalf waits for the target's ack before it
    /// sends the asker a nack (it keeps forwarding a later ack until `probeTimeout`). The nack must reach
    /// the asker before its protocol period ends, `probeInterval - probeTimeout` after the ping-req went
    /// out (500 ms in the LAN profile). Waiting the whole `probeTimeout` there, as memberlist does, landed
    /// every nack just after that end, so a healthy asker counted all of them missing and raised its Local
    /// Health Multiplier by `indirectChecks` at every real failure.
    public var relayNackDelay: Duration { probeTimeout * 4 / 5 }

    /// memberlist's LAN defaults (the same as `init()`).
    public static let lan = SWIMConfiguration()

    /// How many times an update is sent before it is dropped from the queue.
    public func retransmitLimit(memberCount: Int) -> Int {
        let scale = Int(swimLog10(Double(max(0, memberCount) + 1)).rounded(.up))
        return retransmitMultiplier * max(1, scale)
    }

    /// Bounds of the Lifeguard dynamic suspicion timeout for a cluster of `memberCount`.
    public func suspicionTimeoutBounds(memberCount: Int) -> (minimum: Duration, maximum: Duration) {
        let nodeScale = max(1.0, swimLog10(Double(max(1, memberCount))))
        let minimumNanos = Double(suspicionMultiplier) * nodeScale * Double(probeInterval.swimNanoseconds)
        let minimum = Int64(minimumNanos)
        return (.nanoseconds(minimum), .nanoseconds(minimum * Int64(suspicionMaxTimeoutMultiplier)))
    }

    /// Independent confirmations after which the suspicion timeout reaches its minimum.
    public func suspicionConfirmationsNeeded(memberCount: Int) -> Int {
        let k = suspicionMultiplier - 2
        // Small clusters cannot produce k confirmations, so do not wait for them.
        return memberCount - 2 < k ? 0 : max(0, k)
    }

    /// Suspicion timeout after `confirmations` independent confirmations: starts at the
    /// maximum and shrinks logarithmically to the minimum after k confirmations.
    public func suspicionTimeout(confirmations: Int, memberCount: Int) -> Duration {
        let (minimum, maximum) = suspicionTimeoutBounds(memberCount: memberCount)
        let k = suspicionConfirmationsNeeded(memberCount: memberCount)
        return Self.suspicionTimeout(confirmations: confirmations, k: k, minimum: minimum, maximum: maximum)
    }

    static func suspicionTimeout(confirmations: Int, k: Int, minimum: Duration, maximum: Duration) -> Duration {
        let minNanos = minimum.swimNanoseconds
        let maxNanos = maximum.swimNanoseconds
        guard k > 0 else { return minimum }
        let fraction = swimLog(Double(confirmations) + 1) / swimLog(Double(k) + 1)
        let raw = Double(maxNanos) - fraction * Double(maxNanos - minNanos)
        // Millisecond granularity, as memberlist, keeps timers coarse.
        let rounded = Int64((raw / 1e6).rounded(.down)) * 1_000_000
        return .nanoseconds(max(rounded, minNanos))
    }

    /// Push/pull interval grows with log2 of the cluster size beyond 32 members (memberlist).
    public func scaledPushPullInterval(memberCount: Int) -> Duration {
        let threshold = 32
        guard memberCount > threshold else { return pushPullInterval }
        let multiplier = Int((swimLog2(Double(memberCount)) - swimLog2(Double(threshold))).rounded(.up)) + 1
        return pushPullInterval * multiplier
    }
}

// Tiny math helpers so the core does not need Foundation.
func swimLog10(_ x: Double) -> Double { swimLog(x) / 2.302585092994046 }
func swimLog2(_ x: Double) -> Double { swimLog(x) / 0.6931471805599453 }

/// Natural logarithm by argument reduction and a series; accurate to ~1e-15,
/// which is ample for timeout scaling.
func swimLog(_ x: Double) -> Double {
    guard x > 0, x.isFinite else { return x == 0 ? -.infinity : .nan }
    // x = m × 2^e with m in [1, 2).
    let e = Double(x.exponent)
    let m = x.significand
    // ln(m) = 2 artanh((m - 1) / (m + 1)).
    let y = (m - 1) / (m + 1)
    let y2 = y * y
    var term = y
    var sum = 0.0
    var k = 1.0
    while k < 60 {
        sum += term / k
        term *= y2
        k += 2
    }
    return 2 * sum + e * 0.6931471805599453
}

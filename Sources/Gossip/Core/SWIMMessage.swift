/// A gossiped fact about one member, piggybacked on every datagram.
public enum MemberUpdate: Sendable, Hashable {
    case alive(address: String, incarnation: UInt64, metadata: MemberMetadata)
    /// `from` is the member that suspects; distinct `from`s confirm a suspicion.
    case suspect(address: String, incarnation: UInt64, from: String)
    case dead(address: String, incarnation: UInt64, from: String)
    case left(address: String, incarnation: UInt64)

    public var address: String {
        switch self {
        case .alive(let a, _, _), .suspect(let a, _, _), .dead(let a, _, _), .left(let a, _): a
        }
    }

    public var incarnation: UInt64 {
        switch self {
        case .alive(_, let i, _), .suspect(_, let i, _), .dead(_, let i, _), .left(_, let i): i
        }
    }
}

/// One protocol message. Several are packed into a `SWIMPacket`.
public enum SWIMMessage: Sendable, Hashable {
    /// Direct probe. `target` is the intended recipient, so a misrouted ping
    /// (e.g. an address reused after restart) is not acked.
    case ping(sequence: UInt64, target: String, source: String)
    /// Ask the recipient to probe `target` for us and forward the ack (or a nack).
    case pingReq(sequence: UInt64, target: String, source: String, wantsNack: Bool)
    case ack(sequence: UInt64, source: String)
    /// Lifeguard: the intermediary could not reach the target, which tells the
    /// requester that its own links work.
    case nack(sequence: UInt64, source: String)
    case update(MemberUpdate)
    /// Full-state exchange (anti-entropy); a request is answered with a reply.
    /// `source` is the sender's member address (the transport peer may differ,
    /// e.g. a TCP connection's ephemeral port).
    case pushPull(isReply: Bool, source: String, members: [MemberState])
}

/// How the shell should carry a packet.
public enum SWIMTransport: Sendable, Hashable {
    /// Unreliable, at most `maxPacketSize` bytes (UDP).
    case datagram
    /// Reliable and unbounded (TCP): used for push/pull full-state exchanges.
    case stream
}

/// A compound message: what travels in one datagram (or one stream frame).
public struct SWIMPacket: Sendable, Hashable {
    public var messages: [SWIMMessage]

    public init(_ messages: [SWIMMessage]) {
        self.messages = messages
    }

    /// Piggybacked member updates carried by this packet.
    public var updates: [MemberUpdate] {
        messages.compactMap { if case .update(let u) = $0 { u } else { nil } }
    }
}

import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Moves opaque Raft frames between peers over TCP. Raft itself tolerates loss, duplication and reordering,
/// so the transport keeps only what makes it fast and bounded: one long-lived connection per destination,
/// frames batched into few syscalls, a bounded queue per destination (a slow or dead follower costs a fixed
/// amount of memory; what does not fit is dropped and Raft retransmits), and reconnects with back-off.
///
/// Wire format: every frame is a 4-byte big-endian length and that many bytes. The first frame on a
/// connection is a hello: the magic `RAFT`, the frame version, and the sender's node id.
public final class RaftTransport: Sendable {
    public static let frameVersion: UInt8 = 1
    /// A snapshot chunk is the largest frame we send; anything bigger is a corrupt or hostile length.
    public static let maximumFrameLength = 16 << 20
    /// How long sent bytes may stay unacknowledged before the kernel drops the connection (TCP_USER_TIMEOUT).
    static let unacknowledgedTimeoutMilliseconds = 3000

    public struct Settings: Sendable {
        /// Frames queued for one destination before new ones are dropped.
        public var queueDepthPerPeer = 4096
        public var reconnectBackoff: ClosedRange<Duration> = .milliseconds(50) ... .seconds(2)
        public var connectTimeout: Duration = .seconds(1)
        public init() {}
    }

    public struct Metrics: Sendable, Equatable {
        public var framesSent = 0
        public var framesReceived = 0
        public var framesDroppedQueueFull = 0
        public var malformedConnections = 0
        public var connectFailures = 0
    }

    let localID: UInt64
    let group: any EventLoopGroup
    let settings: Settings
    let logger: Logger
    private let state = NIOLockedValueBox(State())

    private struct State {
        var links: [UInt64: Link] = [:]
        var nextGeneration: UInt64 = 0
        var metrics = Metrics()
        var closed = false
    }

    /// One destination. Frames wait here, bounded, until the connection's event loop writes them all at once.
    /// `generation` tells a stale callback (of a connection replaced or removed since) from a current one.
    private struct Link {
        var address: PeerAddress
        var generation: UInt64
        var frames: [[UInt8]] = []
        var channel: (any Channel)?
        var flushScheduled = false
        var backoff: Duration
        var retry: Scheduled<Void>?
    }

    /// Called with a peer's id when an established connection to it closes from its side: often the first sign
    /// that its process is gone, well before any failure detector's round reaches it.
    let connectionLost: @Sendable (UInt64) -> Void

    public init(localID: UInt64, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, settings: Settings = Settings(),
                logger: Logger, connectionLost: @escaping @Sendable (UInt64) -> Void = { _ in }) {
        self.localID = localID
        self.group = group
        self.settings = settings
        self.logger = logger
        self.connectionLost = connectionLost
    }

    public var metrics: Metrics { state.withLockedValue { $0.metrics } }

    // MARK: Inbound

    /// Accepts connections until cancelled, handing every inbound frame to `receive` with its sender's id.
    /// `receive` runs on the connection's event loop: it must return quickly (queue the frame and go).
    /// Calls `ready` with the bound port once listening (useful when binding port 0).
    public func serve(host: String, port: Int, ready: @Sendable (Int) -> Void = { _ in },
                      receive: @escaping @Sendable (_ from: UInt64, _ frame: [UInt8]) -> Void) async throws {
        let inbound = InboundConnections()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: Self.maximumFrameLength)))
                    try channel.pipeline.syncOperations.addHandler(InboundFrameHandler(transport: self, receive: receive))
                    inbound.add(channel)
                    channel.closeFuture.whenComplete { _ in inbound.remove(channel) }
                }
            }
            .bind(host: host, port: port)
            .get()
        ready(server.localAddress?.port ?? port)
        defer { inbound.closeAll() }
        try await withTaskCancellationHandler {
            try await server.closeFuture.get()
        } onCancel: {
            server.close(promise: nil)
        }
    }

    fileprivate func countReceived() { state.withLockedValue { $0.metrics.framesReceived += 1 } }

    fileprivate func countMalformed(_ error: any Error) {
        state.withLockedValue { $0.metrics.malformedConnections += 1 }
        logger.warning("dropped a Raft connection", metadata: ["reason": "\(error)"])
    }

    // MARK: Outbound

    /// Queues a frame for `peer`. Never blocks: a full queue drops the frame, which Raft will resend.
    /// Frames queued together leave in one write on the connection's event loop.
    public func send(_ frame: [UInt8], to peer: UInt64, at address: PeerAddress) {
        var connect: (generation: UInt64, replaced: Link?)?
        var flush: (channel: any Channel, generation: UInt64)?
        let dropped: Bool = state.withLockedValue { state in
            guard !state.closed else { return true }
            // Taken out of the table while changed, so appending to its queue never copies the queue.
            var existing = state.links.removeValue(forKey: peer)
            var link: Link
            if let known = existing?.address, known == address, let taken = existing.take() {
                link = taken
            } else {
                state.nextGeneration += 1
                connect = (state.nextGeneration, existing)
                link = Link(address: address, generation: state.nextGeneration, backoff: settings.reconnectBackoff.lowerBound)
            }
            defer { state.links[peer] = link }
            guard link.frames.count < settings.queueDepthPerPeer else {
                state.metrics.framesDroppedQueueFull += 1
                return true
            }
            link.frames.append(frame)
            if let channel = link.channel, !link.flushScheduled {
                link.flushScheduled = true
                flush = (channel, link.generation)
            }
            return false
        }
        if let connect {
            if let old = connect.replaced { Self.tearDown(old) }
            self.connect(peer, generation: connect.generation, address: address)
        }
        if let flush {
            flush.channel.eventLoop.execute { self.flush(peer, generation: flush.generation) }
        }
        if dropped { logger.trace("dropped a Raft frame", metadata: ["peer": "\(peer)"]) }
    }

    /// Forgets a peer that left the configuration: closes its connection and drops its queue.
    public func removePeer(_ peer: UInt64) {
        let link = state.withLockedValue { $0.links.removeValue(forKey: peer) }
        if let link { Self.tearDown(link) }
    }

    public func close() {
        let links = state.withLockedValue { state in
            state.closed = true
            defer { state.links = [:] }
            return Array(state.links.values)
        }
        for link in links { Self.tearDown(link) }
    }

    private static func tearDown(_ link: Link) {
        link.retry?.cancel()
        link.channel?.close(promise: nil)
    }

    private func connect(_ peer: UInt64, generation: UInt64, address: PeerAddress) {
        ClientBootstrap(group: group)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            // Frames queued while a cable is cut would otherwise wait on TCP's doubling retransmit timer (tens of
            // seconds after a long cut); give up on the connection instead and reconnect with our own back-off.
            .channelOption(ChannelOptions.socket(SocketOptionLevel(IPPROTO_TCP), SocketOptionName(TCP_USER_TIMEOUT)),
                           value: SocketOptionValue(Self.unacknowledgedTimeoutMilliseconds))
            .connectTimeout(TimeAmount(settings.connectTimeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(OutboundLinkHandler(transport: self, peer: peer, generation: generation))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { result in
                switch result {
                case .success(let channel): self.connected(peer, generation: generation, channel: channel)
                case .failure(let error): self.connectFailed(peer, generation: generation, error: error)
                }
            }
    }

    private func connected(_ peer: UInt64, generation: UInt64, channel: any Channel) {
        var hello = Self.encodeHello(localID)
        var framed = channel.allocator.buffer(capacity: 4 + hello.readableBytes)
        framed.writeInteger(UInt32(hello.readableBytes))
        framed.writeBuffer(&hello)
        let current: Bool = state.withLockedValue { state in
            guard var link = state.links[peer], link.generation == generation else { return false }
            link.channel = channel
            link.backoff = settings.reconnectBackoff.lowerBound
            link.flushScheduled = true
            state.links[peer] = link
            return true
        }
        guard current else {
            channel.close(promise: nil)
            return
        }
        channel.writeAndFlush(framed, promise: nil)
        channel.eventLoop.execute { self.flush(peer, generation: generation) }
        // Closed before we recorded it: its handler's notice was ignored, so act on it here.
        if !channel.isActive { connectionClosed(peer, generation: generation, channel: channel) }
    }

    private func connectFailed(_ peer: UInt64, generation: UInt64, error: any Error) {
        let eventLoop = group.next()
        let scheduled: Bool = state.withLockedValue { state in
            guard var link = state.links[peer], link.generation == generation else { return false }
            state.metrics.connectFailures += 1
            let backoff = link.backoff
            link.backoff = min(backoff * 2, settings.reconnectBackoff.upperBound)
            link.channel = nil
            let address = link.address
            link.retry = eventLoop.scheduleTask(in: TimeAmount(backoff)) {
                self.connect(peer, generation: generation, address: address)
            }
            state.links[peer] = link
            logger.debug("Raft connection failed; retrying", metadata: [
                "peer": "\(peer)", "address": "\(link.address)", "error": "\(error)", "backoff": "\(backoff)"])
            return true
        }
        _ = scheduled
    }

    /// The connection closed: connect again at once (a failure then backs off).
    fileprivate func connectionClosed(_ peer: UInt64, generation: UInt64, channel: any Channel) {
        let address: PeerAddress? = state.withLockedValue { state in
            guard var link = state.links[peer], link.generation == generation, link.channel === channel else { return nil }
            link.channel = nil
            link.flushScheduled = false
            state.links[peer] = link
            return link.address
        }
        guard let address else { return }
        logger.debug("Raft connection closed; reconnecting", metadata: ["peer": "\(peer)"])
        connectionLost(peer)
        connect(peer, generation: generation, address: address)
    }

    /// On the connection's event loop: writes everything queued as one buffer, unless the socket is full
    /// (then the frames wait, bounded, until it drains).
    fileprivate func flush(_ peer: UInt64, generation: UInt64) {
        let taken: (channel: any Channel, frames: [[UInt8]])? = state.withLockedValue { state in
            guard var link = state.links[peer], link.generation == generation, let channel = link.channel else { return nil }
            link.flushScheduled = false
            guard channel.isWritable, !link.frames.isEmpty else {
                state.links[peer] = link
                return nil
            }
            let frames = link.frames
            link.frames = []
            state.links[peer] = link
            state.metrics.framesSent += frames.count
            return (channel, frames)
        }
        guard let taken else { return }
        var buffer = taken.channel.allocator.buffer(capacity: taken.frames.reduce(0) { $0 + 4 + $1.count })
        for frame in taken.frames {
            buffer.writeInteger(UInt32(frame.count))
            buffer.writeBytes(frame)
        }
        taken.channel.writeAndFlush(buffer, promise: nil)
    }

    static func encodeHello(_ id: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes(Array("RAFT".utf8))
        buffer.writeInteger(frameVersion)
        buffer.writeInteger(id)
        return buffer
    }

    static func decodeHello(_ buffer: inout ByteBuffer) -> UInt64? {
        guard buffer.readableBytes == 13, buffer.readBytes(length: 4) == Array("RAFT".utf8),
              buffer.readInteger(as: UInt8.self) == frameVersion else { return nil }
        return buffer.readInteger(as: UInt64.self)
    }
}

/// Reads a peer's frames on its event loop: the hello first, then every frame straight to `receive`.
final class InboundFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let transport: RaftTransport
    let receive: @Sendable (UInt64, [UInt8]) -> Void
    var sender: UInt64?
    var failed = false

    init(transport: RaftTransport, receive: @escaping @Sendable (UInt64, [UInt8]) -> Void) {
        self.transport = transport
        self.receive = receive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var frame = Self.unwrapInboundIn(data)
        guard let from = sender else {
            guard let hello = RaftTransport.decodeHello(&frame) else {
                fail(context: context, TransportError.malformedHello)
                return
            }
            sender = hello
            return
        }
        transport.countReceived()
        receive(from, frame.readBytes(length: frame.readableBytes) ?? [])
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is TransportError || error is ByteToMessageDecoderError {
            fail(context: context, error)
        } else {
            context.close(promise: nil)
        }
    }

    func fail(context: ChannelHandlerContext, _ error: any Error) {
        guard !failed else { return }
        failed = true
        transport.countMalformed(error)
        context.close(promise: nil)
    }
}

/// Watches an outbound connection: writes queued while the socket was full go once it drains; a closed
/// connection is replaced. Peers never write back on it, so anything read is ignored.
final class OutboundLinkHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let transport: RaftTransport
    let peer: UInt64
    let generation: UInt64

    init(transport: RaftTransport, peer: UInt64, generation: UInt64) {
        self.transport = transport
        self.peer = peer
        self.generation = generation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { transport.flush(peer, generation: generation) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        transport.connectionClosed(peer, generation: generation, channel: context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The accepted connections still open, so stopping the server closes them too.
final class InboundConnections: Sendable {
    private let channels = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel) { channels.withLockedValue { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { _ = channels.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) } }

    func closeAll() {
        let open = channels.withLockedValue { channels in
            defer { channels = [:] }
            return Array(channels.values)
        }
        for channel in open { channel.close(promise: nil) }
    }
}

enum TransportError: Error {
    case malformedHello
    case frameTooLong(Int)
}

/// Splits a byte stream into length-prefixed frames, refusing lengths beyond the limit instead of buffering them.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let maximumLength: Int

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= maximumLength else { throw TransportError.frameTooLong(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!)) // justified: length checked above
        return .continue
    }
}

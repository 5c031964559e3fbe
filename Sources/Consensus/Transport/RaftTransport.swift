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
        var outbound: [UInt64: Outbound] = [:]
        var metrics = Metrics()
        var closed = false
    }

    private struct Outbound {
        var address: PeerAddress
        var queue: FrameQueue
        var task: Task<Void, Never>
    }

    public init(localID: UInt64, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, settings: Settings = Settings(), logger: Logger) {
        self.localID = localID
        self.group = group
        self.settings = settings
        self.logger = logger
    }

    public var metrics: Metrics { state.withLockedValue { $0.metrics } }

    /// Accepts connections until cancelled, handing every inbound frame to `receive` with its sender's id.
    /// Calls `ready` with the bound port once listening (useful when binding port 0).
    public func serve(host: String, port: Int, ready: @Sendable (Int) -> Void = { _ in },
                      receive: @escaping @Sendable (_ from: UInt64, _ frame: [UInt8]) async -> Void) async throws {
        // Each accepted connection is handed to its own task right in the child initializer, never through the
        // server's async sequence: a child left in that sequence when the server stops would be dropped without
        // being closed, which NIO treats as a programming error and traps on.
        let inbound = InboundConnections()
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = try Self.configureFraming(channel)
                    inbound.add(channel)
                    Task {
                        await self.handleInbound(connection, receive: receive)
                        inbound.remove(channel)
                    }
                }
            }
        ready(server.channel.localAddress?.port ?? port)
        defer { inbound.closeAll() }
        try await server.executeThenClose { accepted in
            for try await _ in accepted {}
        }
    }

    private func handleInbound(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>,
                               receive: @Sendable (_ from: UInt64, _ frame: [UInt8]) async -> Void) async {
        do {
            try await connection.executeThenClose { inbound, _ in
                var sender: UInt64?
                for try await var frame in inbound {
                    guard let from = sender else {
                        guard let hello = Self.decodeHello(&frame) else {
                            throw TransportError.malformedHello
                        }
                        sender = hello
                        continue
                    }
                    state.withLockedValue { $0.metrics.framesReceived += 1 }
                    await receive(from, frame.readBytes(length: frame.readableBytes) ?? [])
                }
            }
        } catch let error as TransportError {
            state.withLockedValue { $0.metrics.malformedConnections += 1 }
            logger.warning("dropped a Raft connection", metadata: ["reason": "\(error)"])
        } catch {
            logger.debug("Raft connection closed", metadata: ["reason": "\(error)"])
        }
    }

    /// Queues a frame for `peer`. Never blocks: a full queue drops the frame, which Raft will resend.
    public func send(_ frame: [UInt8], to peer: UInt64, at address: PeerAddress) {
        let dropped: Bool = state.withLockedValue { state in
            guard !state.closed else { return true }
            let outbound: Outbound
            if let existing = state.outbound[peer], existing.address == address {
                outbound = existing
            } else {
                state.outbound[peer]?.queue.finish()
                state.outbound[peer]?.task.cancel()
                let queue = FrameQueue(capacity: settings.queueDepthPerPeer)
                let task = Task { await self.runOutbound(to: peer, address: address, queue: queue) }
                outbound = Outbound(address: address, queue: queue, task: task)
                state.outbound[peer] = outbound
            }
            guard outbound.queue.push(frame) else {
                state.metrics.framesDroppedQueueFull += 1
                return true
            }
            return false
        }
        if dropped { logger.trace("dropped a Raft frame", metadata: ["peer": "\(peer)"]) }
    }

    /// Forgets a peer that left the configuration: closes its connection and drops its queue.
    public func removePeer(_ peer: UInt64) {
        state.withLockedValue { state in
            state.outbound[peer]?.queue.finish()
            state.outbound[peer]?.task.cancel()
            state.outbound[peer] = nil
        }
    }

    public func close() {
        let outbound = state.withLockedValue { state in
            state.closed = true
            defer { state.outbound = [:] }
            return Array(state.outbound.values)
        }
        for peer in outbound {
            peer.queue.finish()
            peer.task.cancel()
        }
    }

    private func runOutbound(to peer: UInt64, address: PeerAddress, queue: FrameQueue) async {
        // A batch survives a failed connection and is sent again on the next one; Raft ignores duplicates.
        var batch: [[UInt8]] = []
        var backoff = settings.reconnectBackoff.lowerBound
        while !Task.isCancelled {
            do {
                let channel = try await connect(to: address)
                backoff = settings.reconnectBackoff.lowerBound
                try await channel.executeThenClose { _, outbound in
                    try await outbound.write(Self.encodeHello(localID))
                    while true {
                        if batch.isEmpty {
                            guard let next = await queue.takeAll() else { return }
                            batch = next
                        }
                        // One write of everything queued: one flush, few syscalls, however many frames.
                        try await outbound.write(contentsOf: batch.map { ByteBuffer(bytes: $0) })
                        let count = batch.count
                        state.withLockedValue { $0.metrics.framesSent += count }
                        batch = []
                    }
                }
                return // the queue finished: the peer was removed or the transport closed
            } catch {
                state.withLockedValue { $0.metrics.connectFailures += 1 }
                logger.debug("Raft connection failed; retrying", metadata: ["peer": "\(peer)", "address": "\(address)", "error": "\(error)", "backoff": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, settings.reconnectBackoff.upperBound)
            }
        }
    }

    private func connect(to address: PeerAddress) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(TimeAmount(settings.connectTimeout))
            .connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture { try Self.configureFraming(channel) }
            }
    }

    private static func configureFraming(_ channel: any Channel) throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maximumLength: maximumFrameLength)))
        try channel.pipeline.syncOperations.addHandler(FrameEncoder())
        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
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

/// A bounded queue of frames for one destination; the writer takes everything queued at once.
final class FrameQueue: Sendable {
    private struct State {
        var frames: [[UInt8]] = []
        var waiter: CheckedContinuation<[[UInt8]]?, Never>?
        var finished = false
    }
    private let state = NIOLockedValueBox(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// False when the frame was dropped: the queue is full or finished.
    func push(_ frame: [UInt8]) -> Bool {
        let (accepted, waiter): (Bool, CheckedContinuation<[[UInt8]]?, Never>?) = state.withLockedValue { state in
            guard !state.finished else { return (false, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            guard state.frames.count < capacity else { return (false, nil) }
            state.frames.append(frame)
            return (true, nil)
        }
        waiter?.resume(returning: [frame])
        return accepted
    }

    /// Everything queued, waiting while empty; nil once finished.
    func takeAll() async -> [[UInt8]]? {
        await withCheckedContinuation { continuation in
            let answer: [[UInt8]]?? = state.withLockedValue { state in
                if !state.frames.isEmpty {
                    defer { state.frames = [] }
                    return .some(state.frames)
                }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return .none
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    func finish() {
        let waiter = state.withLockedValue { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
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

/// Writes the length and the frame as one buffer, so a frame never costs two small TCP segments (Nagle).
final class FrameEncoder: ChannelOutboundHandler, Sendable {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = Self.unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 4 + frame.readableBytes)
        buffer.writeInteger(UInt32(frame.readableBytes))
        buffer.writeImmutableBuffer(frame)
        context.write(Self.wrapOutboundOut(buffer), promise: promise)
    }
}

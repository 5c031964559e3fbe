#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Sodium

/// The gossip shell: runs one `SWIMInstance` over real sockets. Datagrams (probes, acks, piggybacked
/// updates) go over UDP; full-state push/pull goes over TCP, one sealed packet per connection. Everything on
/// the wire is sealed under the keyring; what does not open or decode is dropped and counted.
///
/// One task owns the instance; sockets and callers talk to it through a mailbox, so the core stays a plain
/// value with no locks and sees inputs one at a time, as in the simulator. That task runs on the UDP
/// channel's event loop, where datagrams arrive and its timer fires: a datagram or a timer wakes one thread,
/// with no hop to the concurrency pool and back (an idle peer's CPU is mostly such wake-ups).
public final class GossipNode: Sendable {
    public struct Settings: Sendable {
        public var bindHost: String
        public var port: Int
        /// How this member is known to others ("host:port"); defaults to the bind address.
        public var advertisedAddress: String?
        public var swim: SWIMConfiguration = .lan
        /// Largest push/pull state accepted over TCP.
        public var maximumStreamBytes = 8 << 20
        public var streamTimeout: Duration = .seconds(5)

        public init(bindHost: String, port: Int) {
            self.bindHost = bindHost
            self.port = port
        }
    }

    /// Counters an operator (and a test) can read; exported as metrics by the peer.
    public struct Counters: Sendable, Equatable {
        public var packetsReceived = 0
        public var packetsSent = 0
        public var droppedUnauthenticated = 0
        public var droppedMalformed = 0
        public var streamsReceived = 0
        public var streamFailures = 0
        /// Datagrams the kernel refused (no route, a firewall's EPERM, a full buffer): dropped, like a lost packet.
        public var datagramSendFailures = 0
    }

    enum Input: Sendable {
        case packet([UInt8], from: String, viaStream: Bool)
        case join([String])
        case updateMetadata([String: String])
        case probeSoon(String)
        case leave(CheckedContinuation<Void, Never>)
        case keyring(@Sendable (inout GossipKeyring) throws -> Void, CheckedContinuation<Result<Void, any Error>, Never>)
    }

    let settings: Settings
    public let address: String
    let logger: Logger
    let group: any EventLoopGroup
    let mailbox = Mailbox<Input>()
    private let shared: NIOLockedValueBox<Shared>
    private let clockOrigin = ContinuousClock.now
    private let persistIncarnation: @Sendable (UInt64) -> Void

    struct Shared: Sendable {
        var keyring: GossipKeyring
        var members: [MemberState] = []
        var counters = Counters()
        var subscribers: [Int: AsyncStream<MembershipEvent>.Continuation] = [:]
        var nextSubscriber = 0
        var localHealth = 0
    }

    /// - Parameters:
    ///   - incarnation: start above the previous life's incarnation so a restart is not mistaken for old news.
    ///   - persistIncarnation: called whenever our incarnation changes, so the next life can start above it.
    public init(settings: Settings, keyring: GossipKeyring, metadata: [String: String], incarnation: UInt64,
                persistIncarnation: @escaping @Sendable (UInt64) -> Void = { _ in },
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.settings = settings
        self.address = settings.advertisedAddress ?? Self.formatAddress(host: settings.bindHost, port: settings.port)
        self.logger = logger
        self.group = group
        self.persistIncarnation = persistIncarnation
        self.shared = NIOLockedValueBox(Shared(keyring: keyring))
        self.initialMetadata = metadata
        self.initialIncarnation = incarnation
    }

    private let initialMetadata: [String: String]
    private let initialIncarnation: UInt64

    // MARK: - What the rest of the peer uses

    /// Everyone we know of, ourselves first, tombstones included.
    public var members: [MemberState] { shared.withLockedValue { $0.members } }
    public var counters: Counters { shared.withLockedValue { $0.counters } }
    public var keyring: GossipKeyring { shared.withLockedValue { $0.keyring } }
    public var localHealthMultiplier: Int { shared.withLockedValue { $0.localHealth } }

    /// Membership changes from now on, in the order the core decided them.
    public func events() -> AsyncStream<MembershipEvent> {
        let (stream, continuation) = AsyncStream<MembershipEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id = shared.withLockedValue { shared in
            defer { shared.nextSubscriber += 1 }
            shared.subscribers[shared.nextSubscriber] = continuation
            return shared.nextSubscriber
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.shared.withLockedValue { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    public func join(_ seeds: [String]) { mailbox.push(.join(seeds)) }

    public func updateMetadata(_ entries: [String: String]) { mailbox.push(.updateMetadata(entries)) }

    /// Probes `member` (its gossip address) now or in the next protocol period, out of turn (`SWIMInstance.probeSoon`).
    public func probeSoon(_ member: String) { mailbox.push(.probeSoon(member)) }

    /// Changes the keyring inside the gossip loop, so no packet is sealed or opened half-way through a change.
    public func changeKeyring(_ change: @escaping @Sendable (inout GossipKeyring) throws -> Void) async throws {
        let result = await withCheckedContinuation { mailbox.push(.keyring(change, $0)) }
        try result.get()
    }

    /// Graceful leave: gossips `left` and waits (bounded) until the news has been sent, so others do not
    /// report a failure. `run()` returns afterwards.
    public func leave() async {
        await withCheckedContinuation { mailbox.push(.leave($0)) }
    }

    // MARK: - The loop

    /// Binds UDP and TCP on the gossip port and runs until `leave()` finishes or the task is cancelled.
    public func run() async throws {
        // Datagrams go out through a socket of our own with sendto(2), never through NIO: NIO closes a
        // datagram channel on any send error but EMSGSIZE and EHOSTUNREACH, so one datagram refused by a
        // firewall (EPERM) or sent while a flapping link had no route (ENETUNREACH) left gossip deaf for good,
        // the member declared dead by everyone while it ran on. A refused datagram is a lost packet, which
        // SWIM copes with. The sending port is ephemeral: replies go to the `source` inside each message.
        let sendSocket = try Self.bindDatagramSocket(host: settings.bindHost, port: 0)
        defer { close(sendSocket) }
        let udp = try await DatagramBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramReader(mailbox: self.mailbox))
                }
            }
            .bind(host: settings.bindHost, port: settings.port).get()
        do {
            // The TCP channel is handed to `executeThenClose` right after it is bound, with no suspension point in
            // between: a bound async channel dropped unconsumed (say, because the peer is shutting down) is a
            // programming error that NIO traps on.
            let tcp = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: settings.bindHost, port: settings.port) { channel in
                    // Handed to its own task at once, for the same reason; each lives at most `streamTimeout`.
                    channel.eventLoop.makeCompletedFuture {
                        let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        Task { await self.receiveStream(connection) }
                    }
                }
            try await tcp.executeThenClose { accepted in
                logger.info("gossip listening", metadata: ["address": "\(address)", "udp": "\(settings.bindHost):\(settings.port)"])
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask {
                        for try await _ in accepted {}
                    }
                    // Cancellation reaches the loop through the mailbox, registered once here: a cancellation
                    // handler around every wait would run its operation off the loop's executor, and each
                    // wake-up would then hop to the global pool and back.
                    try await withTaskCancellationHandler {
                        try await self.loop(datagramSocket: sendSocket, on: LoopExecutor(eventLoop: udp.eventLoop))
                    } onCancel: {
                        self.mailbox.cancel()
                    }
                    tasks.cancelAll()
                }
            }
        } catch {
            try? await udp.close()
            throw error
        }
        try? await udp.close()
    }

    /// Runs on `executor`'s event loop (the UDP channel's): mailbox wake-ups and timers stay on that thread.
    private func loop(datagramSocket: CInt, on executor: isolated LoopExecutor) async throws {
        var rng = SystemRandomNumberGenerator()
        var instance = SWIMInstance(address: address, configuration: settings.swim, metadata: initialMetadata,
                                    incarnation: initialIncarnation, now: now(), rng: &rng)
        var resolved: [String: SocketAddress] = [:]
        var leaving: CheckedContinuation<Void, Never>?
        var leaveDeadline = SWIMTime.zero
        var lastIncarnation = instance.incarnation
        let timerLoop = executor.eventLoop
        persistIncarnation(lastIncarnation)
        publish(instance)
        var published = (revision: instance.revision, health: instance.localHealthMultiplier)

        while !Task.isCancelled {
            var wakeAt = instance.nextDeadline
            if leaving != nil { wakeAt = min(wakeAt, leaveDeadline) }
            let inputs = await mailbox.take(until: clockOrigin + .nanoseconds(wakeAt.nanoseconds), timerLoop: timerLoop, isolation: executor)
            var directives: [SWIMDirective] = []
            for input in inputs {
                switch input {
                case .packet(let bytes, let from, let viaStream):
                    guard let packet = open(bytes, viaStream: viaStream) else { continue }
                    directives += instance.receive(packet.packet, from: packet.sender ?? from, now: now(), rng: &rng)
                case .join(let seeds):
                    directives += instance.join(seeds: seeds, now: now())
                case .updateMetadata(let entries):
                    directives += instance.updateMetadata(entries, now: now())
                case .probeSoon(let member):
                    directives += instance.probeSoon(member, now: now())
                case .leave(let continuation):
                    directives += instance.leave(now: now(), rng: &rng)
                    leaving = continuation
                    // Enough protocol periods for the retransmit limit to run out; never hang a shutdown.
                    leaveDeadline = now() + settings.swim.gossipInterval * 10
                case .keyring(let change, let continuation):
                    let result = shared.withLockedValue { shared in Result { try change(&shared.keyring) } }
                    continuation.resume(returning: result)
                }
            }
            directives += instance.tick(now: now(), rng: &rng)
            var events: [MembershipEvent] = []
            for directive in directives {
                switch directive {
                case .send(let packet, let destination, let transport):
                    send(packet, to: destination, transport: transport, datagramSocket: datagramSocket, resolved: &resolved)
                case .event(let event):
                    log(event)
                    events.append(event)
                case .scheduleTick:
                    break // the loop always wakes at `instance.nextDeadline`
                }
            }
            if instance.incarnation != lastIncarnation {
                lastIncarnation = instance.incarnation
                persistIncarnation(lastIncarnation)
            }
            if published != (instance.revision, instance.localHealthMultiplier) {
                published = (instance.revision, instance.localHealthMultiplier)
                publish(instance)
            }
            // After the list is published: a subscriber that reads `members` on an event sees the change.
            if !events.isEmpty {
                let subscribers = shared.withLockedValue { Array($0.subscribers.values) }
                for event in events { for subscriber in subscribers { subscriber.yield(event) } }
            }
            // Done leaving once the news is out, or nobody is left to hear it.
            if let continuation = leaving, !instance.hasPendingBroadcasts || instance.memberCount <= 1 || now() >= leaveDeadline {
                continuation.resume()
                logger.info("left the cluster", metadata: ["address": "\(address)"])
                return
            }
        }
    }

    private func now() -> SWIMTime {
        SWIMTime(nanoseconds: (ContinuousClock.now - clockOrigin).swimNanoseconds)
    }

    private func publish(_ instance: SWIMInstance) {
        var states = [instance.member(address)].compactMap { $0 }
        states += instance.members.sorted { $0.address < $1.address }
        shared.withLockedValue {
            $0.members = states
            $0.localHealth = instance.localHealthMultiplier
        }
    }

    private func log(_ event: MembershipEvent) {
        switch event {
        case .joined(let s): logger.info("member joined", metadata: ["member": "\(s.address)", "name": "\(s.metadata.entries["name"] ?? "")"])
        case .alive(let s): logger.info("member alive again", metadata: ["member": "\(s.address)", "incarnation": "\(s.incarnation)"])
        case .suspect(let s): logger.notice("member suspected", metadata: ["member": "\(s.address)", "incarnation": "\(s.incarnation)"])
        case .dead(let s): logger.warning("member declared dead", metadata: ["member": "\(s.address)", "incarnation": "\(s.incarnation)"])
        case .left(let s): logger.info("member left", metadata: ["member": "\(s.address)"])
        case .metadataChanged(let s): logger.debug("member metadata changed", metadata: ["member": "\(s.address)"])
        case .reaped(let address): logger.debug("member forgotten", metadata: ["member": "\(address)"])
        }
    }

    // MARK: - Wire

    /// A stream carries the sender's gossip address in front of the packet: the TCP source port is ephemeral,
    /// and a push/pull reply must reach the sender's listener.
    private func open(_ bytes: [UInt8], viaStream: Bool) -> (packet: SWIMPacket, sender: String?)? {
        let keyring = shared.withLockedValue { $0.keyring }
        guard case .success(let plaintext) = keyring.open(bytes) else {
            shared.withLockedValue { $0.counters.droppedUnauthenticated += 1 }
            logger.debug("dropped a gossip packet that no key authenticates")
            return nil
        }
        var body = plaintext[...]
        var sender: String?
        if viaStream {
            guard body.count >= 2 else { return dropMalformed() }
            let length = Int(body[body.startIndex]) << 8 | Int(body[body.startIndex + 1])
            guard body.count >= 2 + length else { return dropMalformed() }
            sender = String(decoding: body.dropFirst(2).prefix(length), as: UTF8.self)
            body = body.dropFirst(2 + length)
        }
        guard let packet = try? SWIMPacket(decoding: Array(body)) else { return dropMalformed() }
        shared.withLockedValue { $0.counters.packetsReceived += 1 }
        return (packet, sender)
    }

    private func dropMalformed() -> (packet: SWIMPacket, sender: String?)? {
        shared.withLockedValue { $0.counters.droppedMalformed += 1 }
        logger.debug("dropped a malformed gossip packet")
        return nil
    }

    private func send(_ packet: SWIMPacket, to destination: String, transport: SWIMTransport,
                      datagramSocket: CInt, resolved: inout [String: SocketAddress]) {
        guard let remote = resolved[destination] ?? Self.resolve(destination) else {
            logger.debug("cannot resolve gossip address", metadata: ["member": "\(destination)"])
            return
        }
        resolved[destination] = remote
        var plaintext = packet.encode()
        if transport == .stream {
            let sender = Array(address.utf8)
            plaintext = [UInt8(sender.count >> 8), UInt8(sender.count & 0xFF)] + sender + plaintext
        }
        let sealed: [UInt8]
        do {
            sealed = try shared.withLockedValue { try $0.keyring.seal(plaintext) }
        } catch {
            logger.error("cannot seal a gossip packet", metadata: ["error": "\(error)"])
            return
        }
        shared.withLockedValue { $0.counters.packetsSent += 1 }
        switch transport {
        case .datagram:
            let sent = remote.withSockAddr { address, length in
                sealed.withUnsafeBytes { bytes in
                    sendto(datagramSocket, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), address, socklen_t(length))
                }
            }
            if sent < 0 {
                let code = errno
                shared.withLockedValue { $0.counters.datagramSendFailures += 1 }
                logger.debug("gossip datagram not sent", metadata: ["to": "\(remote)", "errno": "\(code)"])
            }
        case .stream:
            // Push/pull is rare and may be large: send it off the loop so a slow peer cannot stall probing.
            Task { await self.sendStream(sealed, to: remote) }
        }
    }

    private func sendStream(_ sealed: [UInt8], to remote: SocketAddress) async {
        do {
            try await withTimeout(settings.streamTimeout) {
                let channel = try await ClientBootstrap(group: self.group)
                    .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                    .connectTimeout(TimeAmount(self.settings.streamTimeout))
                    .connect(to: remote) { channel in
                        channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                    }
                try await channel.executeThenClose { _, outbound in
                    try await outbound.write(ByteBuffer(bytes: sealed))
                }
            }
        } catch {
            shared.withLockedValue { $0.counters.streamFailures += 1 }
            logger.debug("push/pull send failed", metadata: ["to": "\(remote)", "error": "\(error)"])
        }
    }

    private func receiveStream(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let limit = settings.maximumStreamBytes
        do {
            let bytes: [UInt8] = try await withTimeout(settings.streamTimeout) {
                try await connection.executeThenClose { inbound, _ in
                    var bytes: [UInt8] = []
                    for try await var chunk in inbound {
                        guard bytes.count + chunk.readableBytes <= limit else { throw StreamTooLarge() }
                        bytes += chunk.readBytes(length: chunk.readableBytes) ?? []
                    }
                    return bytes
                }
            }
            shared.withLockedValue { $0.counters.streamsReceived += 1 }
            mailbox.push(.packet(bytes, from: "", viaStream: true))
        } catch {
            shared.withLockedValue { $0.counters.streamFailures += 1 }
            logger.debug("push/pull receive failed", metadata: ["error": "\(error)"])
        }
    }

    struct StreamTooLarge: Error {}

    /// Hands each received datagram to the mailbox, on the event loop that read it (where the loop runs).
    final class DatagramReader: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let mailbox: Mailbox<Input>

        init(mailbox: Mailbox<Input>) { self.mailbox = mailbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var envelope = unwrapInboundIn(data)
            let bytes = envelope.data.readBytes(length: envelope.data.readableBytes) ?? []
            mailbox.push(.packet(bytes, from: GossipNode.formatAddress(envelope.remoteAddress), viaStream: false))
        }
    }

    // MARK: - Addresses

    /// A non-blocking UDP socket bound to host:port (0: any free port).
    static func bindDatagramSocket(host: String, port: Int) throws -> CInt {
        guard let address = resolve(formatAddress(host: host, port: port)) else {
            throw IOError(errnoCode: EINVAL, reason: "cannot resolve gossip bind address \(host)")
        }
        let fd = socket(Int32(address.protocol.rawValue), Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
        let bound = address.withSockAddr { pointer, length in bind(fd, pointer, socklen_t(length)) == 0 }
        guard bound else {
            let code = errno
            close(fd)
            throw IOError(errnoCode: code, reason: "bind \(host):\(port)")
        }
        return fd
    }

    public static func formatAddress(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    static func formatAddress(_ address: SocketAddress) -> String {
        formatAddress(host: address.ipAddress ?? "?", port: address.port ?? 0)
    }

    static func resolve(_ address: String) -> SocketAddress? {
        let host: Substring, port: Substring
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = address[address.index(after: address.startIndex)..<close]
            port = address[address.index(after: close)...].dropFirst()
        } else if let colon = address.lastIndex(of: ":") {
            host = address[..<colon]
            port = address[address.index(after: colon)...]
        } else {
            return nil
        }
        guard let portNumber = Int(port) else { return nil }
        return (try? SocketAddress(ipAddress: String(host), port: portNumber))
            ?? (try? SocketAddress.makeAddressResolvingHost(String(host), port: portNumber))
    }
}

struct TimedOut: Error {}

func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimedOut()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw TimedOut() }
        return first
    }
}

/// Where the gossip loop runs: an actor whose executor is an event loop, so the loop's awaits resume on that
/// loop's thread.
actor LoopExecutor {
    let eventLoop: any EventLoop
    /// Held here: an unowned executor must outlive the actor, and an event loop that is not itself a
    /// `SerialExecutor` hands out a fresh wrapper on every call.
    private let executor: any SerialExecutor

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.executor = eventLoop.executor
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
}

/// Inputs for a loop that owns a state machine: producers push from any thread, the loop takes everything
/// queued at once, or wakes empty-handed at its next deadline. The deadline is a timer on an event loop, not
/// a sleeping task: a wake-up costs one continuation, not a task group with two child tasks.
final class Mailbox<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<Void, Never>?
        var timer: Scheduled<Void>?
        var cancelled = false
    }
    private let state = NIOLockedValueBox(State())

    func push(_ item: Item) {
        let waiter = state.withLockedValue { state in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Everything queued, waiting until something arrives, `deadline` passes or `cancel()` is called
    /// (then possibly nothing). The wait resumes on the caller's executor.
    func take(until deadline: ContinuousClock.Instant, timerLoop: any EventLoop,
              isolation: isolated (any Actor)? = #isolation) async -> [Item] {
        if let items = takeIfAny() { return items }
        let delay = deadline - .now
        guard delay > .zero else { return [] }
        await withCheckedContinuation(isolation: isolation) { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLockedValue { state -> Bool in
                // Checked under the lock `cancel()` takes, so a cancellation cannot be missed.
                if !state.items.isEmpty || state.cancelled { return true }
                state.waiter = continuation
                return false
            }
            if ready {
                continuation.resume()
                return
            }
            let timer = timerLoop.scheduleTask(in: TimeAmount(delay)) { self.wake() }
            let stale: Scheduled<Void>? = state.withLockedValue { state in
                guard state.waiter != nil else { return timer }  // already woken
                state.timer = timer
                return nil
            }
            stale?.cancel()
        }
        let timer = state.withLockedValue { state in
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
        return takeIfAny() ?? []
    }

    /// Ends the current wait and every later one at once (the owner's task was cancelled).
    func cancel() {
        state.withLockedValue { $0.cancelled = true }
        wake()
    }

    private func wake() {
        let waiter = state.withLockedValue { state in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    private func takeIfAny() -> [Item]? {
        state.withLockedValue { state in
            guard !state.items.isEmpty else { return nil }
            defer { state.items = [] }
            return state.items
        }
    }
}

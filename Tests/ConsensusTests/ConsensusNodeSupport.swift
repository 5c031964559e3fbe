@testable import Consensus
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// Where each test peer listens; peers come and go on fresh ephemeral ports.
final class AddressBook: Sendable {
    private let addresses = NIOLockedValueBox<[UInt64: PeerAddress]>([:])
    func set(_ id: UInt64, _ address: PeerAddress) { addresses.withLockedValue { $0[id] = address } }
    func get(_ id: UInt64) -> PeerAddress? { addresses.withLockedValue { $0[id] } }
}

/// A real transport whose links a test can cut: an isolated peer neither sends nor is sent to.
final class CuttableTransport: ConsensusTransport {
    let inner: RaftTransport
    let cut: NIOLockedValueBox<Set<UInt64>>

    init(inner: RaftTransport, cut: NIOLockedValueBox<Set<UInt64>>) {
        self.inner = inner
        self.cut = cut
    }

    func send(_ frame: [UInt8], to peer: UInt64, at address: PeerAddress) {
        let dropped = cut.withLockedValue { $0.contains(peer) || $0.contains(inner.localID) }
        if !dropped { inner.send(frame, to: peer, at: address) }
    }

    func removePeer(_ peer: UInt64) { inner.removePeer(peer) }
}

final class PortBox: Sendable {
    private let value = NIOLockedValueBox<Int?>(nil)
    func set(_ port: Int) { value.withLockedValue { $0 = port } }
    func wait() async -> Int {
        while true {
            if let port = value.withLockedValue({ $0 }) { return port }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

struct TestPeer {
    var node: ConsensusNode
    var transport: RaftTransport
    var server: Task<Void, any Error>
    var loop: Task<Void, any Error>
}

/// A cluster of in-process peers talking real TCP on 127.0.0.1, each with its own WAL under /tmp.
final class TestCluster: Sendable {
    let book = AddressBook()
    let cut = NIOLockedValueBox<Set<UInt64>>([])
    let root: String
    let settings: ConsensusSettings
    private let running = NIOLockedValueBox<[UInt64: TestPeer]>([:])
    let logger: Logger

    /// Runs `body` against a fresh cluster and shuts it down afterwards, also when `body` fails.
    static func with(_ settings: ConsensusSettings = TestCluster.fastSettings, _ body: (TestCluster) async throws -> Void) async throws {
        let cluster = TestCluster(settings: settings)
        do {
            try await body(cluster)
        } catch {
            await cluster.shutdown()
            throw error
        }
        await cluster.shutdown()
    }

    init(settings: ConsensusSettings = TestCluster.fastSettings) {
        root = "/tmp/consensus-node-test-\(UUID().uuidString)"
        self.settings = settings
        var logger = Logger(label: "consensus-test")
        logger.logLevel = ProcessInfo.processInfo.environment["CONSENSUS_TEST_LOG"] == nil ? .error : .info
        self.logger = logger
    }

    static var fastSettings: ConsensusSettings {
        var s = ConsensusSettings()
        s.tickInterval = .milliseconds(20)
        s.electionTicks = 10
        s.heartbeatTicks = 1
        s.requestTimeout = .seconds(10)
        s.randomSeed = 42
        return s
    }

    func directory(_ id: UInt64) -> String { "\(root)/peer-\(id)" }

    @discardableResult
    func start(_ id: UInt64, bootstrap: RaftMembership? = nil,
               fileSystem: @escaping @Sendable () -> any StorageFileSystem = { POSIXFileSystem() }) async -> ConsensusNode {
        var peerLogger = logger
        peerLogger[metadataKey: "peer"] = "\(id)"
        let transport = RaftTransport(localID: id, logger: peerLogger)
        let book = self.book
        let node = ConsensusNode(
            id: id, dataDirectory: directory(id), settings: settings,
            transport: CuttableTransport(inner: transport, cut: cut),
            resolver: { book.get($0) }, logger: peerLogger, bootstrap: bootstrap, fileSystem: fileSystem)
        let box = PortBox()
        let server = Task {
            try await transport.serve(host: "127.0.0.1", port: 0, ready: { box.set($0) }) { from, frame in
                node.receive(from: from, frame: frame)
            }
        }
        book.set(id, PeerAddress(host: "127.0.0.1", port: await box.wait()))
        let loop = Task { try await node.run() }
        running.withLockedValue { $0[id] = TestPeer(node: node, transport: transport, server: server, loop: loop) }
        return node
    }

    /// Cancels the peer's loop (which syncs and closes its log) and closes its transport.
    func stop(_ id: UInt64) async {
        guard let peer = running.withLockedValue({ $0.removeValue(forKey: id) }) else { return }
        peer.loop.cancel()
        _ = await peer.loop.result
        peer.transport.close()
        peer.server.cancel()
        _ = await peer.server.result
    }

    func shutdown() async {
        for id in running.withLockedValue({ $0.keys.sorted() }) { await stop(id) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The peer's loop task, to observe how `run()` ended.
    func loop(_ id: UInt64) -> Task<Void, any Error>? { running.withLockedValue { $0[id]?.loop } }

    func node(_ id: UInt64) -> ConsensusNode {
        running.withLockedValue { $0[id]! }.node  // justified: tests only ask for peers they started
    }

    /// The leader every running peer agrees on.
    func waitForLeader(timeout: Duration = .seconds(20)) async throws -> UInt64 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let statuses = running.withLockedValue { $0.values.map { $0.node.status() } }
            if let leader = statuses.first(where: { $0.role == .leader })?.id,
               statuses.allSatisfy({ $0.leader == leader }) {
                return leader
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("no leader agreed on within \(timeout)")
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("timed out waiting until \(what)")
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func value(_ s: String) -> [UInt8] { Array(s.utf8) }

extension StoreApplyResult {
    var appliedRevision: UInt64? {
        if case .applied(let r) = self { return r }
        return nil
    }
}

/// The real file system, whose syncs start failing when told to (a dying disk).
final class FailingFileSystem: StorageFileSystem {
    let inner = POSIXFileSystem()
    let failing: NIOLockedValueBox<Bool>

    init(failing: NIOLockedValueBox<Bool>) { self.failing = failing }

    struct InjectedFailure: Error {}

    func check() throws { if failing.withLockedValue({ $0 }) { throw InjectedFailure() } }
    func listDirectory(_ directory: String) throws -> [String] { try inner.listDirectory(directory) }
    func createDirectory(_ directory: String) throws { try inner.createDirectory(directory) }
    func fileExists(_ path: String) -> Bool { inner.fileExists(path) }
    func readFile(_ path: String) throws -> [UInt8] { try inner.readFile(path) }
    func append(_ bytes: [UInt8], to path: String) throws { try check(); try inner.append(bytes, to: path) }
    func write(_ bytes: [UInt8], at offset: Int, to path: String) throws { try check(); try inner.write(bytes, at: offset, to: path) }
    func truncate(_ path: String, to size: Int) throws { try inner.truncate(path, to: size) }
    func sync(_ path: String) throws { try check(); try inner.sync(path) }
    func syncDirectory(_ directory: String) throws { try check(); try inner.syncDirectory(directory) }
    func rename(_ source: String, to destination: String) throws { try inner.rename(source, to: destination) }
    func remove(_ path: String) throws { try inner.remove(path) }
}

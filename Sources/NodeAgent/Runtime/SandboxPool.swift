#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Pod sandboxes made ahead: network, IPC and UTS namespaces created and CNI ADD done (loopback up, an IP
/// leased), so a new pod skips the slowest steps of its start (measured: unshare ~15 ms, CNI bridge ADD ~50 ms).
/// A pod takes one; the pool refills in the background, one at a time. Nothing in it is a pod: it is released at
/// shutdown (CNI DEL, namespaces unmounted) and whatever a dead agent left in it is released at start.
///
/// Each entry lives in `<directory>/<id>/ns/{net,ipc,uts}`; its CNI container id is `<id>` (host-local writes it
/// in the lease), so the pod that takes it keeps that id for CNI DEL.
final class SandboxPool: Sendable {
    struct Entry: Sendable, Equatable {
        var id: String
        var ip: String
        var directory: String
        var namespaces: String { directory + "/ns" }
    }

    struct State: Sendable {
        var ready: [Entry] = []
        var filling: Task<Void, Never>?
        var closed = false
        var failedAt: ContinuousClock.Instant?
        var counter: UInt64 = 0
    }

    static let idPrefix = "pool-"
    let directory: String
    let size: Int
    let network: PodNetwork
    let logger: Logger
    /// After a failed fill the pool waits this long before trying again (pods meanwhile make their own sandboxes).
    let retryDelay: Duration = .seconds(5)
    let state = Mutex(State())

    init(directory: String, size: Int, network: PodNetwork, logger: Logger) {
        self.directory = directory
        self.size = max(0, size)
        self.network = network
        self.logger = logger
    }

    var readyCount: Int { state.withLock { $0.ready.count } }

    /// A ready sandbox, or nil when the pool is empty or disabled. The agent refills after its round, so the
    /// refill's processes do not compete with the pod's own start for the CPU.
    func take() -> Entry? {
        state.withLock { s -> Entry? in s.ready.isEmpty ? nil : s.ready.removeFirst() }
    }

    /// Starts filling up to `size` unless a fill runs already, the pool is closed, or a fill failed just now.
    func refill() {
        guard size > 0 else { return }
        state.withLock { s in
            guard !s.closed, s.filling == nil, s.ready.count < size else { return }
            if let failedAt = s.failedAt, ContinuousClock.now - failedAt < retryDelay { return }
            s.filling = Task { await self.fill() }
        }
    }

    /// Waits until the running fill (if any) is done; for tests and shutdown.
    func settle() async {
        while let task = state.withLock({ $0.filling }) { await task.value }
    }

    func fill() async {
        while true {
            let id: String? = state.withLock { s in
                guard !s.closed, s.ready.count < size else { return nil }
                s.counter += 1
                // Unique across agents' lifetimes: leftovers of a dead agent are released by directory name.
                return "\(Self.idPrefix)\(getpid())-\(UInt64(Date().timeIntervalSince1970 * 1000))-\(s.counter)"
            }
            guard let id else { break }
            do {
                let entry = try await make(id: id)
                let keep = state.withLock { s -> Bool in
                    guard !s.closed else { return false }
                    s.ready.append(entry)
                    s.failedAt = nil
                    return true
                }
                if !keep { await release(id: id) }
            } catch {
                logger.warning("pod sandbox pool: cannot make a sandbox; pods make their own meanwhile", metadata: ["error": "\(error)"])
                await release(id: id)
                state.withLock { $0.failedAt = ContinuousClock.now }
                break
            }
        }
        state.withLock { $0.filling = nil }
    }

    func make(id: String) async throws -> Entry {
        let began = ContinuousClock.now
        let entry = Entry(id: id, ip: "", directory: directory + "/" + id)
        let ns = entry.namespaces
        try Files.makeDirectory(ns)
        for name in ["net", "ipc", "uts"] { try Files.write(ns + "/" + name, []) }
        try await Command.check("/usr/bin/unshare", ["--net=\(ns)/net", "--ipc=\(ns)/ipc", "--uts=\(ns)/uts", "/bin/true"])
        let made = ContinuousClock.now
        let ip = try await network.add(podUID: id, netns: ns + "/net")
        logger.debug("pod sandbox pool: sandbox ready", metadata: [
            "id": "\(id)", "ip": "\(ip)", "unshare": "\(made - began)", "cni": "\(ContinuousClock.now - made)",
        ])
        return Entry(id: id, ip: ip, directory: entry.directory)
    }

    /// CNI DEL, namespaces unmounted, directory removed. Safe on a half-made entry.
    func release(id: String) async {
        let dir = directory + "/" + id
        do { try await network.delete(podUID: id, netns: dir + "/ns/net") } catch {
            logger.warning("pod sandbox pool: CNI DEL failed", metadata: ["id": "\(id)", "error": "\(error)"])
        }
        Mounts.unmountAll(under: dir)
        Files.remove(dir)
    }

    /// Stops refilling and releases every sandbox in the pool.
    func close() async {
        state.withLock { $0.closed = true }
        await settle()
        let entries = state.withLock { s -> [Entry] in
            defer { s.ready = [] }
            return s.ready
        }
        for entry in entries { await release(id: entry.id) }
    }

    /// Releases what an earlier agent left in the pool directory (it died, or stopped without closing the pool).
    func releaseLeftovers() async {
        for id in Files.list(directory) where id.hasPrefix(Self.idPrefix) { await release(id: id) }
    }

    /// Opens the pool again after `close()` (an agent that is started again).
    func reopen() {
        state.withLock {
            $0.closed = false
            $0.failedAt = nil
        }
    }
}

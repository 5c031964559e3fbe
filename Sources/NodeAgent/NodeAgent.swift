#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ResourceModel
#if canImport(Glibc)
import Glibc
#endif

/// One pod's status for the store, produced when it changed since the last report.
public struct PodStatusUpdate: Sendable, Equatable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var status: PodStatus
}

/// A Kubernetes Event about a pod, in kubelet's words (`reason` such as `Started`, `BackOff`, `Failed`,
/// `ErrImageSignature`, `OOMKilling`), for the lead to write as an `events.k8s.io`/`v1` Event.
public struct PodEvent: Sendable, Equatable {
    public var namespace: String
    public var podName: String
    public var podUID: String
    /// `Normal` or `Warning`.
    public var type: String
    public var reason: String
    public var message: String
    /// `spec.containers{name}`, as kubelet sets `involvedObject.fieldPath`.
    public var fieldPath: String?
}

/// What one `reconcile` produced: status changes to write (as one batch), events, and deleted pods whose
/// containers and sandbox are gone, so the store may remove them.
public struct NodeAgentReport: Sendable {
    public var statuses: [PodStatusUpdate] = []
    public var events: [PodEvent] = []
    public var finalized: [(namespace: String, name: String, uid: String)] = []
}

public struct NodeAgentError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// The node agent of one peer: runs the pods bound to this node with runc.
///
/// Drive it with `start(now:)` once, then `reconcile(desired:sources:now:)` on every change of the desired pods and
/// at least every 500 ms (probes, grace periods, back-off and exits are noticed on these calls). Each call runs the
/// pure `PodSync` step, carries out its actions (pods side by side, each pod's actions in order) and returns the
/// statuses that changed. `shutdown(drain: false)` leaves containers running; the next agent re-adopts them.
public actor NodeAgent {
    public struct Configuration: Sendable {
        /// The agent's own directory (runc state root, pod bundles, volumes, logs, IPAM leases).
        public var directory: String
        public var nodeName: String
        public var hostIP: String?
        public var network = PodNetwork.Settings()
        public var logs = ContainerLogs()
        public var runc = "/usr/sbin/runc"
        /// The cgroup (in every hierarchy) under which pods get `<podUID>/<container>`; one agent owns it.
        public var cgroupParent = "orch"
        /// The pids limit of a container that sets none (`resources.limits.pids`).
        public var defaultPidsLimit: Int64 = 4096
        /// Kept back from capacity for the system and the peer itself.
        public var reservedCPUMillis: Int64 = 100
        public var reservedMemoryBytes: Int64 = 256 << 20
        public var maximumPods: Int64 = 110
        /// Pod sandboxes kept ready ahead (namespaces made, CNI ADD done), so a new pod starts without waiting for
        /// its network; 0 disables the pool. Each holds a pod IP and a veth while it waits.
        public var sandboxPoolSize = 3
        public var backoff = PodSync.Settings()

        public init(directory: String, nodeName: String) {
            self.directory = directory
            self.nodeName = nodeName
        }
    }

    public let configuration: Configuration
    nonisolated let runtime: PodRuntime
    let logger: Logger
    var core: PodSync
    var desired: [String: Pod] = [:]
    var reported: [String: PodStatus] = [:]
    var sources = PodSources()
    var started = false
    // Actor methods interleave at every await; one round at a time keeps a pod's actions from racing.
    var busy = false
    var waiters: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if busy { await withCheckedContinuation { waiters.append($0) } } else { busy = true }
    }

    func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }

    public init(configuration: Configuration, images: any ImageProvider, logger: Logger) {
        var configuration = configuration
        // runc resolves relative paths against its own working directory.
        if !configuration.directory.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
            configuration.directory = cwd + "/" + configuration.directory
        }
        self.configuration = configuration
        self.logger = logger
        var settings = configuration.backoff
        settings.hostIP = configuration.hostIP
        self.core = PodSync(settings: settings)
        self.runtime = PodRuntime(directory: configuration.directory, runcBinary: configuration.runc, network: configuration.network,
                                  logs: configuration.logs, images: images, defaultPidsLimit: configuration.defaultPidsLimit,
                                  hostIP: configuration.hostIP, cgroupParent: configuration.cgroupParent,
                                  sandboxPoolSize: configuration.sandboxPoolSize, logger: logger)
    }

    /// Prepares the directory, becomes the subreaper of the containers it starts, and re-adopts what a previous
    /// agent left running.
    public func start() async throws {
        guard !started else { return }
        guard HostProcess.becomeSubreaper() else { throw NodeAgentError(description: "cannot become a child subreaper (prctl)") }
        do { try await runtime.adopt() } catch {
            throw NodeAgentError(description: "node agent directory \(configuration.directory): \(error)")
        }
        runtime.pool.reopen()
        runtime.pool.refill()
        started = true
    }

    /// One round: observe, decide, act (repeated while an action unblocks the next, so a new pod goes from nothing
    /// to running in one call). `desired` are the pods bound to this node (with their deletionTimestamp while they
    /// terminate); `sources` the ConfigMaps and Secrets they name.
    public func reconcile(desired pods: [Pod], sources: PodSources, now: EpochMilliseconds) async -> NodeAgentReport {
        await acquire()
        defer { release() }
        self.sources = sources
        desired = [:]
        for pod in pods { if let uid = pod.metadata?.uid { desired[uid] = pod } }
        var output = SyncOutput()
        for _ in 0..<4 {
            let observation = runtime.observe(now: now)
            output = core.step(desired: pods, observed: observation, now: now)
            await execute(output.actions, now: now)
            let unblocking = output.actions.contains {
                switch $0 {
                case .createSandbox, .ensureImage, .startContainer, .removeContainer, .removeSandbox: return true
                case .signalContainer, .runProbe: return false
                }
            }
            if !unblocking { break }
        }
        runtime.pool.refill()
        var report = NodeAgentReport()
        for (uid, status) in output.statuses.sorted(by: { $0.key < $1.key }) where reported[uid] != status {
            let meta = desired[uid]?.metadata
            report.events += Self.events(from: reported[uid], to: status, namespace: meta?.namespace ?? "default", name: meta?.name ?? "", uid: uid)
            reported[uid] = status
            report.statuses.append(PodStatusUpdate(namespace: meta?.namespace ?? "default", name: meta?.name ?? "", uid: uid, status: status))
        }
        for uid in output.finalized {
            let meta = desired[uid]?.metadata
            report.finalized.append((meta?.namespace ?? "default", meta?.name ?? "", uid))
        }
        for uid in reported.keys where desired[uid] == nil { reported[uid] = nil }
        return report
    }

    /// Events for what changed between two statuses of a pod: a container started, began waiting for a reason
    /// worth telling (image refused, bad config, back-off), or was OOM-killed.
    static func events(from old: PodStatus?, to new: PodStatus, namespace: String, name: String, uid: String) -> [PodEvent] {
        var events: [PodEvent] = []
        let before = Dictionary(((old?.initContainerStatuses ?? []) + (old?.containerStatuses ?? [])).map { ($0.name, $0) },
                                uniquingKeysWith: { a, _ in a })
        let initNames = Set((new.initContainerStatuses ?? []).map(\.name))
        for c in (new.initContainerStatuses ?? []) + (new.containerStatuses ?? []) {
            let previous = before[c.name]
            let fieldPath = initNames.contains(c.name) ? "spec.initContainers{\(c.name)}" : "spec.containers{\(c.name)}"
            func emit(_ type: String, _ reason: String, _ message: String) {
                events.append(PodEvent(namespace: namespace, podName: name, podUID: uid, type: type, reason: reason, message: message, fieldPath: fieldPath))
            }
            if c.state?.running != nil, c.containerID != previous?.containerID || previous?.state?.running == nil {
                emit("Normal", "Started", "Started container \(c.name)")
            }
            if let waiting = c.state?.waiting, let reason = waiting.reason, reason != previous?.state?.waiting?.reason,
               !["ContainerCreating", "PodInitializing"].contains(reason) {
                switch reason {
                case "CrashLoopBackOff": emit("Warning", "BackOff", "Back-off restarting failed container \(c.name) in pod \(name)")
                default: emit("Warning", reason, waiting.message ?? reason)
                }
            }
            let terminated = c.state?.terminated ?? c.lastState?.terminated
            if let terminated, terminated.reason == "OOMKilled",
               terminated.containerID != (previous?.state?.terminated ?? previous?.lastState?.terminated)?.containerID {
                emit("Warning", "OOMKilling", "Container \(c.name) was killed: out of memory")
            }
        }
        return events
    }

    func execute(_ actions: [SyncAction], now: EpochMilliseconds) async {
        var images: [(String, String, String)] = []
        var byPod: [String: [SyncAction]] = [:]
        var order: [String] = []
        for action in actions {
            if case .ensureImage(let namespace, let reference, let policy) = action {
                images.append((namespace, reference, policy))
            } else if let uid = action.podUID {
                if byPod[uid] == nil { order.append(uid) }
                byPod[uid, default: []].append(action)
            }
        }
        let runtime = self.runtime
        let pods = desired
        let sources = self.sources
        await withTaskGroup(of: Void.self) { group in
            for (namespace, reference, policy) in images {
                group.addTask { await runtime.ensureImage(namespace: namespace, reference: reference, pullPolicy: policy, now: now) }
            }
            for uid in order {
                let list = byPod[uid] ?? []
                let pod = pods[uid]
                group.addTask {
                    for action in list {
                        await Self.perform(action, pod: pod, runtime: runtime, sources: sources, now: now)
                    }
                }
            }
        }
    }

    static func perform(_ action: SyncAction, pod: Pod?, runtime: PodRuntime, sources: PodSources, now: EpochMilliseconds) async {
        switch action {
        case .createSandbox:
            if let pod { await runtime.createSandbox(pod: pod, now: now) }
        case .startContainer(_, let name, let attempt):
            if let pod { await runtime.startContainer(pod: pod, name: name, attempt: attempt, sources: sources, now: now) }
        case .signalContainer(let id, let signal):
            await runtime.signal(id: id, signal: signal)
        case .removeContainer(let id):
            await runtime.removeContainer(id: id)
        case .removeSandbox(let uid):
            await runtime.removeSandbox(uid: uid)
        case .runProbe(let id, _, let name, let kind, let probe):
            if let pod { runtime.runProbe(probe, containerID: id, pod: pod, name: name, kind: kind) }
        case .ensureImage:
            break
        }
    }

    /// A container's log: the current instance (or the one before it with `previous`), its last `tailLines`
    /// lines, and with `follow` everything it writes until it ends or the reader stops listening.
    public func logs(namespace: String, pod: String, container: String? = nil, tailLines: Int? = nil, follow: Bool = false,
                     previous: Bool = false) throws -> AsyncThrowingStream<[UInt8], any Error> {
        guard let found = desired.values.first(where: { $0.metadata?.namespace ?? "default" == namespace && $0.metadata?.name == pod }),
              let uid = found.metadata?.uid else {
            throw NodeAgentError(description: "pods \"\(pod)\" not found on node \(configuration.nodeName)")
        }
        let names = (found.spec?.initContainers ?? []).map(\.name) + (found.spec?.containers ?? []).map(\.name)
        let name: String
        if let container {
            guard names.contains(container) else {
                throw NodeAgentError(description: "container \(container) is not valid for pod \(pod)")
            }
            name = container
        } else {
            guard let only = found.spec?.containers.first, found.spec?.containers.count == 1 else {
                throw NodeAgentError(description: "a container name must be specified for pod \(pod), choose one of: [\((found.spec?.containers ?? []).map(\.name).joined(separator: " "))]")
            }
            name = only.name
        }
        guard let (path, live) = runtime.logPath(podUID: uid, name: name, previous: previous) else {
            throw NodeAgentError(description: previous ? "previous terminated container \"\(name)\" in pod \"\(pod)\" not found"
                                 : "container \"\(name)\" in pod \"\(pod)\" is waiting to start")
        }
        let logs = configuration.logs
        let initial = logs.read(path, tailLines: tailLines)
        let runtime = self.runtime
        return AsyncThrowingStream { continuation in
            if !initial.isEmpty { continuation.yield(initial) }
            guard follow, let live else {
                continuation.finish()
                return
            }
            let task = Task {
                var offset = Self.size(path)
                while !Task.isCancelled {
                    let running = runtime.isRunning(live)
                    let size = Self.size(path)
                    if size < offset { offset = 0 }  // rotated
                    if size > offset, let bytes = Self.read(path, from: offset, count: size - offset) {
                        continuation.yield(bytes)
                        offset = size
                    }
                    if !running { break }
                    try? await Task.sleep(for: .milliseconds(200))
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    static func size(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    static func read(_ path: String, from offset: Int, count: Int) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: max(count, 0))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + filled, $0.count - filled, off_t(offset + filled)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        return Array(bytes[0..<filled])
    }

    /// With `drain`, stops every container (SIGTERM, then SIGKILL after each pod's grace period) and removes
    /// every pod; without, leaves them running for the next agent to re-adopt.
    /// Either way the sandbox pool is released (its sandboxes belong to no pod).
    public func shutdown(drain: Bool) async {
        await runtime.pool.close()
        guard drain else { return }
        await acquire()
        defer { release() }
        var now = EpochMilliseconds(Date().timeIntervalSince1970 * 1000)
        for _ in 0..<600 {
            let observation = runtime.observe(now: now)
            if observation.containers.isEmpty && observation.sandboxes.isEmpty { break }
            let output = core.step(desired: [], observed: observation, now: now)
            await execute(output.actions, now: now)
            try? await Task.sleep(for: .milliseconds(100))
            now = EpochMilliseconds(Date().timeIntervalSince1970 * 1000)
        }
        desired = [:]
        reported = [:]
    }

    /// Capacity from the machine; allocatable is capacity minus the configured reservation.
    public nonisolated func nodeResources() -> (capacity: ResourceList, allocatable: ResourceList) {
        let cpus = Int64(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var memory: Int64 = 0
        if let text = Files.readText("/proc/meminfo") {
            for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
                memory = (Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
            }
        }
        let capacity: ResourceList = [
            "cpu": Quantity(milli: cpus * 1000), "memory": Quantity(milli: memory * 1000, format: .binarySI),
            "pods": Quantity(milli: configuration.maximumPods * 1000),
        ]
        let allocatable: ResourceList = [
            "cpu": Quantity(milli: max(0, cpus * 1000 - configuration.reservedCPUMillis)),
            "memory": Quantity(milli: max(0, memory - configuration.reservedMemoryBytes) * 1000, format: .binarySI),
            "pods": Quantity(milli: configuration.maximumPods * 1000),
        ]
        return (capacity, allocatable)
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ResourceModel
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The runtime shell: carries out `SyncAction`s with runc, CNI and mounts, and reports what it observes.
///
/// Pod sandbox: no process holds the pod's namespaces. `unshare --net=F --ipc=F --uts=F hostname NAME` creates
/// them and bind-mounts each to a file under the pod's directory; containers join them by path. Nothing has to be
/// kept running or re-adopted for the sandbox, and the namespaces survive a restart of the agent.
///
/// Layout under the agent directory:
/// `runc/` (runc's state root), `cni/ipam/` (leases), and per pod `pods/<uid>/`: `sandbox.json`, `ns/{net,ipc,uts}`,
/// `shm/` (tmpfs), `etc/`, `volumes/<name>/`, `containers/<name>/` (bundle: `config.json`, `rootfs/` overlay,
/// `upper/`, `work/`, `state.json`), `logs/<name>/<attempt>.log`.
final class PodRuntime: Sendable {
    struct Record: Codable, Sendable {
        var id: String
        var podUID: String
        var name: String
        var attempt: Int
        var pid: Int32
        var startedAt: EpochMilliseconds
        var finishedAt: EpochMilliseconds?
        var exitCode: Int32?
        var signal: Int32?
        var oomKilled = false
        var exitUnknown = false
        var logPath: String
    }

    struct SandboxRecord: Codable, Sendable {
        var uid: String
        var namespace: String
        var name: String
        var ip: String?
        var createdAt: EpochMilliseconds
        /// The CNI container id the network was added under: the pool entry's id when the sandbox came from the
        /// pool, nil when it is the pod's uid.
        var networkID: String?
    }

    struct State: Sendable {
        var records: [String: Record] = [:]
        var sandboxes: [String: SandboxRecord] = [:]
        var images: [String: ImageVerdict] = [:]
        var resolved: [String: ResolvedImage] = [:]
        var sandboxFailures: [String: RuntimeFailure] = [:]
        var startFailures: [ContainerKey: RuntimeFailure] = [:]
        var probeResults: [ProbeResult] = []
        var probesInFlight: Int = 0
        /// CNI ADD of each pod, running while its containers are created; its value is the pod IP.
        var network: [String: Task<String, any Error>] = [:]
    }

    let directory: String
    let runc: Runc
    let network: PodNetwork
    let logs: ContainerLogs
    let images: any ImageProvider
    let logger: Logger
    let defaultPidsLimit: Int64
    let hostIP: String?
    /// Every container's cgroup is `/<cgroupParent>/<podUID>/<container>` in each hierarchy.
    let cgroupParent: String
    let state = Mutex(State())
    let pool: SandboxPool

    init(directory: String, runcBinary: String, network: PodNetwork.Settings, logs: ContainerLogs, images: any ImageProvider,
         defaultPidsLimit: Int64, hostIP: String?, cgroupParent: String, sandboxPoolSize: Int, logger: Logger) {
        self.directory = directory
        self.cgroupParent = cgroupParent
        self.runc = Runc(binary: runcBinary, root: directory + "/runc")
        self.network = PodNetwork(settings: network, ipamDirectory: directory + "/cni/ipam")
        self.logs = logs
        self.images = images
        self.defaultPidsLimit = defaultPidsLimit
        self.hostIP = hostIP
        self.logger = logger
        self.pool = SandboxPool(directory: directory + "/pool", size: sandboxPoolSize, network: self.network, logger: logger)
    }

    func podDirectory(_ uid: String) -> String { "\(directory)/pods/\(uid)" }
    func containerDirectory(_ uid: String, _ name: String) -> String { "\(podDirectory(uid))/containers/\(name)" }
    static let cgroupRoot = "/sys/fs/cgroup"

    // MARK: - Start: re-adopt what runc still runs

    /// Loads the sandboxes and containers a previous agent left, so the pure core sees them as observed state.
    /// Containers runc lists without a record of ours, and pod directories with nothing in them, are removed.
    func adopt() async throws {
        try Files.makeDirectory(directory + "/runc", mode: 0o700)
        try Files.makeDirectory(directory + "/pods", mode: 0o711)
        try Files.makeDirectory(directory + "/cni/ipam")
        try Files.makeDirectory(directory + "/pool", mode: 0o700)
        await pool.releaseLeftovers()
        var records: [String: Record] = [:]
        var sandboxes: [String: SandboxRecord] = [:]
        for uid in Files.list(directory + "/pods") {
            let pod = podDirectory(uid)
            if let bytes = Files.read(pod + "/sandbox.json"), let sandbox = try? JSONValue.decode(SandboxRecord.self, from: bytes) {
                sandboxes[uid] = sandbox
            }
            for name in Files.list(pod + "/containers") {
                if let bytes = Files.read(containerDirectory(uid, name) + "/state.json"),
                   let record = try? JSONValue.decode(Record.self, from: bytes) {
                    records[record.id] = record
                }
            }
        }
        for (uid, sandbox) in sandboxes where sandbox.ip == nil {
            // The previous agent died while CNI ran: start the pod over.
            for (id, record) in records where record.podUID == uid {
                await runc.delete(id)
                records[id] = nil
            }
            sandboxes[uid] = nil
            await teardownNetwork(uid: uid, networkID: sandbox.networkID)
            await removeSandboxFiles(uid: uid)
        }
        let listed = await runc.list()
        for item in listed where records[item.id] == nil {
            logger.info("removing a container no pod record explains", metadata: ["container": "\(item.id)"])
            await runc.delete(item.id)
        }
        let listedIDs = Set(listed.map(\.id))
        for (id, record) in records where record.finishedAt == nil && !listedIDs.contains(id) {
            // runc forgot it (its state root was wiped): treat it as ended without a known status.
            var r = record
            r.finishedAt = r.startedAt
            r.exitUnknown = true
            records[id] = r
        }
        let known = Set(sandboxes.keys).union(records.values.map(\.podUID))
        for uid in Files.list(directory + "/pods") where !known.contains(uid) {
            await removeSandboxFiles(uid: uid)
        }
        cleanLeases(keeping: Set(sandboxes.values.map { $0.networkID ?? $0.uid }))
        cleanCgroups(keeping: known)
        state.withLock {
            $0.records = records
            $0.sandboxes = sandboxes
        }
        logger.info("node agent runtime ready", metadata: ["sandboxes": "\(sandboxes.count)", "containers": "\(records.count)"])
    }

    /// host-local names each lease file by IP and writes the owner's container id (our pod UID) in it.
    func cleanLeases(keeping: Set<String>) {
        let dir = directory + "/cni/ipam/orch"
        for file in Files.list(dir) where file.first?.isNumber == true {
            let owner = String(decoding: Files.read(dir + "/" + file) ?? [], as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            if !keeping.contains(owner) { Files.remove(dir + "/" + file) }
        }
    }

    func cleanCgroups(keeping: Set<String>) {
        for controller in Files.list(Self.cgroupRoot) {
            let orch = "\(Self.cgroupRoot)/\(controller)/\(cgroupParent)"
            for uid in Files.list(orch) where !keeping.contains(uid) { removeCgroup("\(orch)/\(uid)") }
        }
    }

    func removeCgroup(_ path: String) {
        for child in Files.list(path) {
            var info = stat()
            if stat(path + "/" + child, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { removeCgroup(path + "/" + child) }
        }
        rmdir(path)
    }

    // MARK: - Observe

    func observe(now: EpochMilliseconds) -> RuntimeObservation {
        var finished: [Record] = []
        var rotate: [String] = []
        let observation: RuntimeObservation = state.withLock { s in
            for (id, record) in s.records where record.finishedAt == nil {
                var r = record
                switch HostProcess.poll(pid: record.pid) {
                case .running:
                    rotate.append(record.logPath)
                    continue
                case .exited(let code, let signal):
                    r.exitCode = code
                    r.signal = signal
                case .notOurChild:
                    if HostProcess.alive(pid: record.pid) { rotate.append(record.logPath); continue }
                    r.exitUnknown = true
                }
                r.finishedAt = now
                r.oomKilled = Self.oomKilled(parent: cgroupParent, podUID: r.podUID, name: r.name)
                s.records[id] = r
                finished.append(r)
            }
            var o = RuntimeObservation()
            for (uid, sandbox) in s.sandboxes { o.sandboxes[uid] = ObservedSandbox(podUID: uid, podIP: sandbox.ip, createdAt: sandbox.createdAt) }
            o.containers = s.records.values.map { r in
                ObservedContainer(id: r.id, podUID: r.podUID, name: r.name, attempt: r.attempt, state: r.finishedAt == nil ? .running : .exited,
                                  startedAt: r.startedAt, finishedAt: r.finishedAt, exitCode: r.exitCode, signal: r.signal,
                                  oomKilled: r.oomKilled, exitUnknown: r.exitUnknown)
            }
            o.images = s.images
            o.sandboxFailures = s.sandboxFailures
            o.startFailures = s.startFailures
            o.probeResults = s.probeResults
            s.probeResults = []
            return o
        }
        for r in finished { persist(r) }
        for path in rotate { logs.rotateIfNeeded(path) }
        return observation
    }

    static func oomKilled(parent: String, podUID: String, name: String) -> Bool {
        guard let bytes = Files.read("\(cgroupRoot)/memory/\(parent)/\(podUID)/\(name)/memory.oom_control") else { return false }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("oom_kill ") {
            return (Int(line.dropFirst("oom_kill ".count)) ?? 0) > 0
        }
        return false
    }

    func persist(_ record: Record) {
        guard let data = try? JSONValue.encodeJSON(record) else { return }
        try? Files.write(containerDirectory(record.podUID, record.name) + "/state.json", data)
    }

    // MARK: - Actions

    func ensureImage(namespace: String, reference: String, pullPolicy: String, now: EpochMilliseconds) async {
        let key = ImageKey.of(namespace: namespace, reference: reference)
        let result = await images.ensureImage(reference: reference, namespace: namespace, pullPolicy: pullPolicy)
        state.withLock { s in
            switch result {
            case .success(let image):
                s.images[key] = .ready(imageID: image.manifestDigest)
                s.resolved[key] = image
            case .failure(let refusal):
                s.images[key] = .refused(reason: refusal.reason.rawValue, message: refusal.message, at: now)
                s.resolved[key] = nil
            }
        }
    }

    /// Gives the pod its namespaces: from the pool when it has one ready (network up, IP known), else made here
    /// with CNI ADD started in the background: containers are then created (`runc create`) meanwhile and started
    /// only once the network is up, so no container process runs before it has its IP.
    func createSandbox(pod: Pod, now: EpochMilliseconds) async {
        guard let uid = pod.metadata?.uid else { return }
        let began = ContinuousClock.now
        let dir = podDirectory(uid)
        let hostname = BundleSpec.hostname(pod: pod)
        var taken: SandboxPool.Entry?
        // A new pod's directory has nothing mounted: skip reading the mount table (long with many pods).
        let fresh = !Files.exists(dir)
        do {
            for sub in ["ns", "shm", "etc", "volumes", "containers", "logs"] { try Files.makeDirectory(dir + "/" + sub) }
            let ns = dir + "/ns"
            if !fresh { Mounts.unmountAll(under: ns) }
            for name in ["net", "ipc", "uts"] where !Files.exists(ns + "/" + name) { try Files.write(ns + "/" + name, []) }
            taken = pool.take()
            if let entry = taken {
                // The pool's namespace files are bind mounts of nsfs: bind them again under the pod, drop the pool's.
                for name in ["net", "ipc", "uts"] {
                    try Mounts.mount(source: entry.namespaces + "/" + name, target: ns + "/" + name, type: "", flags: UInt(MS_BIND))
                }
                for name in ["net", "ipc", "uts"] { Mounts.unmount(entry.namespaces + "/" + name) }
                Files.remove(entry.directory)
            } else {
                try await Command.check("/usr/bin/unshare", ["--net=\(ns)/net", "--ipc=\(ns)/ipc", "--uts=\(ns)/uts", "hostname", hostname])
            }
            let namespaced = ContinuousClock.now
            if fresh || Mounts.mounted(under: dir + "/shm").isEmpty { try Mounts.tmpfs(target: dir + "/shm", options: "mode=1777,size=64m") }
            try Files.write(dir + "/etc/hosts", Self.hosts(ip: taken?.ip, hostname: hostname))
            try Files.write(dir + "/etc/hostname", hostname + "\n")
            try Files.write(dir + "/etc/resolv.conf", Files.read("/etc/resolv.conf") ?? [])
            let record = SandboxRecord(uid: uid, namespace: pod.metadata?.namespace ?? "default", name: pod.metadata?.name ?? "",
                                       ip: taken?.ip, createdAt: now, networkID: taken?.id)
            try Files.write(dir + "/sandbox.json", try JSONValue.encodeJSON(record))
            logger.debug("pod sandbox ready", metadata: [
                "pod": "\(uid)", "from": "\(taken == nil ? "new" : "pool")", "namespaces": "\(namespaced - began)",
                "files": "\(ContinuousClock.now - namespaced)",
            ])
            if taken != nil {
                state.withLock {
                    $0.sandboxes[uid] = record
                    $0.sandboxFailures[uid] = nil
                }
                return
            }
            let network = self.network
            let logger = self.logger
            let task = Task<String, any Error> {
                do {
                    let cniBegan = ContinuousClock.now
                    let ip = try await network.add(podUID: uid, netns: ns + "/net")
                    logger.debug("pod network ready", metadata: ["pod": "\(uid)", "cni": "\(ContinuousClock.now - cniBegan)"])
                    // In place: containers already created hold a bind mount of this very file.
                    try Files.overwrite(dir + "/etc/hosts", Self.hosts(ip: ip, hostname: hostname))
                    let ready = self.state.withLock { s -> SandboxRecord? in
                        s.sandboxes[uid]?.ip = ip
                        return s.sandboxes[uid]
                    }
                    if let ready { try Files.write(dir + "/sandbox.json", try JSONValue.encodeJSON(ready)) }
                    return ip
                } catch {
                    self.logger.warning("pod network failed", metadata: ["pod": "\(uid)", "error": "\(error)"])
                    self.state.withLock {
                        $0.sandboxFailures[uid] = RuntimeFailure(reason: "FailedCreatePodSandBox", message: "\(error)", at: now)
                    }
                    throw error
                }
            }
            state.withLock {
                $0.sandboxes[uid] = record
                $0.network[uid] = task
                $0.sandboxFailures[uid] = nil
            }
        } catch {
            logger.warning("pod sandbox failed", metadata: ["pod": "\(uid)", "error": "\(error)"])
            Mounts.unmountAll(under: dir + "/ns")
            Mounts.unmountAll(under: dir + "/shm")
            Files.remove(dir + "/sandbox.json")
            // A pool entry already taken holds a lease under its own id: give it back to the network.
            if let entry = taken { await pool.release(id: entry.id) }
            state.withLock { $0.sandboxFailures[uid] = RuntimeFailure(reason: "FailedCreatePodSandBox", message: "\(error)", at: now) }
        }
    }

    static func hosts(ip: String?, hostname: String) -> String {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + (ip.map { "\($0)\t\(hostname)\n" } ?? "")
    }

    /// The pod IP once CNI has given it; throws if the pod's network could not be set up.
    func podIP(_ uid: String) async throws -> String {
        let (task, ip) = state.withLock { ($0.network[uid], $0.sandboxes[uid]?.ip) }
        if let ip { return ip }
        guard let task else { throw ConfigError(description: "the pod has no network") }
        return try await task.value
    }

    /// A sandbox whose network failed is dropped whole, so the core creates it again.
    func dropFailedSandbox(uid: String) async {
        let failed = state.withLock { $0.sandboxes[uid] != nil && $0.sandboxes[uid]?.ip == nil && $0.sandboxFailures[uid] != nil }
        guard failed else { return }
        let failure = state.withLock { $0.sandboxFailures[uid] }
        await removeSandbox(uid: uid)
        state.withLock { $0.sandboxFailures[uid] = failure }
    }

    func teardownNetwork(uid: String, networkID: String?) async {
        let netns = podDirectory(uid) + "/ns/net"
        do { try await network.delete(podUID: networkID ?? uid, netns: netns) } catch {
            logger.warning("CNI DEL failed", metadata: ["pod": "\(uid)", "error": "\(error)"])
        }
    }

    func removeSandbox(uid: String) async {
        if let task = state.withLock({ $0.network.removeValue(forKey: uid) }) { _ = try? await task.value }
        await teardownNetwork(uid: uid, networkID: state.withLock { $0.sandboxes[uid]?.networkID })
        await removeSandboxFiles(uid: uid)
        state.withLock {
            $0.sandboxes[uid] = nil
            $0.sandboxFailures[uid] = nil
            for key in $0.startFailures.keys where key.podUID == uid { $0.startFailures[key] = nil }
        }
    }

    func removeSandboxFiles(uid: String) async {
        let dir = podDirectory(uid)
        Mounts.unmountAll(under: dir)
        for controller in Files.list(Self.cgroupRoot) { removeCgroup("\(Self.cgroupRoot)/\(controller)/\(cgroupParent)/\(uid)") }
        Files.remove(dir)
    }

    func startContainer(pod: Pod, name: String, attempt: Int, sources: PodSources, now: EpochMilliseconds) async {
        guard let uid = pod.metadata?.uid, let spec = pod.spec,
              let container = (spec.initContainers ?? []).first(where: { $0.name == name }) ?? spec.containers.first(where: { $0.name == name })
        else { return }
        let namespace = pod.metadata?.namespace ?? "default"
        let key = ImageKey.of(namespace: namespace, reference: container.image ?? "")
        let id = ContainerNaming.id(podUID: uid, name: name, attempt: attempt)
        let (image, sandbox) = state.withLock { ($0.resolved[key], $0.sandboxes[uid]) }
        let pod_ = podDirectory(uid)
        let bundle = containerDirectory(uid, name)
        let rootfs = bundle + "/rootfs"
        let began = ContinuousClock.now
        do {
            guard let image else { throw ConfigError(description: "image \(container.image ?? "") is not ready") }
            guard let sandbox else { throw ConfigError(description: "the pod has no sandbox") }
            let environment: [(String, String)]
            let volumes: [String: String]
            do {
                volumes = try Volumes.prepare(pod: pod, directory: pod_ + "/volumes", sources: sources)
                let needsIP = (container.env ?? []).contains { $0.valueFrom?.fieldRef?.fieldPath == "status.podIP" }
                let ip = needsIP ? try? await podIP(uid) : sandbox.ip
                environment = try Environment.resolve(container: container, pod: pod, podIP: ip, hostIP: hostIP, sources: sources)
            } catch {
                throw StartError(reason: "CreateContainerConfigError", message: "\(error)")
            }
            // A fresh writable layer for every instance.
            if Files.exists(rootfs) { Mounts.unmountAll(under: rootfs) }
            for sub in ["upper", "work", "rootfs"] { Files.remove(bundle + "/" + sub) }
            for sub in ["upper", "work", "rootfs"] { try Files.makeDirectory(bundle + "/" + sub) }
            try Mounts.overlay(layers: image.layerDirectories, upper: bundle + "/upper", work: bundle + "/work", target: rootfs)
            let config: JSONValue
            do {
                config = try BundleSpec.build(BundleSpec.Inputs(
                    pod: pod, container: container, image: image, rootfs: rootfs, cgroupsPath: "/\(cgroupParent)/\(uid)/\(name)",
                    networkNamespace: pod_ + "/ns/net", ipcNamespace: pod_ + "/ns/ipc", utsNamespace: pod_ + "/ns/uts",
                    shm: pod_ + "/shm",
                    etcFiles: ["/etc/hosts": pod_ + "/etc/hosts", "/etc/hostname": pod_ + "/etc/hostname", "/etc/resolv.conf": pod_ + "/etc/resolv.conf"],
                    volumes: volumes, environment: environment, defaultPidsLimit: defaultPidsLimit))
            } catch {
                throw StartError(reason: "CreateContainerConfigError", message: error.description)
            }
            try Files.write(bundle + "/config.json", config.serialized())
            let logPath = ContainerLogs.path(podDirectory: pod_, container: name, attempt: attempt)
            try Files.makeDirectory(logPath.pathDeletingLastComponent())
            // Logs older than the previous instance are not needed for `--previous`.
            for file in Files.list(logPath.pathDeletingLastComponent()) {
                if let n = Int(file.prefix { $0.isNumber }), n < attempt - 1 { Files.remove(logPath.pathDeletingLastComponent() + "/" + file) }
            }
            Files.remove(logPath)
            let prepared = ContinuousClock.now
            let pid: Int32
            if state.withLock({ $0.sandboxes[uid]?.ip }) != nil {
                // The network is up already (a pooled sandbox, or a later container): create and start at once.
                do {
                    pid = try await runc.run(id: id, bundle: bundle, logPath: logPath)
                } catch {
                    await runc.delete(id)
                    throw StartError(reason: "RunContainerError", message: "\(error)")
                }
            } else {
                do {
                    pid = try await runc.create(id: id, bundle: bundle, logPath: logPath)
                } catch {
                    await runc.delete(id)
                    throw StartError(reason: "CreateContainerError", message: "\(error)")
                }
                do {
                    _ = try await podIP(uid)
                } catch {
                    await runc.delete(id)
                    await dropFailedSandbox(uid: uid)
                    throw StartError(reason: "CreateContainerError", message: "pod network: \(error)")
                }
                do {
                    try await runc.start(id: id)
                } catch {
                    await runc.delete(id)
                    throw StartError(reason: "RunContainerError", message: "\(error)")
                }
            }
            logger.debug("container started", metadata: [
                "container": "\(id)", "prepare": "\(prepared - began)", "runc": "\(ContinuousClock.now - prepared)",
            ])
            let record = Record(id: id, podUID: uid, name: name, attempt: attempt, pid: pid, startedAt: now, logPath: logPath)
            persist(record)
            state.withLock {
                $0.records[id] = record
                $0.startFailures[ContainerKey(podUID: uid, name: name)] = nil
            }
        } catch {
            Mounts.unmountAll(under: rootfs)
            let failure = (error as? StartError).map { RuntimeFailure(reason: $0.reason, message: $0.message, at: now) }
                ?? RuntimeFailure(reason: "CreateContainerError", message: "\(error)", at: now)
            logger.warning("container start failed", metadata: ["container": "\(id)", "reason": "\(failure.reason)", "error": "\(failure.message)"])
            state.withLock { $0.startFailures[ContainerKey(podUID: uid, name: name)] = failure }
        }
    }

    struct StartError: Error {
        var reason: String
        var message: String
    }

    func signal(id: String, signal: StopSignal) async {
        await runc.kill(id, signal: signal)
    }

    func removeContainer(id: String) async {
        guard let parsed = ContainerNaming.parse(id) else { return }
        await runc.delete(id)
        let current = state.withLock { $0.records[id] }
        if let current, current.finishedAt == nil {
            // Deleted while we still counted it running: reap it now if it is ours.
            _ = HostProcess.poll(pid: current.pid)
        }
        let bundle = containerDirectory(parsed.podUID, parsed.name)
        // Only the newest instance owns the bundle directory.
        let newer = state.withLock { s in s.records.values.contains { $0.podUID == parsed.podUID && $0.name == parsed.name && $0.attempt > parsed.attempt } }
        if !newer {
            Mounts.unmountAll(under: bundle + "/rootfs")
            for sub in ["upper", "work", "rootfs", "state.json", "config.json", "pid", "runc.log"] { Files.remove(bundle + "/" + sub) }
        }
        state.withLock { _ = $0.records.removeValue(forKey: id) }
    }

    func runProbe(_ probe: Probe, containerID: String, pod: Pod, name: String, kind: ProbeKind) {
        guard let uid = pod.metadata?.uid,
              let container = (pod.spec?.containers ?? []).first(where: { $0.name == name }) else { return }
        let ip = state.withLock { s in
            s.probesInFlight += 1
            return s.sandboxes[uid]?.ip
        }
        let prober = Prober(runc: runc)
        Task {
            let (success, message) = await prober.run(probe, containerID: containerID, container: container, podIP: ip)
            state.withLock { s in
                s.probesInFlight -= 1
                s.probeResults.append(ProbeResult(containerID: containerID, kind: kind, success: success, message: message))
            }
        }
    }

    // MARK: - Logs

    /// The log file of a container's current (or previous) instance.
    func logPath(podUID: String, name: String, previous: Bool) -> (path: String, live: String?)? {
        let current = state.withLock { s in
            s.records.values.filter { $0.podUID == podUID && $0.name == name }.max { $0.attempt < $1.attempt }
        }
        let dir = "\(podDirectory(podUID))/logs/\(name)"
        var attempts = Files.list(dir).compactMap { f -> Int? in f.hasSuffix(".log") ? Int(f.dropLast(4)) : nil }.sorted()
        if let current { attempts = attempts.filter { $0 <= current.attempt } }
        guard let last = attempts.last else { return nil }
        if previous {
            let currentAttempt = current?.attempt ?? last
            guard let earlier = attempts.last(where: { $0 < currentAttempt }) else { return nil }
            return (ContainerLogs.path(podDirectory: podDirectory(podUID), container: name, attempt: earlier), nil)
        }
        let live = current.flatMap { $0.finishedAt == nil && $0.attempt == last ? $0.id : nil }
        return (ContainerLogs.path(podDirectory: podDirectory(podUID), container: name, attempt: last), live)
    }

    func isRunning(_ id: String) -> Bool { state.withLock { $0.records[id].map { $0.finishedAt == nil } ?? false } }
}

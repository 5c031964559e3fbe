import Foundation
import Synchronization

/// N hosts made of network namespaces, all on one bridge that lives in a "hub" namespace of its own, so the
/// machine's interfaces and firewall are never touched:
///
///     root ns: <runID> 10.213.K.254 ──┐
///     <runID>-hub: br0 ───────────────┼── h1 ── <runID>-h1: eth0 10.213.K.1
///                                     ├── h2 ── <runID>-h2: eth0 10.213.K.2 …
///
/// The test process (in the root namespace) reaches every peer through its own veth into the bridge, so
/// the client needs no namespace tricks; faults are applied between hosts and leave that path alone unless
/// a fault cuts a host's cable. Every name starts with `e2e<pid>x<n>`, so a later run can tell a crashed
/// run's leftovers from a live one's and remove them (`removeStale()`).
final class NetworkLab: @unchecked Sendable {
    struct Host: Sendable {
        let index: Int
        /// Node name of the peer: h1, h2, …
        let name: String
        let namespace: String
        let address: String
        /// The host's cable as seen from the hub namespace (down = cut).
        let hubLink: String
    }

    static let namePrefix = "e2e"
    private static let sequence = Counter()

    let runID: String
    let hubNamespace: String
    let hosts: [Host]
    let clientAddress: String
    let subnet: String
    private let thirdOctet: Int
    /// Data directories and logs, removed at teardown.
    let directory: URL
    private let lock = NSLock()
    private var tornDown = false

    /// Builds the hosts; on any failure removes what it built and rethrows.
    init(hosts count: Int) throws {
        Self.removeStale()
        let runID = "\(Self.namePrefix)\(getpid())x\(Self.sequence.next())"
        self.runID = runID
        hubNamespace = "\(runID)-hub"
        let third = try Self.freeSubnet()
        thirdOctet = third
        subnet = "10.213.\(third)"
        clientAddress = "\(subnet).254"
        hosts = (1...count).map { i in
            Host(index: i - 1, name: "h\(i)", namespace: "\(runID)-h\(i)", address: "10.213.\(third).\(i)", hubLink: "h\(i)")
        }
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent(runID)
        LabRegistry.shared.register(self)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try build()
        } catch {
            teardown()
            throw error
        }
    }

    private func build() throws {
        try Command.ip("netns", "add", hubNamespace)
        try Command.ip("-n", hubNamespace, "link", "set", "lo", "up")
        try Command.ip("-n", hubNamespace, "link", "add", "br0", "type", "bridge")
        try Command.ip("-n", hubNamespace, "link", "set", "br0", "up")
        // The client's way in: a veth from the root namespace into the bridge.
        try Command.ip("link", "add", runID, "type", "veth", "peer", "name", "uplink", "netns", hubNamespace)
        try Command.ip("-n", hubNamespace, "link", "set", "uplink", "master", "br0")
        try Command.ip("-n", hubNamespace, "link", "set", "uplink", "up")
        try Command.ip("addr", "add", "\(clientAddress)/24", "dev", runID)
        try Command.ip("link", "set", runID, "up")
        for host in hosts {
            try Command.ip("netns", "add", host.namespace)
            try Command.ip("-n", host.namespace, "link", "set", "lo", "up")
            try Command.ip("-n", hubNamespace, "link", "add", host.hubLink, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
            try Command.ip("-n", hubNamespace, "link", "set", host.hubLink, "master", "br0")
            try Command.ip("-n", hubNamespace, "link", "set", host.hubLink, "up")
            try Command.ip("-n", host.namespace, "addr", "add", "\(host.address)/24", "dev", "eth0")
            try Command.ip("-n", host.namespace, "link", "set", "eth0", "up")
            // Fault chains the nemesis fills and flushes; the client's own traffic never passes them.
            for chain in ["E2E-PART", "E2E-LOSS"] { try Command.iptables(in: host.namespace, ["-N", chain]) }
            try Command.iptables(in: host.namespace, ["-A", "INPUT", "-j", "E2E-PART"])
            try Command.iptables(in: host.namespace, ["-A", "OUTPUT", "-j", "E2E-PART"])
            try Command.iptables(in: host.namespace, ["-A", "INPUT", "!", "-s", clientAddress, "-j", "E2E-LOSS"])
        }
    }

    /// Kills everything still running in the namespaces, deletes them (the veths and the bridge go with
    /// them) and removes the data directories. Safe to call twice, and from a signal handler's queue.
    func teardown() {
        let first = lock.withLock { defer { tornDown = true }; return !tornDown }
        guard first else { return }
        // Peers first, so none restarts a container while its pods are removed.
        for namespace in hosts.map(\.namespace) { Self.killProcesses(in: namespace) }
        Self.removePods(under: directory.path)
        for namespace in hosts.map(\.namespace) + [hubNamespace] { Self.removeNamespace(namespace) }
        _ = try? Command.ip("link", "del", runID, check: false)
        if ProcessInfo.processInfo.environment["E2E_KEEP"] == nil {
            try? FileManager.default.removeItem(at: directory)
        }
        LabRegistry.shared.unregister(self)
        _ = Self.reserved.withLock { $0.remove(thirdOctet) }
    }

    deinit { teardown() }

    static func removeNamespace(_ namespace: String) {
        killProcesses(in: namespace)
        _ = try? Command.ip("netns", "del", namespace, check: false)
    }

    static func killProcesses(in namespace: String) {
        let pids = (try? Command.ip("netns", "pids", namespace, check: false)) ?? ""
        for pid in pids.split(whereSeparator: \.isNewline).compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        // Wait for them to go, so their sockets and data directory locks are released.
        for pid in pids.split(whereSeparator: \.isNewline).compactMap({ Int32($0) }) {
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(20_000) }
        }
    }

    /// Removes what the peers' node agents left under `directory` (their peers already stopped): every
    /// container runc still runs (they sit in pod namespaces, not the hosts'), the sandbox mounts (pod
    /// namespaces, tmpfs, overlays; the peers share the machine's mount namespace) and the pods' cgroups.
    static func removePods(under directory: String) {
        let fm = FileManager.default
        let dataDirectories = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix("data-") }
            .map { "\(directory)/\($0)/agent" }
        let runc = tool("runc")
        for agent in dataDirectories where fm.fileExists(atPath: agent + "/runc") {
            let ids = (try? Command.run([runc, "--root", agent + "/runc", "list", "-q"], check: false)) ?? ""
            for id in ids.split(whereSeparator: \.isNewline) {
                _ = try? Command.run([runc, "--root", agent + "/runc", "delete", "-f", String(id)], check: false)
            }
        }
        // Deepest first; lazily, so a mount still busy for a moment goes as soon as it can.
        // procfs reports size 0, so read it the way cat does (cat shares our mount namespace).
        let mountinfo = (try? Command.run(["/bin/cat", "/proc/self/mountinfo"], check: false)) ?? ""
        let targets = mountinfo.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let target = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
            return target.hasPrefix(directory + "/") ? target : nil
        }
        for target in Set(targets).sorted(by: { $0.count > $1.count }) { umount2(target, Int32(MNT_DETACH)) }
        for agent in dataDirectories {
            for uid in (try? fm.contentsOfDirectory(atPath: agent + "/pods")) ?? [] {
                for controller in (try? fm.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
                    removeCgroup("/sys/fs/cgroup/\(controller)/orch/\(uid)")
                }
            }
        }
    }

    private static func removeCgroup(_ path: String) {
        for child in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                removeCgroup(path + "/" + child)
            }
        }
        rmdir(path)
    }

    private static func tool(_ name: String) -> String { Command.tool(name) }

    /// Removes namespaces, root links and directories left by runs whose process is gone.
    static func removeStale() {
        func ownerIsGone(_ name: String) -> Bool {
            guard name.hasPrefix(namePrefix) else { return false }
            let digits = name.dropFirst(namePrefix.count).prefix { $0.isNumber }
            guard let pid = Int32(digits), name.dropFirst(namePrefix.count + digits.count).hasPrefix("x") else { return false }
            return pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
        }
        let namespaces = ((try? Command.ip("netns", "list", check: false)) ?? "")
            .split(whereSeparator: \.isNewline).compactMap { $0.split(separator: " ").first.map(String.init) }
        for namespace in namespaces where ownerIsGone(namespace) { removeNamespace(namespace) }
        let links = ((try? Command.ip("-o", "link", "show", check: false)) ?? "").split(whereSeparator: \.isNewline)
            .compactMap { line -> String? in
                let fields = line.split(separator: ":")
                guard fields.count > 1 else { return nil }
                return String(fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first ?? "")
            }
        for link in links where ownerIsGone(link) { _ = try? Command.ip("link", "del", link, check: false) }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        for entry in entries where ownerIsGone(entry) {
            removePods(under: "/tmp/\(entry)")
            try? FileManager.default.removeItem(atPath: "/tmp/\(entry)")
        }
    }

    /// A 10.213.K.0/24 no other live lab routes in the root namespace.
    /// Subnets taken by this process's labs: two tests starting at once must not both pick one that no route
    /// shows yet (their clients would then reach each other's peers).
    private static let reserved = Mutex<Set<Int>>([])

    private static func freeSubnet() throws -> Int {
        let routes = try Command.ip("-4", "route", "show")
        let start = Int(getpid() % 200)
        let third = reserved.withLock { taken -> Int? in
            for offset in 0..<250 {
                let third = (start + offset) % 250 + 1
                if !taken.contains(third) && !routes.contains("10.213.\(third).0/24") {
                    taken.insert(third)
                    return third
                }
            }
            return nil
        }
        guard let third else { throw Command.Failure(arguments: ["ip", "route"], status: 1, output: "no free 10.213.K.0/24 subnet") }
        return third
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.withLock { value += 1; return value } }
    }
}

/// The live labs of this process, so SIGINT or SIGTERM (Ctrl-C on `scripts/soak`, a CI timeout) tears
/// them down before the process exits.
final class LabRegistry: @unchecked Sendable {
    static let shared = LabRegistry()
    private let lock = NSLock()
    private var labs: [ObjectIdentifier: NetworkLab] = [:]
    private var sources: [any DispatchSourceSignal] = []

    func register(_ lab: NetworkLab) {
        lock.withLock {
            labs[ObjectIdentifier(lab)] = lab
            guard sources.isEmpty else { return }
            for number in [SIGINT, SIGTERM, SIGHUP] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { [weak self] in
                    self?.teardownAll()
                    exit(128 + number)
                }
                source.resume()
                sources.append(source)
            }
        }
    }

    func unregister(_ lab: NetworkLab) {
        _ = lock.withLock { labs.removeValue(forKey: ObjectIdentifier(lab)) }
    }

    func teardownAll() {
        let all = lock.withLock { Array(labs.values) }
        for lab in all { lab.teardown() }
    }
}

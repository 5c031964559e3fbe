import Foundation

/// One real `peer` process per lab host, started with `nsenter --net` (which execs, so the process id is the
/// peer's own and signals reach it directly). Only the network namespace is the host's own: the peer shares
/// the machine's mount namespace as a real peer does, so the pod sandboxes it bind-mounts outlive a `kill -9`
/// and the restarted peer re-adopts them (`ip netns exec` would give each start a private mount namespace that
/// dies with the process). Data directories survive restarts; output goes to `<lab>/hN.log`, appended across restarts.
final class Cluster: @unchecked Sendable {
    struct RaftView: Decodable, Sendable, Equatable {
        var id: UInt64
        var role: String
        var term: UInt64
        var leader: UInt64
        var commitIndex: UInt64
        var appliedIndex: UInt64
        var voters: [UInt64]
        var learners: [UInt64]
    }

    struct Member: Decodable, Sendable, Equatable {
        var name: String
        var address: String
        var state: String
        var incarnation: UInt64
    }

    let lab: NetworkLab
    let voters: Int
    /// Extra environment for one host's peer (the wall-clock shim), applied at every start.
    let environment: [Int: [String: String]]
    private let lock = NSLock()
    private var processes: [Int: Process] = [:]
    private var paused: Set<Int> = []
    private var configurationText: String?
    let attachmentsLock = NSLock()
    nonisolated(unsafe) var attachments: [String: any Sendable] = [:]

    /// YAML every peer starts with (`--config`), e.g. `imageTrust` and `nodeGracePeriodSeconds` for pod
    /// workloads; set it before `startAll()`. Flags the harness passes win over it.
    var configuration: String? {
        get { lock.withLock { configurationText } }
        set { lock.withLock { configurationText = newValue } }
    }
    var configurationPath: String { lab.directory.appendingPathComponent("peer.yaml").path }

    var hosts: [NetworkLab.Host] { lab.hosts }
    var count: Int { lab.hosts.count }

    /// - Parameter fakeClock: hosts whose peer starts with its wall clock `Nemesis.skewSeconds` off. Every peer
    ///   runs under the nemesis's wall-clock shim (LD_PRELOAD), so any host's clock can jump mid-run.
    init(hosts: Int, voters: Int? = nil, fakeClock: [Int] = []) throws {
        let lab = try NetworkLab(hosts: hosts)
        self.lab = lab
        self.voters = voters ?? (hosts >= 5 ? 5 : 3)
        var environment: [Int: [String: String]] = [:]
        do {
            for i in 0..<hosts {
                environment[i] = try Nemesis.wallClockEnvironment(lab: lab, host: i, offsetSeconds: fakeClock.contains(i) ? Nemesis.skewSeconds : 0)
            }
        } catch {
            lab.teardown()
            throw error
        }
        self.environment = environment
    }

    func hasFakeClock(_ i: Int) -> Bool { Nemesis.clockOffset(lab: lab, host: i) != 0 }

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["PEER_BINARY"] { return URL(fileURLWithPath: path) }
        // The test bundle and the `peer` executable share the build products directory.
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("peer")
    }

    /// Flags for plain HTTP on a non-loopback address. Builds with HTTPS by default refuse `--insecure-http`
    /// there unless `--allow-insecure-remote` (a testing escape hatch) is also given.
    static let insecureFlags: [String] = {
        let help = (try? Command.run([binary.path, "start", "--help"], check: false)) ?? ""
        return help.contains("--allow-insecure-remote") ? ["--insecure-http", "--allow-insecure-remote"] : ["--insecure-http"]
    }()

    func dataDirectory(_ i: Int) -> String { lab.directory.appendingPathComponent("data-\(hosts[i].name)").path }
    func logPath(_ i: Int) -> String { lab.directory.appendingPathComponent("\(hosts[i].name).log").path }

    /// Starts (or restarts) host i's peer. The first host forms the cluster the first time; every other
    /// start joins through the others with the key the first peer wrote.
    func start(_ i: Int) throws {
        let host = hosts[i]
        var arguments = ["--net=/var/run/netns/\(host.namespace)", "--", Self.binary.path, "start"] + Self.insecureFlags + [
            "--name", host.name, "--bind-address", host.address, "--data-dir", dataDirectory(i), "--voters", "\(voters)",
        ]
        if let configuration {
            try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)
            arguments += ["--config", configurationPath]
        }
        let formed = FileManager.default.fileExists(atPath: dataDirectory(0) + "/gossip.keyring")
        if formed {
            for other in hosts where other.index != i { arguments += ["--join", other.address] }
            arguments += ["--gossip-key-file", dataDirectory(0) + "/gossip.keyring"]
        }
        if !FileManager.default.fileExists(atPath: logPath(i)) { _ = FileManager.default.createFile(atPath: logPath(i), contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath(i)))
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Command.tool("nsenter"))
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        if let extra = environment[i] {
            process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        }
        try process.run()
        try? log.close()
        lock.withLock {
            processes[i] = process
            paused.remove(i)
        }
    }

    func pid(_ i: Int) -> Int32? { lock.withLock { processes[i].map(\.processIdentifier) } }

    /// kill -9 and wait until it is gone (its data directory lock with it).
    func kill9(_ i: Int) async {
        let process = lock.withLock { defer { processes[i] = nil; paused.remove(i) }; return processes[i] }
        guard let process else { return }
        kill(process.processIdentifier, SIGKILL)
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    func pause(_ i: Int) {
        guard let pid = pid(i) else { return }
        kill(pid, SIGSTOP)
        _ = lock.withLock { paused.insert(i) }
    }

    func resume(_ i: Int) {
        guard let pid = pid(i) else { return }
        kill(pid, SIGCONT)
        _ = lock.withLock { paused.remove(i) }
    }

    /// Whether host i's peer process is running (not killed, not exited on its own).
    func isRunning(_ i: Int) -> Bool { lock.withLock { processes[i]?.isRunning ?? false } }

    func url(_ i: Int, _ path: String) -> String { "http://\(hosts[i].address):6443\(path)" }

    func raft(_ i: Int) async -> RaftView? { await HTTPClient.getJSON(url(i, "/v1/raft"), timeout: 2) }
    func members(_ i: Int) async -> [Member]? { await HTTPClient.getJSON(url(i, "/v1/members"), timeout: 2) }

    /// Host index of the leader that a majority of the answering peers name, or nil.
    func leader() async -> Int? {
        var ids: [UInt64: Int] = [:]
        var votes: [UInt64: Int] = [:]
        for i in 0..<count {
            guard let view = await raft(i) else { continue }
            ids[view.id] = i
            if view.leader != 0 { votes[view.leader, default: 0] += 1 }
        }
        guard let (leader, n) = votes.max(by: { $0.value < $1.value }), n > count / 2 else { return nil }
        return ids[leader]
    }

    /// Starts every peer: the first forms the cluster, the rest join; waits for `voters` voters, one leader.
    func startAll(timeout: Duration = .seconds(90)) async throws -> Bool {
        try start(0)
        guard await eventually(timeout, { await self.raft(0)?.role == "leader" }) else { return false }
        for i in 1..<count { try start(i) }
        return await eventually(timeout) { await self.isFormed() }
    }

    func isFormed() async -> Bool {
        var leaders: Set<UInt64> = []
        for i in 0..<count {
            guard let view = await raft(i), view.leader != 0, view.voters.count == min(voters, count) else { return false }
            leaders.insert(view.leader)
        }
        return leaders.count == 1
    }

    /// Every peer names the same leader and has applied the same commit index, and every peer's gossip
    /// sees every peer alive. Nothing is asked of a human.
    func converged() async -> Bool {
        var leaders: Set<UInt64> = []
        var commits: Set<UInt64> = []
        for i in 0..<count {
            guard let view = await raft(i), view.leader != 0, view.appliedIndex == view.commitIndex else { return false }
            leaders.insert(view.leader)
            commits.insert(view.commitIndex)
            guard let members = await members(i) else { return false }
            let alive = Set(members.filter { $0.state == "alive" }.map(\.name))
            guard alive.isSuperset(of: hosts.map(\.name)) else { return false }
        }
        return leaders.count == 1 && commits.count == 1
    }

    /// Where things stand, for failure messages.
    func describe() async -> String {
        var lines: [String] = []
        for i in 0..<count {
            let view = await raft(i)
            let members = await members(i)?.map { "\($0.name)=\($0.state)" }.joined(separator: ",") ?? "-"
            lines.append("\(hosts[i].name) running=\(isRunning(i)) raft=\(view.map { "\($0.role) term \($0.term) leader \($0.leader) commit \($0.commitIndex) applied \($0.appliedIndex) voters \($0.voters.count)" } ?? "no answer") members=\(members)")
        }
        return lines.joined(separator: "\n")
    }

    /// The last lines of host i's log.
    func logTail(_ i: Int, lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: logPath(i), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Stops every peer (SIGCONT first so a paused one can die) and removes the lab.
    func teardown() {
        let all = lock.withLock { Array(processes.values) }
        for process in all where process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGKILL)
        }
        for process in all { process.waitUntilExit() }
        // The pods' containers live in namespaces of their own, outside the hosts' (see NetworkLab.removePods).
        NetworkLab.removePods(under: lab.directory.path)
        lab.teardown()
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Duration, every interval: Duration = .milliseconds(200), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return await condition()
}

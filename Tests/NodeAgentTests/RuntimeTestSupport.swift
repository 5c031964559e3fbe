import Foundation
import Logging
import NodeAgent
import ResourceModel
import Synchronization
import Testing

/// A busybox image built in the test itself: one layer directory with the static busybox and its applets.
enum BusyboxLayer {
    static let directory: String = {
        let dir = "/tmp/orch-test-busybox-layer"
        let marker = dir + "/.complete"
        if FileManager.default.fileExists(atPath: marker) { return dir }
        try? FileManager.default.removeItem(atPath: dir)
        let fm = FileManager.default
        for sub in ["bin", "etc", "www", "tmp", "proc", "sys", "dev", "root"] {
            try? fm.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        chmod(dir + "/tmp", 0o1777)
        try? fm.copyItem(atPath: "/bin/busybox", toPath: dir + "/bin/busybox")
        let names = hostShell("/bin/busybox --list").output
        for name in names.split(separator: "\n") where name != "busybox" {
            try? fm.createSymbolicLink(atPath: dir + "/bin/" + name, withDestinationPath: "busybox")
        }
        try? "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n".write(toFile: dir + "/etc/passwd", atomically: true, encoding: .utf8)
        try? "root:x:0:\nnogroup:x:65534:\n".write(toFile: dir + "/etc/group", atomically: true, encoding: .utf8)
        try? "hello from pod\n".write(toFile: dir + "/www/index.html", atomically: true, encoding: .utf8)
        _ = fm.createFile(atPath: marker, contents: Data())
        return dir
    }()
}

/// The test double of the image store: every reference is the busybox layer, except `unsigned:*`, refused.
struct TestImages: ImageProvider {
    func ensureImage(reference: String, namespace: String, pullPolicy: String) async -> Result<ResolvedImage, ImageRefusal> {
        if reference.hasPrefix("unsigned") {
            return .failure(ImageRefusal(reason: .signature, message: "image \(reference) is not signed by a trusted key"))
        }
        return .success(ResolvedImage(reference: reference, manifestDigest: "sha256:" + String(repeating: "b", count: 64), entrypoint: [],
                                      cmd: ["sh"], env: ["PATH=/bin"], workingDir: "/", user: "", layerDirectories: [BusyboxLayer.directory]))
    }
}

func nowMilliseconds() -> EpochMilliseconds { EpochMilliseconds(Date().timeIntervalSince1970 * 1000) }

/// Runs `ip`/shell commands for checks and cleanup in tests, through popen (not Foundation's Process, whose
/// launch must not race the agent's own).
@discardableResult
func hostShell(_ command: String) -> (status: Int32, output: String) {
    guard let pipe = popen(command + " 2>&1", "r") else { return (-1, "popen failed") }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, pipe)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    let status = pclose(pipe)
    return ((status >> 8) & 0xff, String(decoding: bytes, as: UTF8.self))
}

/// One agent in its own directory with its own bridge and subnet; `close()` drains it, checks nothing leaked,
/// deletes the bridge and restores ip_forward.
final class AgentFixture: Sendable {
    let directory: String
    let bridge: String
    let agent: NodeAgent
    let ipForward: String
    let pods = Mutex<[Pod]>([])
    let sources = Mutex(PodSources())

    static func configuration(directory: String, bridge: String, tweak: (inout NodeAgent.Configuration) -> Void) -> NodeAgent.Configuration {
        var c = NodeAgent.Configuration(directory: directory, nodeName: "test-node")
        c.network = PodNetwork.Settings(bridge: bridge, subnet: "10.77.0.0/24")
        // Apart from any peer's agent on this machine (end-to-end tests run beside these).
        c.cgroupParent = testCgroupParent
        c.backoff.initialBackoff = 1000
        c.backoff.maximumBackoff = 4000
        c.backoff.retryDelay = 1000
        tweak(&c)
        return c
    }

    init(_ name: String, tweak: (inout NodeAgent.Configuration) -> Void = { _ in }) async throws {
        directory = "/tmp/orch-agent-\(name)-\(getpid())"
        bridge = "orcht0"
        ipForward = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_forward", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        try? FileManager.default.removeItem(atPath: directory)
        Self.removeStale()
        var logger = Logger(label: "test.\(name)")
        logger.logLevel = .warning
        agent = NodeAgent(configuration: Self.configuration(directory: directory, bridge: bridge, tweak: tweak), images: TestImages(), logger: logger)
        try await agent.start()
    }

    func set(_ pods: [Pod], sources: PodSources = PodSources()) {
        self.pods.withLock { $0 = pods }
        self.sources.withLock { $0 = sources }
    }

    /// Reconciles every 100 ms until `done` holds for the latest statuses or `seconds` pass; returns the statuses.
    @discardableResult
    func run(for seconds: Double = 20, until done: ([String: PodStatus]) -> Bool) async -> [String: PodStatus] {
        var statuses: [String: PodStatus] = [:]
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let report = await agent.reconcile(desired: pods.withLock { $0 }, sources: sources.withLock { $0 }, now: nowMilliseconds())
            for update in report.statuses { statuses[update.name] = update.status }
            if done(statuses) { return statuses }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return statuses
    }

    /// The owners (CNI container ids) of the leases the sandbox pool holds.
    static func poolLeases(directory: String) -> [String] {
        let leases = "\(directory)/cni/ipam/orch"
        return ((try? FileManager.default.contentsOfDirectory(atPath: leases)) ?? []).filter { $0.first?.isNumber == true }.compactMap { file in
            let owner = ((try? String(contentsOfFile: leases + "/" + file, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline).first.map(String.init)
            return owner?.hasPrefix("pool-") == true ? owner : nil
        }
    }

    /// Everything the agent could leak, as text; empty when clean. `allowingPool`: while the agent runs, its
    /// sandbox pool holds leases, veths and namespace mounts that are no leak.
    static func leaks(directory: String, bridge: String, allowingPool: Bool = false) -> [String] {
        var found: [String] = []
        for controller in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
            let orch = "/sys/fs/cgroup/\(controller)/\(testCgroupParent)"
            for uid in (try? FileManager.default.contentsOfDirectory(atPath: orch)) ?? [] where uid.contains("-") {
                found.append("cgroup \(orch)/\(uid)")
            }
        }
        // procfs files report size 0; cat reads them whole.
        let mounts = hostShell("cat /proc/\(getpid())/mountinfo").output
        for line in mounts.split(separator: "\n") where line.contains(directory + "/") {
            if allowingPool && line.contains(directory + "/pool/") { continue }
            found.append("mount \(line)")
        }
        let pooled = allowingPool ? poolLeases(directory: directory) : []
        let veths = hostShell("ip -o link show master \(bridge) 2>/dev/null").output.split(separator: "\n").filter { $0.contains("veth") }
        for line in veths.dropFirst(pooled.count) { found.append("veth \(line)") }
        let leases = "\(directory)/cni/ipam/orch"
        for file in (try? FileManager.default.contentsOfDirectory(atPath: leases)) ?? [] where file.first?.isNumber == true {
            let owner = ((try? String(contentsOfFile: leases + "/" + file, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            if !pooled.contains(owner) { found.append("lease \(file)") }
        }
        let pool = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/pool")) ?? []
        if !allowingPool, !pool.isEmpty { found.append("pool entries \(pool)") }
        let runc = hostShell("runc --root \(directory)/runc list -q 2>/dev/null").output.trimmingCharacters(in: .whitespacesAndNewlines)
        if !runc.isEmpty { found.append("runc \(runc)") }
        if let pods = try? FileManager.default.contentsOfDirectory(atPath: directory + "/pods"), !pods.isEmpty { found.append("pod dirs \(pods)") }
        return found
    }

    /// Drains the agent and removes the bridge; returns what leaked.
    func close() async -> [String] {
        await agent.shutdown(drain: true)
        let leaked = Self.leaks(directory: directory, bridge: bridge)
        Self.forceClean(directory: directory)
        hostShell("ip link del \(bridge) 2>/dev/null")
        try? ipForward.write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: directory)
        return leaked
    }

    func closeExpectingNoLeaks(sourceLocation: SourceLocation = #_sourceLocation) async {
        let leaked = await close()
        #expect(leaked.isEmpty, "leaked: \(leaked)", sourceLocation: sourceLocation)
    }

    /// Directories of earlier test processes that died mid-test (a crash skips `close()`).
    static func removeStale() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where entry.hasPrefix("orch-agent-") {
            guard let pid = Int32(entry.split(separator: "-").last ?? ""), pid != getpid(), kill(pid, 0) != 0 else { continue }
            forceClean(directory: "/tmp/" + entry)
            try? FileManager.default.removeItem(atPath: "/tmp/" + entry)
        }
    }

    /// Last resort after a failed test: kill and delete every container, unmount everything under the directory.
    static func forceClean(directory: String) {
        hostShell("for id in $(runc --root \(directory)/runc list -q 2>/dev/null); do runc --root \(directory)/runc delete -f $id; done")
        hostShell("grep ' \(directory)/' /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null")
        hostShell("for d in /sys/fs/cgroup/*/\(testCgroupParent); do find $d -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; done")
    }
}

let testCgroupParent = "orch-test"

func testPod(_ name: String, uid: String, restartPolicy: String = "Always", containers: String, volumes: String = "[]",
             initContainers: String = "[]", grace: Int = 5) -> Pod {
    makePod(#"{"metadata":{"name":"\#(name)","namespace":"default","uid":"\#(uid)"},"spec":{"restartPolicy":"\#(restartPolicy)","terminationGracePeriodSeconds":\#(grace),"containers":\#(containers),"initContainers":\#(initContainers),"volumes":\#(volumes)}}"#)
}

func collect(_ stream: AsyncThrowingStream<[UInt8], any Error>) async throws -> String {
    var bytes: [UInt8] = []
    for try await chunk in stream { bytes += chunk }
    return String(decoding: bytes, as: UTF8.self)
}

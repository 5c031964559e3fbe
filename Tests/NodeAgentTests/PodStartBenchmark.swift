import Foundation
import NodeAgent
import ResourceModel
import Testing

/// Pod start latency through the node agent (a new pod in `reconcile` → Running and Ready), beside bare
/// `runc run` of the same rootfs. A benchmark, not a timed test: it runs only when `BENCH_PODS` is set
/// (`scripts/bench-pods`), and asserts only that every pod came up.
@Suite(.serialized) struct PodStartBenchmark {
    static let count = Int(ProcessInfo.processInfo.environment["BENCH_PODS"] ?? "") ?? 0

    @Test(.enabled(if: count > 0, "set BENCH_PODS=N to run (scripts/bench-pods)"))
    func podStartLatency() async throws {
        let f = try await AgentFixture("bench") { $0.network.subnet = "10.77.0.0/22" }
        var pods: [Pod] = []
        var latencies: [Double] = []
        for i in 0..<Self.count {
            let pod = testPod("bench-\(i)", uid: String(format: "0b000000-0000-0000-0000-%012x", i),
                              containers: #"[{"name":"c","image":"busybox:1","command":["sleep","100000"]}]"#, grace: 0)
            pods.append(pod)
            let began = DispatchTime.now().uptimeNanoseconds
            var ready = false
            while !ready {
                let report = await f.agent.reconcile(desired: pods, sources: PodSources(), now: nowMilliseconds())
                ready = report.statuses.contains { $0.name == "bench-\(i)" && $0.status.phase == "Running"
                    && $0.status.conditions?.first { $0.type == "Ready" }?.status == "True" }
                if Double(DispatchTime.now().uptimeNanoseconds - began) > 30e9 { break }
            }
            #expect(ready, "bench-\(i) never became ready")
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
        }
        let rss = Self.rssMiB()
        // Steady state with every pod running: one reconcile round.
        let tickStart = DispatchTime.now().uptimeNanoseconds
        _ = await f.agent.reconcile(desired: pods, sources: PodSources(), now: nowMilliseconds())
        let tick = Double(DispatchTime.now().uptimeNanoseconds - tickStart) / 1e6
        f.set(pods)
        await f.closeExpectingNoLeaks()

        let bare = try Self.bareRunc(runs: 20)
        let sorted = latencies.sorted()
        func pct(_ p: Double, _ xs: [Double]) -> Double { xs[min(xs.count - 1, Int((Double(xs.count) * p).rounded(.up)) - 1)] }
        print(String(format: "BENCH pods=%d  agent p50=%.1f ms  p99=%.1f ms  max=%.1f ms | bare runc run p50=%.1f ms | reconcile with %d running=%.1f ms | test-process RSS with %d pods=%.1f MiB",
                     Self.count, pct(0.5, sorted), pct(0.99, sorted), sorted.last ?? 0, pct(0.5, bare.sorted()), Self.count, tick, Self.count, rss))
    }

    static func rssMiB() -> Double {
        let status = hostShell("cat /proc/\(getpid())/status").output
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
        }
        return 0
    }

    /// `runc run` (foreground) of `true` in an overlay of the same layer, as runtime-facts measured it.
    static func bareRunc(runs: Int) throws -> [Double] {
        let dir = "/tmp/orch-bench-bare-\(getpid())"
        defer {
            hostShell("umount \(dir)/rootfs 2>/dev/null; rm -rf \(dir)")
        }
        hostShell("mkdir -p \(dir)/rootfs \(dir)/upper \(dir)/work && mount -t overlay overlay -o lowerdir=\(BusyboxLayer.directory),upperdir=\(dir)/upper,workdir=\(dir)/work \(dir)/rootfs")
        let config: JSONValue = [
            "ociVersion": "1.0.2",
            "process": ["terminal": false, "user": ["uid": 0, "gid": 0], "args": ["true"], "env": ["PATH=/bin"], "cwd": "/"],
            "root": ["path": .string(dir + "/rootfs")],
            "mounts": [["destination": "/proc", "type": "proc", "source": "proc"]],
            "linux": ["cgroupsPath": "/orch-bench/bare", "namespaces": [["type": "pid"], ["type": "mount"], ["type": "network"], ["type": "ipc"], ["type": "uts"]]],
        ]
        try config.serialized().write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        var times: [Double] = []
        for i in 0..<runs {
            let began = DispatchTime.now().uptimeNanoseconds
            let r = hostShell("cd \(dir) && runc --root \(dir)/state run bare\(i) </dev/null")
            times.append(Double(DispatchTime.now().uptimeNanoseconds - began) / 1e6)
            #expect(r.status == 0, "bare runc: \(r.output)")
        }
        hostShell("rmdir /sys/fs/cgroup/*/orch-bench/bare /sys/fs/cgroup/*/orch-bench 2>/dev/null")
        return times
    }
}

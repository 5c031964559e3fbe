import Foundation
import Logging
import NodeAgent
import ResourceModel
import Testing

/// Real runc, real namespaces and CNI. Serialized: the pods share the host's bridge name and ip_forward.
@Suite(.serialized) struct PodRuntimeTests {
    @Test func podGetsAnIPAndServesHTTPOnIt() async throws {
        let f = try await AgentFixture("http")
        let pod = testPod("web", uid: "0a000000-0000-0000-0000-000000000001",
                          containers: #"[{"name":"httpd","image":"busybox:1","command":["httpd","-f","-p","8080","-h","/www"]}]"#)
        f.set([pod])
        let began = Date()
        let statuses = await f.run { $0["web"]?.phase == "Running" }
        let latency = Date().timeIntervalSince(began)
        let status = try #require(statuses["web"])
        #expect(status.phase == "Running")
        let ip = try #require(status.podIP)
        #expect(ip.hasPrefix("10.77.0."))
        var body = ""
        for _ in 0..<20 {
            if let r = try? await HTTPClient().request("GET", "http://\(ip):8080/index.html") { body = r.text; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(body == "hello from pod\n")
        print("pod start latency (create → Running, first pod): \(Int(latency * 1000)) ms")
        await f.closeExpectingNoLeaks()
    }
}

extension PodRuntimeTests {
    @Test func restartPoliciesAndCrashLoopBackOff() async throws {
        let f = try await AgentFixture("restart")
        let never = testPod("never", uid: "0a000000-0000-0000-0000-000000000011", restartPolicy: "Never",
                            containers: #"[{"name":"c","image":"busybox:1","command":["sh","-c","exit 3"]}]"#)
        let onFailure = testPod("onfailure", uid: "0a000000-0000-0000-0000-000000000012", restartPolicy: "OnFailure",
                                containers: #"[{"name":"c","image":"busybox:1","command":["sh","-c","test -f /tmp/x; exit 1"]}]"#)
        let onFailureOK = testPod("onfailure-ok", uid: "0a000000-0000-0000-0000-000000000013", restartPolicy: "OnFailure",
                                  containers: #"[{"name":"c","image":"busybox:1","command":["true"]}]"#)
        let always = testPod("always", uid: "0a000000-0000-0000-0000-000000000014", restartPolicy: "Always",
                             containers: #"[{"name":"c","image":"busybox:1","command":["sh","-c","echo run; exit 0"]}]"#)
        f.set([never, onFailure, onFailureOK, always])
        var sawBackOff = false
        let statuses = await f.run(for: 20) { s in
            if s["always"]?.containerStatuses?.first?.state?.waiting?.reason == "CrashLoopBackOff" { sawBackOff = true }
            return s["never"]?.phase == "Failed" && s["onfailure-ok"]?.phase == "Succeeded"
                && (s["onfailure"]?.containerStatuses?.first?.restartCount ?? 0) >= 2
                && (s["always"]?.containerStatuses?.first?.restartCount ?? 0) >= 2 && sawBackOff
        }
        let neverStatus = statuses["never"]?.containerStatuses?.first
        #expect(statuses["never"]?.phase == "Failed")
        #expect(neverStatus?.state?.terminated?.exitCode == 3)
        #expect(neverStatus?.state?.terminated?.reason == "Error")
        #expect(statuses["onfailure-ok"]?.phase == "Succeeded")
        #expect(statuses["onfailure-ok"]?.containerStatuses?.first?.state?.terminated?.reason == "Completed")
        #expect((statuses["onfailure"]?.containerStatuses?.first?.restartCount ?? 0) >= 2)
        #expect(statuses["onfailure"]?.containerStatuses?.first?.lastState?.terminated?.exitCode == 1)
        #expect((statuses["always"]?.containerStatuses?.first?.restartCount ?? 0) >= 2)
        #expect(sawBackOff)
        let previous = try await collect(f.agent.logs(namespace: "default", pod: "always", previous: true))
        #expect(previous == "run\n")
        await f.closeExpectingNoLeaks()
    }

    @Test func probesOfEachKind() async throws {
        let f = try await AgentFixture("probes")
        let containers = #"""
        [{"name":"web","image":"busybox:1","command":["httpd","-f","-p","8080","-h","/www"],"ports":[{"name":"http","containerPort":8080}],
          "readinessProbe":{"httpGet":{"path":"/index.html","port":"http"},"periodSeconds":1},
          "livenessProbe":{"tcpSocket":{"port":8080},"periodSeconds":1}},
         {"name":"worker","image":"busybox:1","command":["sh","-c","touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 1000"],
          "livenessProbe":{"exec":{"command":["test","-f","/tmp/healthy"]},"periodSeconds":1,"failureThreshold":1,"terminationGracePeriodSeconds":1},
          "readinessProbe":{"exec":{"command":["cat","/tmp/healthy"]},"periodSeconds":1}},
         {"name":"notready","image":"busybox:1","command":["sleep","1000"],
          "readinessProbe":{"httpGet":{"path":"/","port":9999},"periodSeconds":1,"timeoutSeconds":1}}]
        """#
        f.set([testPod("probed", uid: "0a000000-0000-0000-0000-000000000021", containers: containers, grace: 1)])
        let statuses = await f.run(for: 25) { s in
            let cs = s["probed"]?.containerStatuses ?? []
            return cs.first { $0.name == "web" }?.ready == true && (cs.first { $0.name == "worker" }?.restartCount ?? 0) >= 1
        }
        let cs = statuses["probed"]?.containerStatuses ?? []
        #expect(cs.first { $0.name == "web" }?.ready == true)
        #expect(cs.first { $0.name == "web" }?.restartCount == 0)
        #expect((cs.first { $0.name == "worker" }?.restartCount ?? 0) >= 1)
        #expect(cs.first { $0.name == "worker" }?.lastState?.terminated?.message?.contains("Liveness probe failed") == true)
        #expect(cs.first { $0.name == "notready" }?.ready == false)
        #expect(statuses["probed"]?.conditions?.first { $0.type == "Ready" }?.status == "False")
        await f.closeExpectingNoLeaks()
    }

    @Test func volumesAndEnvironmentFromConfigMapsAndSecrets() async throws {
        let f = try await AgentFixture("volumes")
        let host = "/tmp/orch-test-hostpath-\(getpid())"
        try? FileManager.default.removeItem(atPath: host)
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        try "from the host\n".write(toFile: host + "/greeting", atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: host) }
        let script = [
            "cat /cfg/app.conf", "cat /sec/password; echo", "stat -c 'mode=%a' /sec/password", "stat -c 'item=%a' /items/renamed",
            "echo env=$FROM_CM/$FROM_SEC/$PFX_mode/$LITERAL", "grep -q ' /mem tmpfs' /proc/mounts && echo mem=tmpfs",
            "grep -q ' /sec tmpfs' /proc/mounts && echo sec=tmpfs", "cat /host/greeting",
            "touch /host-ro/x 2>/dev/null || echo ro=refused", "echo shared > /scratch/note", "hostname",
            "touch /rootfs-file 2>/dev/null || echo rootfs=readonly",
        ].joined(separator: "; ")
        let containers = #"""
        [{"name":"c","image":"busybox:1","command":["sh","-c",\#(JSONValue.string(script).serialized())],
          "securityContext":{"readOnlyRootFilesystem":true},
          "env":[{"name":"LITERAL","value":"lit"},
                 {"name":"FROM_CM","valueFrom":{"configMapKeyRef":{"name":"settings","key":"mode"}}},
                 {"name":"FROM_SEC","valueFrom":{"secretKeyRef":{"name":"creds","key":"password"}}}],
          "envFrom":[{"prefix":"PFX_","configMapRef":{"name":"settings"}}],
          "volumeMounts":[{"name":"cfg","mountPath":"/cfg"},{"name":"sec","mountPath":"/sec"},{"name":"items","mountPath":"/items"},
                          {"name":"mem","mountPath":"/mem"},{"name":"host","mountPath":"/host"},
                          {"name":"host","mountPath":"/host-ro","readOnly":true},{"name":"scratch","mountPath":"/scratch"}]}]
        """#
        let volumes = #"""
        [{"name":"cfg","configMap":{"name":"settings"}},{"name":"sec","secret":{"secretName":"creds"}},
         {"name":"items","configMap":{"name":"settings","items":[{"key":"mode","path":"renamed","mode":384}]}},
         {"name":"mem","emptyDir":{"medium":"Memory"}},{"name":"scratch","emptyDir":{}},
         {"name":"host","hostPath":{"path":"\#(host)"}}]
        """#
        var settings = ConfigMap()
        settings.data = ["app.conf": "color=blue\n", "mode": "fast"]
        var creds = Secret()
        creds.data = ["password": Data("s3cret".utf8).base64EncodedString()]
        let pod = testPod("vol", uid: "0a000000-0000-0000-0000-000000000031", restartPolicy: "Never", containers: containers, volumes: volumes)
        f.set([pod], sources: PodSources(configMaps: ["default/settings": settings], secrets: ["default/creds": creds]))
        let statuses = await f.run { $0["vol"]?.phase == "Succeeded" || $0["vol"]?.phase == "Failed" }
        #expect(statuses["vol"]?.phase == "Succeeded")
        let log = try await collect(f.agent.logs(namespace: "default", pod: "vol"))
        for line in ["color=blue", "s3cret", "mode=400", "item=600", "env=fast/s3cret/fast/lit", "mem=tmpfs", "sec=tmpfs",
                     "from the host", "ro=refused", "vol", "rootfs=readonly"] {
            #expect(log.split(separator: "\n").contains { $0 == line }, "missing '\(line)' in:\n\(log)")
        }
        await f.closeExpectingNoLeaks()
    }

    @Test func missingConfigMapWaitsWithCreateContainerConfigError() async throws {
        let f = try await AgentFixture("missingcm")
        let containers = #"[{"name":"c","image":"busybox:1","command":["sleep","100"],"env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"absent","key":"k"}}}]}]"#
        f.set([testPod("cfgerr", uid: "0a000000-0000-0000-0000-000000000032", containers: containers)])
        let statuses = await f.run(for: 10) { $0["cfgerr"]?.containerStatuses?.first?.state?.waiting?.reason == "CreateContainerConfigError" }
        let waiting = statuses["cfgerr"]?.containerStatuses?.first?.state?.waiting
        #expect(waiting?.reason == "CreateContainerConfigError")
        #expect(waiting?.message?.contains("configmap \"absent\" not found") == true)
        let unsigned = testPod("unsigned", uid: "0a000000-0000-0000-0000-000000000033",
                               containers: #"[{"name":"c","image":"unsigned:1","command":["true"]}]"#)
        f.set([unsigned])
        let refused = await f.run(for: 10) { $0["unsigned"]?.containerStatuses?.first?.state?.waiting?.reason == "ErrImageSignature" }
        #expect(refused["unsigned"]?.containerStatuses?.first?.state?.waiting?.reason == "ErrImageSignature")
        await f.closeExpectingNoLeaks()
    }

    @Test func memoryLimitKillsAsOOMKilled() async throws {
        let f = try await AgentFixture("oom")
        let containers = #"[{"name":"hog","image":"busybox:1","command":["sh","-c","x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"],"resources":{"limits":{"memory":"32Mi","cpu":"500m"}}}]"#
        f.set([testPod("oom", uid: "0a000000-0000-0000-0000-000000000041", restartPolicy: "Never", containers: containers)])
        let statuses = await f.run(for: 30) { $0["oom"]?.phase == "Failed" || $0["oom"]?.phase == "Succeeded" }
        let terminated = statuses["oom"]?.containerStatuses?.first?.state?.terminated
        #expect(terminated?.reason == "OOMKilled")
        #expect(terminated?.exitCode == 137)
        #expect(statuses["oom"]?.phase == "Failed")
        await f.closeExpectingNoLeaks()
    }

    @Test func gracefulTerminationThenKillAfterGracePeriod() async throws {
        let f = try await AgentFixture("grace")
        let host = "/tmp/orch-test-grace-\(getpid())"
        try? FileManager.default.removeItem(atPath: host)
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: host) }
        let containers = #"""
        [{"name":"polite","image":"busybox:1","command":["sh","-c","trap 'echo got TERM > /out/term; exit 0' TERM; while true; do sleep 0.1; done"],
          "volumeMounts":[{"name":"out","mountPath":"/out"}]},
         {"name":"stubborn","image":"busybox:1","command":["sleep","1000"]}]
        """#
        var pod = testPod("grace", uid: "0a000000-0000-0000-0000-000000000051", containers: containers,
                          volumes: #"[{"name":"out","hostPath":{"path":"\#(host)"}}]"#, grace: 2)
        f.set([pod])
        await f.run { $0["grace"]?.phase == "Running" }
        pod.metadata?.deletionTimestamp = Timestamp.format(epochSeconds: nowMilliseconds() / 1000)
        f.set([pod])
        let began = Date()
        var finalized = false
        var politeExitedAt: Date?
        while Date().timeIntervalSince(began) < 15, !finalized {
            let report = await f.agent.reconcile(desired: [pod], sources: PodSources(), now: nowMilliseconds())
            if politeExitedAt == nil, FileManager.default.fileExists(atPath: host + "/term") { politeExitedAt = Date() }
            finalized = report.finalized.contains { $0.uid == "0a000000-0000-0000-0000-000000000051" }
            try await Task.sleep(for: .milliseconds(100))
        }
        let took = Date().timeIntervalSince(began)
        #expect(finalized)
        #expect((try? String(contentsOfFile: host + "/term", encoding: .utf8)) == "got TERM\n")
        #expect(politeExitedAt.map { $0.timeIntervalSince(began) < 1.5 } == true)
        // The stubborn one ignores SIGTERM (PID 1 without a handler) and is killed when the 2 s are up.
        #expect(took >= 2 && took < 6, "took \(took) s")
        f.set([])
        await f.closeExpectingNoLeaks()
    }

    @Test func logsTailFollowAndRotation() async throws {
        let f = try await AgentFixture("logs") { $0.logs = ContainerLogs(maximumBytes: 4096, maximumFiles: 2) }
        let containers = #"[{"name":"talker","image":"busybox:1","command":["sh","-c","i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.15; done; sleep 1; echo last; sleep 1000"]}]"#
        f.set([testPod("logs", uid: "0a000000-0000-0000-0000-000000000061", containers: containers, grace: 1)])
        await f.run { $0["logs"]?.phase == "Running" }
        var tail = ""
        for _ in 0..<100 {
            _ = await f.agent.reconcile(desired: f.pods.withLock { $0 }, sources: PodSources(), now: nowMilliseconds())
            tail = try await collect(f.agent.logs(namespace: "default", pod: "logs", tailLines: 2))
            if tail == "line-1999\nlast\n" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(tail == "line-1999\nlast\n")
        let all = try await collect(f.agent.logs(namespace: "default", pod: "logs"))
        // Rotation kept at most two files of about 4 KiB: the oldest lines are gone, the newest are there.
        #expect(!all.contains("line-0\n"))
        #expect(all.hasSuffix("line-1999\nlast\n"))
        #expect(all.utf8.count < 3 * 4096)
        let dir = "\(f.directory)/pods/0a000000-0000-0000-0000-000000000061/logs/talker"
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir))?.sorted() ?? []
        #expect(files == ["0.log", "0.log.1"])
        // follow: gets what the container writes next.
        let stream = try await f.agent.logs(namespace: "default", pod: "logs", tailLines: 0, follow: true)
        let reader = Task { () -> String in
            var got = ""
            for try await chunk in stream {
                got += String(decoding: chunk, as: UTF8.self)
                if got.contains("followed") { break }
            }
            return got
        }
        // Appends, as the container's own O_APPEND stdout does.
        hostShell("runc --root \(f.directory)/runc exec 0a000000-0000-0000-0000-000000000061_talker_0 sh -c 'echo followed >> /proc/1/fd/1'")
        let watchdog = Task {
            try await Task.sleep(for: .seconds(10))
            reader.cancel()
        }
        let followed = (try? await reader.value) ?? ""
        watchdog.cancel()
        #expect(followed.contains("followed"))
        await #expect(throws: NodeAgentError.self) { try await f.agent.logs(namespace: "default", pod: "nope") }
        await f.closeExpectingNoLeaks()
    }

    @Test func readoptsContainersAfterTheAgentIsRecreated() async throws {
        let f = try await AgentFixture("adopt")
        let keep = testPod("keep", uid: "0a000000-0000-0000-0000-000000000071",
                           containers: #"[{"name":"c","image":"busybox:1","command":["httpd","-f","-p","8080","-h","/www"]}]"#, grace: 1)
        let drop = testPod("drop", uid: "0a000000-0000-0000-0000-000000000072",
                           containers: #"[{"name":"c","image":"busybox:1","command":["sleep","1000"]}]"#, grace: 1)
        f.set([keep, drop])
        let first = await f.run { $0["keep"]?.phase == "Running" && $0["drop"]?.phase == "Running" }
        let ip = try #require(first["keep"]?.podIP)
        await f.agent.shutdown(drain: false)

        // A new agent on the same directory: it finds both, keeps the wanted one (same container, same IP) and
        // removes the other.
        var logger = Logger(label: "test.adopt2")
        logger.logLevel = .warning
        let again = NodeAgent(configuration: AgentFixture.configuration(directory: f.directory, bridge: f.bridge) { _ in },
                              images: TestImages(), logger: logger)
        try await again.start()
        var statuses: [String: PodStatus] = [:]
        for _ in 0..<50 {
            let report = await again.reconcile(desired: [keep], sources: PodSources(), now: nowMilliseconds())
            for u in report.statuses { statuses[u.name] = u.status }
            if hostShell("runc --root \(f.directory)/runc list -q").output.split(separator: "\n").count == 1 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let listed = hostShell("runc --root \(f.directory)/runc list -q").output.split(separator: "\n")
        #expect(listed == ["0a000000-0000-0000-0000-000000000071_c_0"])
        #expect(statuses["keep"]?.phase == "Running")
        #expect(statuses["keep"]?.podIP == ip)
        #expect(statuses["keep"]?.containerStatuses?.first?.restartCount == 0)
        let r = try await HTTPClient().request("GET", "http://\(ip):8080/index.html")
        #expect(r.text == "hello from pod\n")
        await again.shutdown(drain: true)
        await f.closeExpectingNoLeaks()
    }

    @Test func noLeaksOverCreateDeleteCycles() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["LEAK_CYCLES"] ?? "") ?? 3
        let f = try await AgentFixture("leaks")
        func descriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        var baseline = 0
        let volumes = #"[{"name":"m","emptyDir":{"medium":"Memory"}},{"name":"s","secret":{"secretName":"x"}}]"#
        var secret = Secret()
        secret.data = ["k": "dg=="]
        let sources = PodSources(secrets: ["default/x": secret])
        for cycle in 0..<cycles {
            let pods = (0..<2).map { i in
                testPod("leak-\(i)", uid: String(format: "0a000000-0000-0000-%04x-%012x", i, cycle),
                        containers: #"[{"name":"c","image":"busybox:1","command":["sleep","1000"],"resources":{"limits":{"memory":"64Mi"}},"volumeMounts":[{"name":"m","mountPath":"/m"},{"name":"s","mountPath":"/s"}]}]"#,
                        volumes: volumes, grace: 0)
            }
            f.set(pods, sources: sources)
            let up = await f.run { s in pods.allSatisfy { s[$0.metadata?.name ?? ""]?.phase == "Running" } }
            #expect(pods.allSatisfy { up[$0.metadata?.name ?? ""]?.phase == "Running" }, "cycle \(cycle)")
            f.set([], sources: sources)
            // The sandbox pool keeps its own leases and veths while the agent runs; they are checked at close.
            await f.run(for: 10) { _ in AgentFixture.leaks(directory: f.directory, bridge: f.bridge, allowingPool: true).isEmpty }
            let leaked = AgentFixture.leaks(directory: f.directory, bridge: f.bridge, allowingPool: true)
            #expect(leaked.isEmpty, "cycle \(cycle): \(leaked)")
            if !leaked.isEmpty { break }
            // File descriptors: measured after the first cycle (NIO and Foundation open theirs lazily), then flat.
            if cycle == 0 { baseline = descriptors() } else if cycle == cycles - 1 {
                #expect(descriptors() <= baseline + 8, "descriptors grew from \(baseline) to \(descriptors())")
            }
        }
        await f.closeExpectingNoLeaks()
    }
}

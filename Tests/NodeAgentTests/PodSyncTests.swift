import NodeAgent
import ResourceModel
import Testing

/// A make-believe runtime that carries out the core's actions at once, so tests can drive the pure core through
/// whole pod lifecycles.
struct FakeRuntime {
    var observation = RuntimeObservation()
    var signals: [(String, StopSignal)] = []
    var probesRun: [(String, ProbeKind)] = []
    var ip = "10.88.0.5"
    var refuse: [String: ImageRefusal] = [:]
    var failStart: [String: RuntimeFailure] = [:]

    mutating func apply(_ actions: [SyncAction], now: EpochMilliseconds) {
        for action in actions {
            switch action {
            case .createSandbox(let uid):
                observation.sandboxes[uid] = ObservedSandbox(podUID: uid, podIP: ip, createdAt: now)
            case .ensureImage(let ns, let ref, _):
                if let refusal = refuse[ref] {
                    observation.images[ImageKey.of(namespace: ns, reference: ref)] = .refused(reason: refusal.reason.rawValue, message: refusal.message, at: now)
                } else {
                    observation.images[ImageKey.of(namespace: ns, reference: ref)] = .ready(imageID: "sha256:abc")
                }
            case .startContainer(let uid, let name, let attempt):
                if var failure = failStart[name] {
                    failure.at = now
                    observation.startFailures[ContainerKey(podUID: uid, name: name)] = failure
                } else {
                    observation.containers.append(ObservedContainer(id: ContainerNaming.id(podUID: uid, name: name, attempt: attempt),
                                                                    podUID: uid, name: name, attempt: attempt, state: .running, startedAt: now))
                }
            case .signalContainer(let id, let signal):
                signals.append((id, signal))
            case .removeContainer(let id):
                observation.containers.removeAll { $0.id == id }
            case .removeSandbox(let uid):
                observation.sandboxes[uid] = nil
            case .runProbe(let id, _, _, let kind, _):
                probesRun.append((id, kind))
            }
        }
    }

    mutating func exit(_ name: String, code: Int32, at: EpochMilliseconds, oom: Bool = false) {
        guard let i = observation.containers.lastIndex(where: { $0.name == name && $0.state == .running }) else { return }
        observation.containers[i].state = .exited
        observation.containers[i].exitCode = code
        observation.containers[i].finishedAt = at
        observation.containers[i].oomKilled = oom
    }

    func container(_ name: String) -> ObservedContainer? {
        observation.containers.filter { $0.name == name }.max { $0.attempt < $1.attempt }
    }
}

func makePod(_ json: String) -> Pod {
    do { return try JSONValue.parse(json).decode(Pod.self) } catch { Issue.record("bad test pod: \(error)"); return Pod() }
}

func simplePod(restartPolicy: String = "Always", containers: String = #"[{"name":"app","image":"busybox:1"}]"#,
               initContainers: String = "[]", extra: String = "") -> Pod {
    makePod(#"{"metadata":{"name":"web","namespace":"default","uid":"u1"\#(extra)},"spec":{"restartPolicy":"\#(restartPolicy)","containers":\#(containers),"initContainers":\#(initContainers)}}"#)
}

/// Steps the core and applies its actions; returns the output.
@discardableResult
func syncStep(_ core: inout PodSync, _ runtime: inout FakeRuntime, _ pods: [Pod], at now: EpochMilliseconds) -> SyncOutput {
    let output = core.step(desired: pods, observed: runtime.observation, now: now)
    runtime.observation.probeResults = []
    runtime.apply(output.actions, now: now)
    return output
}

/// Steps until nothing more happens at `now` (like the facade's loop).
@discardableResult
func syncSettle(_ core: inout PodSync, _ runtime: inout FakeRuntime, _ pods: [Pod], at now: EpochMilliseconds) -> SyncOutput {
    var out = syncStep(&core, &runtime, pods, at: now)
    for _ in 0..<4 where out.actions.contains(where: { if case .signalContainer = $0 { return false }; if case .runProbe = $0 { return false }; return true }) {
        out = syncStep(&core, &runtime, pods, at: now)
    }
    return out
}

@Suite struct PodSyncTests {
    let t0: EpochMilliseconds = 1_700_000_000_000

    @Test func newPodGetsSandboxAndImageSideBySideAndIsPending() {
        var core = PodSync()
        let out = core.step(desired: [simplePod()], observed: RuntimeObservation(), now: t0)
        #expect(out.actions == [.createSandbox(podUID: "u1"), .ensureImage(namespace: "default", reference: "busybox:1", pullPolicy: "IfNotPresent")])
        let status = out.statuses["u1"]
        #expect(status?.phase == "Pending")
        #expect(status?.containerStatuses?.first?.state?.waiting?.reason == "ContainerCreating")
        #expect(status?.conditions?.first { $0.type == "PodScheduled" }?.status == "True")
        #expect(status?.conditions?.first { $0.type == "Ready" }?.status == "False")
        #expect(status?.startTime == Timestamp.format(epochSeconds: t0 / 1000))
    }

    @Test func podRunsAfterSandboxImageAndStart() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod()
        let first = syncStep(&core, &rt, [pod], at: t0)
        #expect(first.actions == [.createSandbox(podUID: "u1"), .ensureImage(namespace: "default", reference: "busybox:1", pullPolicy: "IfNotPresent")])
        let second = syncStep(&core, &rt, [pod], at: t0)
        #expect(second.actions == [.startContainer(podUID: "u1", name: "app", attempt: 0)])
        let out = syncStep(&core, &rt, [pod], at: t0 + 100)
        let status = out.statuses["u1"]
        #expect(status?.phase == "Running")
        #expect(status?.podIP == "10.88.0.5")
        #expect(status?.podIPs?.first?.ip == "10.88.0.5")
        let c = status?.containerStatuses?.first
        #expect(c?.ready == true)
        #expect(c?.started == true)
        #expect(c?.imageID == "sha256:abc")
        #expect(c?.containerID == "runc://u1_app_0")
        #expect(c?.state?.running?.startedAt == Timestamp.format(epochSeconds: t0 / 1000))
        #expect(status?.conditions?.map(\.status) == ["True", "True", "True", "True"])
    }

    @Test func latestTagDefaultsToPullAlways() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod(containers: #"[{"name":"app","image":"busybox"}]"#)
        let out = syncStep(&core, &rt, [pod], at: t0)
        #expect(out.actions.contains(.ensureImage(namespace: "default", reference: "busybox", pullPolicy: "Always")))
    }

    @Test func refusedImageWaitsWithItsReasonAndIsRetriedLater() {
        var core = PodSync(), rt = FakeRuntime()
        rt.refuse["busybox:1"] = ImageRefusal(reason: .signature, message: "not signed by a trusted key")
        let pod = simplePod()
        let out = syncSettle(&core, &rt, [pod], at: t0)
        let waiting = out.statuses["u1"]?.containerStatuses?.first?.state?.waiting
        #expect(waiting?.reason == "ErrImageSignature")
        #expect(waiting?.message == "not signed by a trusted key")
        #expect(out.statuses["u1"]?.phase == "Pending")
        let soon = syncStep(&core, &rt, [pod], at: t0 + 1000)
        #expect(soon.actions.isEmpty)
        rt.refuse = [:]
        let later = syncStep(&core, &rt, [pod], at: t0 + 5000)
        #expect(later.actions.contains(.ensureImage(namespace: "default", reference: "busybox:1", pullPolicy: "IfNotPresent")))
        syncSettle(&core, &rt, [pod], at: t0 + 5000)
        #expect(rt.container("app")?.state == .running)
    }

    @Test func initContainersRunOneAtATimeInOrder() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod(initContainers: #"[{"name":"one","image":"busybox:1"},{"name":"two","image":"busybox:1"}]"#)
        var out = syncSettle(&core, &rt, [pod], at: t0)
        #expect(rt.observation.containers.map(\.name) == ["one"])
        #expect(out.statuses["u1"]?.phase == "Pending")
        #expect(out.statuses["u1"]?.containerStatuses?.first?.state?.waiting?.reason == "PodInitializing")
        #expect(out.statuses["u1"]?.conditions?.first { $0.type == "Initialized" }?.status == "False")
        rt.exit("one", code: 0, at: t0 + 1000)
        syncSettle(&core, &rt, [pod], at: t0 + 1000)
        #expect(rt.observation.containers.map(\.name) == ["one", "two"])
        rt.exit("two", code: 0, at: t0 + 2000)
        out = syncSettle(&core, &rt, [pod], at: t0 + 2000)
        #expect(rt.observation.containers.map(\.name) == ["one", "two", "app"])
        out = syncSettle(&core, &rt, [pod], at: t0 + 2100)
        #expect(out.statuses["u1"]?.phase == "Running")
        #expect(out.statuses["u1"]?.initContainerStatuses?.map { $0.state?.terminated?.reason } == ["Completed", "Completed"])
        #expect(out.statuses["u1"]?.conditions?.first { $0.type == "Initialized" }?.status == "True")
    }

    @Test func failedInitContainerFailsANeverPodAndIsRetriedOtherwise() {
        var core = PodSync(), rt = FakeRuntime()
        let inits = #"[{"name":"setup","image":"busybox:1"}]"#
        let never = simplePod(restartPolicy: "Never", initContainers: inits)
        syncSettle(&core, &rt, [never], at: t0)
        rt.exit("setup", code: 3, at: t0 + 500)
        let out = syncSettle(&core, &rt, [never], at: t0 + 500)
        #expect(out.statuses["u1"]?.phase == "Failed")
        #expect(out.statuses["u1"]?.initContainerStatuses?.first?.state?.terminated?.exitCode == 3)
        #expect(rt.container("app") == nil)

        var core2 = PodSync(), rt2 = FakeRuntime()
        let always = simplePod(initContainers: inits)
        syncSettle(&core2, &rt2, [always], at: t0)
        rt2.exit("setup", code: 3, at: t0 + 500)
        syncSettle(&core2, &rt2, [always], at: t0 + 500)
        #expect(rt2.container("setup")?.attempt == 1)
        #expect(rt2.container("setup")?.state == .running)
    }

    @Test func crashLoopBackOffDoublesFromTenSecondsToFiveMinutes() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod()
        syncSettle(&core, &rt, [pod], at: t0)
        var now = t0
        // The first restart is immediate (kubelet: no back-off entry yet).
        now += 1000
        rt.exit("app", code: 1, at: now)
        syncSettle(&core, &rt, [pod], at: now)
        #expect(rt.container("app")?.attempt == 1)
        var expected: [Int64] = []
        var delays: [Int64] = []
        var delay: Int64 = 10_000
        for attempt in 2...8 {
            now += 1000
            rt.exit("app", code: 1, at: now)
            let out = syncSettle(&core, &rt, [pod], at: now)
            let status = out.statuses["u1"]?.containerStatuses?.first
            #expect(status?.state?.waiting?.reason == "CrashLoopBackOff")
            #expect(status?.lastState?.terminated?.exitCode == 1)
            #expect(status?.lastState?.terminated?.reason == "Error")
            #expect(out.statuses["u1"]?.phase == "Running")
            // Not before the delay…
            syncSettle(&core, &rt, [pod], at: now + delay - 1)
            #expect(rt.container("app")?.attempt == attempt - 1)
            // …and right at it.
            now += delay
            syncSettle(&core, &rt, [pod], at: now)
            #expect(rt.container("app")?.attempt == attempt)
            delays.append(delay)
            expected.append(min(10_000 << (attempt - 2), 300_000))
            delay = min(delay * 2, 300_000)
        }
        #expect(delays == expected)
        #expect(delays.last == 300_000)
        let status = syncSettle(&core, &rt, [pod], at: now).statuses["u1"]?.containerStatuses?.first
        #expect(status?.restartCount == 8)
    }

    @Test func backOffResetsAfterTenMinutesOfRunning() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod()
        syncSettle(&core, &rt, [pod], at: t0)
        rt.exit("app", code: 1, at: t0 + 1000)
        syncSettle(&core, &rt, [pod], at: t0 + 1000)
        rt.exit("app", code: 1, at: t0 + 2000)
        syncSettle(&core, &rt, [pod], at: t0 + 12_000)
        #expect(rt.container("app")?.attempt == 2)
        // Runs 11 minutes, then crashes: restarted at once.
        let later = t0 + 12_000 + 11 * 60_000
        rt.exit("app", code: 1, at: later)
        syncSettle(&core, &rt, [pod], at: later)
        #expect(rt.container("app")?.attempt == 3)
    }

    @Test func restartPoliciesDecideAfterExit() {
        for (policy, code, restarts, phase) in [("Always", Int32(0), true, "Running"), ("OnFailure", 0, false, "Succeeded"),
                                                ("OnFailure", 2, true, "Running"), ("Never", 0, false, "Succeeded"),
                                                ("Never", 2, false, "Failed")] {
            var core = PodSync(), rt = FakeRuntime()
            let pod = simplePod(restartPolicy: policy)
            syncSettle(&core, &rt, [pod], at: t0)
            rt.exit("app", code: code, at: t0 + 1000)
            let out = syncSettle(&core, &rt, [pod], at: t0 + 1000)
            #expect((rt.container("app")?.attempt == 1) == restarts, "\(policy) exit \(code)")
            let final = syncSettle(&core, &rt, [pod], at: t0 + 1100)
            #expect(final.statuses["u1"]?.phase == phase, "\(policy) exit \(code)")
            if !restarts {
                let terminated = out.statuses["u1"]?.containerStatuses?.first?.state?.terminated
                #expect(terminated?.exitCode == code)
                #expect(terminated?.reason == (code == 0 ? "Completed" : "Error"))
                #expect(final.statuses["u1"]?.conditions?.first { $0.type == "Ready" }?.reason == "PodCompleted")
            }
        }
    }

    @Test func oomKillIsReportedAsOOMKilled() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod(restartPolicy: "Never")
        syncSettle(&core, &rt, [pod], at: t0)
        rt.exit("app", code: 137, at: t0 + 1000, oom: true)
        let out = syncSettle(&core, &rt, [pod], at: t0 + 1000)
        let terminated = out.statuses["u1"]?.containerStatuses?.first?.state?.terminated
        #expect(terminated?.reason == "OOMKilled")
        #expect(terminated?.exitCode == 137)
        #expect(out.statuses["u1"]?.phase == "Failed")
    }

    @Test func deletionSendsTermThenKillAfterGraceThenRemovesEverything() {
        var core = PodSync(), rt = FakeRuntime()
        var pod = simplePod(extra: #","deletionGracePeriodSeconds":5"#)
        syncSettle(&core, &rt, [pod], at: t0)
        pod.metadata?.deletionTimestamp = Timestamp.format(epochSeconds: t0 / 1000 + 10)
        var out = syncSettle(&core, &rt, [pod], at: t0 + 10_000)
        #expect(rt.signals.map(\.1) == [.term])
        #expect(out.finalized.isEmpty)
        syncSettle(&core, &rt, [pod], at: t0 + 14_999)
        #expect(rt.signals.map(\.1) == [.term])
        syncSettle(&core, &rt, [pod], at: t0 + 15_000)
        #expect(rt.signals.map(\.1) == [.term, .kill])
        rt.exit("app", code: 137, at: t0 + 15_100)
        out = syncStep(&core, &rt, [pod], at: t0 + 15_100)
        #expect(out.actions == [.removeContainer(id: "u1_app_0"), .removeSandbox(podUID: "u1")])
        out = syncStep(&core, &rt, [pod], at: t0 + 15_200)
        #expect(out.finalized == ["u1"])
    }

    @Test func containerThatHonoursTermIsNotKilled() {
        var core = PodSync(), rt = FakeRuntime()
        var pod = simplePod()
        syncSettle(&core, &rt, [pod], at: t0)
        pod.metadata?.deletionTimestamp = "2030-01-01T00:00:00Z"
        syncSettle(&core, &rt, [pod], at: t0 + 1000)
        rt.exit("app", code: 143, at: t0 + 1500)
        syncSettle(&core, &rt, [pod], at: t0 + 1500)
        syncSettle(&core, &rt, [pod], at: t0 + 60_000)
        #expect(rt.signals.map(\.1) == [.term])
        #expect(rt.observation.containers.isEmpty)
        #expect(rt.observation.sandboxes.isEmpty)
    }

    @Test func podsNoLongerDesiredAreStoppedAndRemoved() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod(extra: "")
        syncSettle(&core, &rt, [pod], at: t0)
        syncSettle(&core, &rt, [], at: t0 + 1000)
        #expect(rt.signals.map(\.1) == [.term])
        rt.exit("app", code: 0, at: t0 + 1200)
        let out = syncSettle(&core, &rt, [], at: t0 + 1200)
        #expect(rt.observation.containers.isEmpty)
        #expect(rt.observation.sandboxes.isEmpty)
        #expect(out.statuses.isEmpty)
    }

    @Test func unknownLeftoversAreKilledAtOnce() {
        var core = PodSync(), rt = FakeRuntime()
        rt.observation.containers = [ObservedContainer(id: "zz_old_0", podUID: "zz", name: "old", attempt: 0, state: .running, startedAt: t0)]
        rt.observation.sandboxes["zz"] = ObservedSandbox(podUID: "zz", podIP: "10.88.0.9", createdAt: t0)
        syncStep(&core, &rt, [], at: t0)
        #expect(rt.signals.map(\.1) == [.kill])
        rt.exit("old", code: 137, at: t0 + 10)
        syncStep(&core, &rt, [], at: t0 + 10)
        #expect(rt.observation.containers.isEmpty && rt.observation.sandboxes.isEmpty)
    }

    @Test func olderInstancesAreRemovedAndTheNewestCounts() {
        var core = PodSync(), rt = FakeRuntime()
        rt.observation.sandboxes["u1"] = ObservedSandbox(podUID: "u1", podIP: "10.88.0.5", createdAt: t0)
        rt.observation.images[ImageKey.of(namespace: "default", reference: "busybox:1")] = .ready(imageID: "sha256:abc")
        rt.observation.containers = [
            ObservedContainer(id: "u1_app_0", podUID: "u1", name: "app", attempt: 0, state: .exited, startedAt: t0, finishedAt: t0, exitCode: 1),
            ObservedContainer(id: "u1_app_3", podUID: "u1", name: "app", attempt: 3, state: .running, startedAt: t0),
        ]
        let out = syncStep(&core, &rt, [simplePod()], at: t0 + 10)
        #expect(out.actions == [.removeContainer(id: "u1_app_0")])
        #expect(out.statuses["u1"]?.containerStatuses?.first?.restartCount == 3)
    }

    @Test func readinessDrivesReadyAndLivenessRestarts() {
        var core = PodSync(), rt = FakeRuntime()
        let containers = #"[{"name":"app","image":"busybox:1","readinessProbe":{"exec":{"command":["true"]},"periodSeconds":2},"livenessProbe":{"tcpSocket":{"port":80},"initialDelaySeconds":5,"periodSeconds":1,"failureThreshold":2}}]"#
        let pod = simplePod(containers: containers, extra: #","deletionGracePeriodSeconds":null"#)
        syncSettle(&core, &rt, [pod], at: t0)
        var out = syncSettle(&core, &rt, [pod], at: t0)
        #expect(rt.probesRun.map(\.1) == [.readiness])
        #expect(out.statuses["u1"]?.containerStatuses?.first?.ready == false)
        #expect(out.statuses["u1"]?.conditions?.first { $0.type == "Ready" }?.status == "False")
        rt.observation.probeResults = [ProbeResult(containerID: "u1_app_0", kind: .readiness, success: true)]
        out = syncStep(&core, &rt, [pod], at: t0 + 500)
        #expect(out.statuses["u1"]?.containerStatuses?.first?.ready == true)
        #expect(out.statuses["u1"]?.conditions?.first { $0.type == "Ready" }?.status == "True")
        // Liveness waits for its initial delay.
        #expect(!rt.probesRun.contains { $0.1 == .liveness })
        syncStep(&core, &rt, [pod], at: t0 + 5000)
        #expect(rt.probesRun.filter { $0.1 == .liveness }.count == 1)
        rt.observation.probeResults = [ProbeResult(containerID: "u1_app_0", kind: .liveness, success: false, message: "connection refused")]
        syncStep(&core, &rt, [pod], at: t0 + 6000)
        #expect(rt.signals.isEmpty)
        rt.observation.probeResults = [ProbeResult(containerID: "u1_app_0", kind: .liveness, success: false, message: "connection refused")]
        syncStep(&core, &rt, [pod], at: t0 + 7000)
        #expect(rt.signals.map(\.1) == [.term])
        rt.exit("app", code: 143, at: t0 + 7100)
        out = syncSettle(&core, &rt, [pod], at: t0 + 7100)
        #expect(rt.container("app")?.attempt == 1)
        out = syncSettle(&core, &rt, [pod], at: t0 + 7200)
        let last = out.statuses["u1"]?.containerStatuses?.first?.lastState?.terminated
        #expect(last?.message?.contains("Liveness probe failed: connection refused") == true)
        #expect(out.statuses["u1"]?.containerStatuses?.first?.ready == false)
    }

    @Test func startupProbeGatesTheOthersAndKillsOnFailure() {
        var core = PodSync(), rt = FakeRuntime()
        let containers = #"[{"name":"app","image":"busybox:1","startupProbe":{"exec":{"command":["true"]},"periodSeconds":1,"failureThreshold":2},"readinessProbe":{"exec":{"command":["true"]},"periodSeconds":1}}]"#
        let pod = simplePod(restartPolicy: "Never", containers: containers)
        syncSettle(&core, &rt, [pod], at: t0)
        var out = syncSettle(&core, &rt, [pod], at: t0)
        #expect(rt.probesRun.map(\.1) == [.startup])
        #expect(out.statuses["u1"]?.containerStatuses?.first?.started == false)
        rt.observation.probeResults = [ProbeResult(containerID: "u1_app_0", kind: .startup, success: true)]
        out = syncStep(&core, &rt, [pod], at: t0 + 1000)
        #expect(rt.probesRun.map(\.1) == [.startup, .readiness])
        #expect(out.statuses["u1"]?.containerStatuses?.first?.started == true)

        var core2 = PodSync(), rt2 = FakeRuntime()
        syncSettle(&core2, &rt2, [pod], at: t0)
        for i in 1...2 {
            rt2.observation.probeResults = [ProbeResult(containerID: "u1_app_0", kind: .startup, success: false, message: "exit 1")]
            syncStep(&core2, &rt2, [pod], at: t0 + Int64(i) * 1000)
        }
        syncStep(&core2, &rt2, [pod], at: t0 + 3000)
        #expect(rt2.signals.map(\.1) == [.term])
        #expect(!rt2.probesRun.contains { $0.1 == .readiness })
    }

    @Test func probePeriodIsHonoured() {
        var core = PodSync(), rt = FakeRuntime()
        let containers = #"[{"name":"app","image":"busybox:1","readinessProbe":{"exec":{"command":["true"]},"periodSeconds":3}}]"#
        let pod = simplePod(containers: containers)
        syncSettle(&core, &rt, [pod], at: t0)
        for ms in stride(from: t0, through: t0 + 9000, by: 500) {
            rt.observation.probeResults = rt.probesRun.isEmpty ? [] : [ProbeResult(containerID: "u1_app_0", kind: .readiness, success: true)]
            syncStep(&core, &rt, [pod], at: ms)
        }
        #expect(rt.probesRun.count == 4)  // at 0, 3, 6 and 9 s
    }

    @Test func startFailureWaitsWithReasonAndRetries() {
        var core = PodSync(), rt = FakeRuntime()
        rt.failStart["app"] = RuntimeFailure(reason: "CreateContainerConfigError", message: "configmap \"cfg\" not found", at: 0)
        let pod = simplePod()
        let out = syncSettle(&core, &rt, [pod], at: t0)
        #expect(out.statuses["u1"]?.containerStatuses?.first?.state?.waiting?.reason == "CreateContainerConfigError")
        #expect(syncStep(&core, &rt, [pod], at: t0 + 1000).actions.isEmpty)
        rt.failStart = [:]
        syncSettle(&core, &rt, [pod], at: t0 + 5000)
        #expect(rt.container("app")?.state == .running)
    }

    @Test func statusIsStableWhenNothingChanges() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod()
        syncSettle(&core, &rt, [pod], at: t0)
        let a = syncSettle(&core, &rt, [pod], at: t0 + 1000).statuses["u1"]
        let b = syncSettle(&core, &rt, [pod], at: t0 + 60_000).statuses["u1"]
        #expect(a != nil)
        #expect(a == b)
    }

    @Test func unknownExitIsContainerStatusUnknown() {
        var core = PodSync(), rt = FakeRuntime()
        let pod = simplePod(restartPolicy: "Never")
        syncSettle(&core, &rt, [pod], at: t0)
        rt.observation.containers[0].state = .exited
        rt.observation.containers[0].exitUnknown = true
        rt.observation.containers[0].finishedAt = t0 + 10
        let t = syncSettle(&core, &rt, [pod], at: t0 + 10).statuses["u1"]?.containerStatuses?.first?.state?.terminated
        #expect(t?.reason == "ContainerStatusUnknown")
        #expect(t?.exitCode == 137)
    }

    @Test func containerIDsRoundTrip() {
        let id = ContainerNaming.id(podUID: "5f1c-aa", name: "web-1", attempt: 12)
        #expect(ContainerNaming.parse(id)?.podUID == "5f1c-aa")
        #expect(ContainerNaming.parse(id)?.name == "web-1")
        #expect(ContainerNaming.parse(id)?.attempt == 12)
        #expect(ContainerNaming.parse("nope") == nil)
        #expect(ContainerNaming.parse("a_b_-1") == nil)
    }
}

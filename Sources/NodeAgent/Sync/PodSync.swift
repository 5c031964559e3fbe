import ResourceModel

/// The node agent's pod-sync loop as a pure state machine: the pods bound to this node and what the runtime
/// observed, at `now`, in; actions and pod statuses out. It keeps only what Kubernetes keeps in the kubelet's
/// memory: back-off timers, probe workers, the last terminated state of restarted containers, kill deadlines.
public struct PodSync: Sendable {
    public struct Settings: Sendable {
        /// CrashLoopBackOff: the first delay, doubled on each restart up to `maximumBackoff`, and forgotten after
        /// the container ran for twice the maximum.
        public var initialBackoff: EpochMilliseconds = 10_000
        public var maximumBackoff: EpochMilliseconds = 300_000
        /// How long to wait before retrying a sandbox, an image or a container that failed to start.
        public var retryDelay: EpochMilliseconds = 5_000
        public var hostIP: String?
        public init() {}
    }

    struct Backoff: Sendable {
        var delay: EpochMilliseconds
        var lastUpdate: EpochMilliseconds
    }

    struct ProbeWorker: Sendable {
        var successes = 0
        var failures = 0
        var result: Bool
        var lastRun: EpochMilliseconds?
        var inFlight = false
    }

    struct Stop: Sendable {
        var deadline: EpochMilliseconds
        var killSent: Bool
    }

    struct PodMemory: Sendable {
        var backoff: [String: Backoff] = [:]
        var probes: [String: [ProbeKind: ProbeWorker]] = [:]  // by container id
        var lastTerminated: [String: ContainerStateTerminated] = [:]  // by container name
        var stopping: [String: Stop] = [:]  // by container id
        var killMessages: [String: String] = [:]  // by container id: why the agent killed it
        var probeMessages: [String: String] = [:]  // by container id: the last failed probe's output
        var transitions: [String: (status: String, at: String)] = [:]
        var startTime: String?
        var gracePeriodSeconds: Int64 = 30
    }

    public var settings: Settings
    var pods: [String: PodMemory] = [:]

    public init(settings: Settings = Settings()) { self.settings = settings }

    public mutating func step(desired: [Pod], observed: RuntimeObservation, now: EpochMilliseconds) -> SyncOutput {
        var output = SyncOutput()
        var byPod: [String: [ObservedContainer]] = [:]
        for container in observed.containers { byPod[container.podUID, default: []].append(container) }
        for result in observed.probeResults { record(result) }

        var wanted: Set<String> = []
        var requestedImages: Set<String> = []
        for pod in desired {
            guard let uid = pod.metadata?.uid, !uid.isEmpty, pod.spec != nil else { continue }
            wanted.insert(uid)
            sync(pod: pod, uid: uid, containers: byPod[uid] ?? [], observed: observed, now: now,
                 requestedImages: &requestedImages, output: &output)
        }

        // Pods no longer bound here: stop what still runs (with the grace period we remember), then remove.
        let leftovers = Set(byPod.keys).union(observed.sandboxes.keys).subtracting(wanted)
        for uid in leftovers.sorted() {
            let grace = pods[uid]?.gracePeriodSeconds ?? 0
            if teardown(uid: uid, containers: byPod[uid] ?? [], hasSandbox: observed.sandboxes[uid] != nil,
                        grace: grace, now: now, output: &output) {
                pods[uid] = nil
            }
        }
        for uid in Set(pods.keys).subtracting(wanted).subtracting(leftovers) { pods[uid] = nil }
        return output
    }

    // MARK: - One pod

    mutating func sync(pod: Pod, uid: String, containers: [ObservedContainer], observed: RuntimeObservation, now: EpochMilliseconds,
                       requestedImages: inout Set<String>, output: inout SyncOutput) {
        let spec = pod.spec ?? PodSpec()
        let namespace = pod.metadata?.namespace ?? "default"
        var memory = pods[uid] ?? PodMemory()
        memory.gracePeriodSeconds = max(0, pod.metadata?.deletionGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30)
        if memory.startTime == nil { memory.startTime = Timestamp.format(epochSeconds: now / 1000) }
        pods[uid] = memory

        var latest: [String: ObservedContainer] = [:]
        for c in containers where c.attempt >= (latest[c.name]?.attempt ?? -1) { latest[c.name] = c }
        // Older instances of a container are never kept.
        for c in containers where c.id != latest[c.name]?.id {
            if c.state == .running { stop(id: c.id, uid: uid, grace: 0, now: now, output: &output) } else { output.actions.append(.removeContainer(id: c.id)) }
        }
        let sandbox = observed.sandboxes[uid]

        if pod.metadata?.deletionTimestamp != nil {
            let done = teardown(uid: uid, containers: Array(latest.values), hasSandbox: sandbox != nil,
                                grace: pods[uid]?.gracePeriodSeconds ?? 30, now: now, output: &output)
            if done { output.finalized.append(uid) }
            output.statuses[uid] = status(pod: pod, uid: uid, latest: latest, sandbox: sandbox, plan: Plan(), observed: observed, now: now)
            return
        }

        var plan = Plan()
        if sandbox == nil {
            if let failure = observed.sandboxFailures[uid], now < failure.at + settings.retryDelay {
                plan.sandboxMessage = failure.message
            } else {
                output.actions.append(.createSandbox(podUID: uid))
                // The images are looked up while the sandbox is made: neither waits for the other.
                var ignored = Plan()
                for container in (spec.initContainers ?? []) + spec.containers {
                    _ = imageReady(container, namespace: namespace, observed: observed, now: now, plan: &ignored,
                                   requestedImages: &requestedImages, output: &output)
                }
            }
            output.statuses[uid] = status(pod: pod, uid: uid, latest: latest, sandbox: nil, plan: plan, observed: observed, now: now)
            return
        }

        let policy = spec.restartPolicy ?? "Always"
        // Init containers, one at a time in order; each must succeed before the next.
        var initialized = true
        for container in spec.initContainers ?? [] {
            let current = latest[container.name]
            if let current, current.state == .exited, current.exitCode == 0, !current.exitUnknown { continue }
            initialized = false
            if let current, current.state == .running {
                superviseStop(current, uid: uid, now: now, output: &output)
                break
            }
            if let current, current.state == .exited {
                if policy == "Never" { plan.failed = true; break }
                restart(current, container: container, pod: pod, uid: uid, namespace: namespace, observed: observed, now: now,
                        plan: &plan, requestedImages: &requestedImages, output: &output)
                break
            }
            startFirst(container, pod: pod, uid: uid, namespace: namespace, observed: observed, now: now,
                       plan: &plan, requestedImages: &requestedImages, output: &output)
            break
        }
        plan.initialized = initialized

        if initialized && !plan.failed {
            for container in spec.containers {
                guard let current = latest[container.name] else {
                    startFirst(container, pod: pod, uid: uid, namespace: namespace, observed: observed, now: now,
                               plan: &plan, requestedImages: &requestedImages, output: &output)
                    continue
                }
                switch current.state {
                case .running:
                    superviseStop(current, uid: uid, now: now, output: &output)
                    probe(current, container: container, uid: uid, now: now, output: &output)
                case .exited:
                    pods[uid]?.probes[current.id] = nil
                    let succeeded = current.exitCode == 0 && !current.exitUnknown
                    let again = policy == "Always" || (policy == "OnFailure" && !succeeded)
                    if again {
                        restart(current, container: container, pod: pod, uid: uid, namespace: namespace, observed: observed, now: now,
                                plan: &plan, requestedImages: &requestedImages, output: &output)
                    }
                }
            }
        }
        output.statuses[uid] = status(pod: pod, uid: uid, latest: latest, sandbox: sandbox, plan: plan, observed: observed, now: now)
    }

    /// Why containers that do not run are waiting, decided while planning and shown in the status.
    struct Plan {
        var waiting: [String: ContainerStateWaiting] = [:]
        var sandboxMessage: String?
        var initialized = false
        var failed = false
    }

    /// Returns whether the image may be used now, asking the shell for it (once per step and image) if not.
    mutating func imageReady(_ container: Container, namespace: String, observed: RuntimeObservation, now: EpochMilliseconds,
                             plan: inout Plan, requestedImages: inout Set<String>, output: inout SyncOutput) -> Bool {
        let reference = container.image ?? ""
        let key = ImageKey.of(namespace: namespace, reference: reference)
        switch observed.images[key] {
        case .ready: return true
        case .refused(let reason, let message, let at):
            plan.waiting[container.name] = ContainerStateWaiting(reason: reason, message: message)
            if now < at + settings.retryDelay { return false }
        case nil:
            plan.waiting[container.name] = ContainerStateWaiting(reason: "ContainerCreating")
        }
        if !requestedImages.contains(key) {
            requestedImages.insert(key)
            let policy = container.imagePullPolicy ?? (reference.hasSuffix(":latest") || !reference.contains(":") ? "Always" : "IfNotPresent")
            output.actions.append(.ensureImage(namespace: namespace, reference: reference, pullPolicy: policy))
        }
        return false
    }

    mutating func startFirst(_ container: Container, pod: Pod, uid: String, namespace: String, observed: RuntimeObservation,
                             now: EpochMilliseconds, plan: inout Plan, requestedImages: inout Set<String>, output: inout SyncOutput) {
        guard imageReady(container, namespace: namespace, observed: observed, now: now, plan: &plan,
                         requestedImages: &requestedImages, output: &output) else { return }
        if let failure = observed.startFailures[ContainerKey(podUID: uid, name: container.name)], now < failure.at + settings.retryDelay {
            plan.waiting[container.name] = ContainerStateWaiting(reason: failure.reason, message: failure.message)
            return
        }
        plan.waiting[container.name] = ContainerStateWaiting(reason: "ContainerCreating")
        output.actions.append(.startContainer(podUID: uid, name: container.name, attempt: 0))
    }

    /// Restarts an exited container unless it is in CrashLoopBackOff (kubelet's rule: back off while
    /// `now - finishedAt < delay`; each restart doubles the delay; a delay untouched for 2× the maximum resets).
    mutating func restart(_ current: ObservedContainer, container: Container, pod: Pod, uid: String, namespace: String,
                          observed: RuntimeObservation, now: EpochMilliseconds, plan: inout Plan, requestedImages: inout Set<String>,
                          output: inout SyncOutput) {
        let finished = current.finishedAt ?? now
        let name = container.name
        if let entry = pods[uid]?.backoff[name], finished - entry.lastUpdate <= 2 * settings.maximumBackoff, now - finished < entry.delay {
            let podName = pod.metadata?.name ?? uid
            plan.waiting[name] = ContainerStateWaiting(
                reason: "CrashLoopBackOff",
                message: "back-off \(entry.delay / 1000)s restarting failed container=\(name) pod=\(podName)_\(namespace)(\(uid))")
            return
        }
        guard imageReady(container, namespace: namespace, observed: observed, now: now, plan: &plan,
                         requestedImages: &requestedImages, output: &output) else { return }
        if let failure = observed.startFailures[ContainerKey(podUID: uid, name: name)], failure.at > finished, now < failure.at + settings.retryDelay {
            plan.waiting[name] = ContainerStateWaiting(reason: failure.reason, message: failure.message)
            return
        }
        if let entry = pods[uid]?.backoff[name], now - entry.lastUpdate <= 2 * settings.maximumBackoff {
            pods[uid]?.backoff[name] = Backoff(delay: min(entry.delay * 2, settings.maximumBackoff), lastUpdate: now)
        } else {
            pods[uid]?.backoff[name] = Backoff(delay: settings.initialBackoff, lastUpdate: now)
        }
        let last = terminated(current, uid: uid)
        pods[uid]?.lastTerminated[name] = last
        pods[uid]?.probes[current.id] = nil
        pods[uid]?.killMessages[current.id] = nil
        pods[uid]?.probeMessages[current.id] = nil
        pods[uid]?.stopping[current.id] = nil
        plan.waiting[name] = ContainerStateWaiting(reason: "ContainerCreating")
        output.actions.append(.removeContainer(id: current.id))
        output.actions.append(.startContainer(podUID: uid, name: name, attempt: current.attempt + 1))
    }

    // MARK: - Stopping

    /// Sends SIGTERM now and SIGKILL once the grace period is over (at once when it is 0).
    mutating func stop(id: String, uid: String, grace: Int64, now: EpochMilliseconds, output: inout SyncOutput) {
        if pods[uid] == nil { pods[uid] = PodMemory() }
        if pods[uid]?.stopping[id] != nil {
            superviseStop(id: id, uid: uid, now: now, output: &output)
            return
        }
        if grace <= 0 {
            pods[uid]?.stopping[id] = Stop(deadline: now, killSent: true)
            output.actions.append(.signalContainer(id: id, signal: .kill))
        } else {
            pods[uid]?.stopping[id] = Stop(deadline: now + grace * 1000, killSent: false)
            output.actions.append(.signalContainer(id: id, signal: .term))
        }
    }

    mutating func superviseStop(_ container: ObservedContainer, uid: String, now: EpochMilliseconds, output: inout SyncOutput) {
        superviseStop(id: container.id, uid: uid, now: now, output: &output)
    }

    mutating func superviseStop(id: String, uid: String, now: EpochMilliseconds, output: inout SyncOutput) {
        guard let stop = pods[uid]?.stopping[id], !stop.killSent, now >= stop.deadline else { return }
        pods[uid]?.stopping[id]?.killSent = true
        output.actions.append(.signalContainer(id: id, signal: .kill))
    }

    /// Stops everything of a pod, then removes its containers and sandbox. Returns true once nothing is left.
    mutating func teardown(uid: String, containers: [ObservedContainer], hasSandbox: Bool, grace: Int64, now: EpochMilliseconds,
                           output: inout SyncOutput) -> Bool {
        let running = containers.filter { $0.state == .running }
        for c in running { stop(id: c.id, uid: uid, grace: grace, now: now, output: &output) }
        guard running.isEmpty else { return false }
        for c in containers {
            output.actions.append(.removeContainer(id: c.id))
            pods[uid]?.stopping[c.id] = nil
        }
        if hasSandbox { output.actions.append(.removeSandbox(podUID: uid)) }
        return containers.isEmpty && !hasSandbox
    }

    // MARK: - Probes

    mutating func record(_ result: ProbeResult) {
        guard let parsed = ContainerNaming.parse(result.containerID),
              var worker = pods[parsed.podUID]?.probes[result.containerID]?[result.kind] else { return }
        worker.inFlight = false
        if result.success {
            worker.successes += 1
            worker.failures = 0
        } else {
            worker.failures += 1
            worker.successes = 0
        }
        pods[parsed.podUID]?.probes[result.containerID]?[result.kind] = worker
        if !result.success { pods[parsed.podUID]?.probeMessages[result.containerID] = result.message }
    }

    mutating func probe(_ current: ObservedContainer, container: Container, uid: String, now: EpochMilliseconds, output: inout SyncOutput) {
        guard pods[uid]?.stopping[current.id] == nil else { return }
        let started = current.startedAt ?? now
        var workers = pods[uid]?.probes[current.id] ?? [:]
        let specs: [(ProbeKind, Probe?)] = [(.startup, container.startupProbe), (.liveness, container.livenessProbe),
                                            (.readiness, container.readinessProbe)]
        var kill: String?
        for (kind, spec) in specs {
            guard let spec else { continue }
            var worker = workers[kind] ?? ProbeWorker(result: kind == .liveness)
            let successThreshold = kind == .readiness ? max(1, spec.successThreshold ?? 1) : 1
            let failureThreshold = max(1, spec.failureThreshold ?? 3)
            if worker.successes >= successThreshold { worker.result = true }
            if worker.failures >= failureThreshold {
                worker.result = false
                if kind != .readiness, kill == nil {
                    kill = "\(kind == .liveness ? "Liveness" : "Startup") probe failed: \(pods[uid]?.probeMessages[current.id] ?? "")"
                    worker.failures = 0
                }
            }
            workers[kind] = worker
            // Startup gates the others: until it succeeds, liveness and readiness do not run.
            if kind != .startup, container.startupProbe != nil, workers[.startup]?.result != true { continue }
            if kind == .startup, worker.result { continue }
            let delay = EpochMilliseconds(max(0, spec.initialDelaySeconds ?? 0)) * 1000
            let period = EpochMilliseconds(max(1, spec.periodSeconds ?? 10)) * 1000
            guard !worker.inFlight, now >= started + delay, now >= (worker.lastRun ?? Int64.min / 2) + period else { continue }
            worker.inFlight = true
            worker.lastRun = now
            workers[kind] = worker
            output.actions.append(.runProbe(containerID: current.id, podUID: uid, name: container.name, kind: kind, probe: spec))
        }
        pods[uid]?.probes[current.id] = workers
        if let kill {
            pods[uid]?.killMessages[current.id] = kill
            let grace = container.livenessProbe?.terminationGracePeriodSeconds ?? pods[uid]?.gracePeriodSeconds ?? 30
            stop(id: current.id, uid: uid, grace: grace, now: now, output: &output)
        }
    }

    func probeResult(_ kind: ProbeKind, container: Container, id: String, uid: String) -> Bool {
        let spec: Probe? = switch kind {
        case .startup: container.startupProbe
        case .liveness: container.livenessProbe
        case .readiness: container.readinessProbe
        }
        guard spec != nil else { return true }
        return pods[uid]?.probes[id]?[kind]?.result ?? (kind == .liveness)
    }

    // MARK: - Status

    func terminated(_ c: ObservedContainer, uid: String) -> ContainerStateTerminated {
        var t = ContainerStateTerminated(exitCode: c.exitUnknown ? 137 : (c.exitCode ?? 0))
        if c.exitUnknown {
            t.reason = "ContainerStatusUnknown"
            t.message = "The container ended while no agent was watching it; its exit status is unknown"
        } else if c.oomKilled {
            t.reason = "OOMKilled"
        } else {
            t.reason = t.exitCode == 0 ? "Completed" : "Error"
        }
        if let message = pods[uid]?.killMessages[c.id], t.message == nil, !message.isEmpty { t.message = message }
        t.signal = c.signal
        t.startedAt = c.startedAt.map { Timestamp.format(epochSeconds: $0 / 1000) }
        t.finishedAt = c.finishedAt.map { Timestamp.format(epochSeconds: $0 / 1000) }
        t.containerID = "runc://\(c.id)"
        return t
    }

    func containerStatus(_ container: Container, uid: String, current: ObservedContainer?, plan: Plan, isInit: Bool,
                         defaultWaiting: String, observed: RuntimeObservation, namespace: String) -> ContainerStatus {
        var s = ContainerStatus(name: container.name, image: container.image ?? "")
        if case .ready(let imageID) = observed.images[ImageKey.of(namespace: namespace, reference: container.image ?? "")] {
            s.imageID = imageID
        }
        if let last = pods[uid]?.lastTerminated[container.name] { s.lastState = ContainerState(terminated: last) }
        guard let current else {
            s.state = ContainerState(waiting: plan.waiting[container.name] ?? ContainerStateWaiting(reason: defaultWaiting))
            s.started = isInit ? nil : false
            return s
        }
        s.restartCount = Int32(clamping: current.attempt)
        s.containerID = "runc://\(current.id)"
        switch current.state {
        case .running:
            s.state = ContainerState(running: ContainerStateRunning(startedAt: current.startedAt.map { Timestamp.format(epochSeconds: $0 / 1000) }))
            if isInit {
                s.ready = false
            } else {
                let started = probeResult(.startup, container: container, id: current.id, uid: uid)
                s.started = started
                s.ready = started && probeResult(.readiness, container: container, id: current.id, uid: uid)
            }
        case .exited:
            if let waiting = plan.waiting[container.name] {
                s.state = ContainerState(waiting: waiting)
                s.lastState = ContainerState(terminated: terminated(current, uid: uid))
            } else {
                s.state = ContainerState(terminated: terminated(current, uid: uid))
            }
            s.ready = isInit && current.exitCode == 0 && !current.exitUnknown
            s.started = isInit ? nil : false
        }
        return s
    }

    mutating func status(pod: Pod, uid: String, latest: [String: ObservedContainer], sandbox: ObservedSandbox?, plan: Plan,
                         observed: RuntimeObservation, now: EpochMilliseconds) -> PodStatus {
        let spec = pod.spec ?? PodSpec()
        let namespace = pod.metadata?.namespace ?? "default"
        var plan = plan
        if let message = plan.sandboxMessage {
            for c in (spec.initContainers ?? []) + spec.containers where plan.waiting[c.name] == nil {
                plan.waiting[c.name] = ContainerStateWaiting(reason: "ContainerCreating", message: message)
            }
        }
        var status = PodStatus()
        let inits = (spec.initContainers ?? []).map {
            containerStatus($0, uid: uid, current: latest[$0.name], plan: plan, isInit: true, defaultWaiting: "PodInitializing",
                            observed: observed, namespace: namespace)
        }
        let initsDone = inits.allSatisfy { $0.state?.terminated?.exitCode == 0 }
        let apps = spec.containers.map {
            containerStatus($0, uid: uid, current: latest[$0.name], plan: plan, isInit: false,
                            defaultWaiting: initsDone ? "ContainerCreating" : "PodInitializing", observed: observed, namespace: namespace)
        }
        if !inits.isEmpty { status.initContainerStatuses = inits }
        status.containerStatuses = apps
        status.phase = phase(spec: spec, inits: inits, apps: apps, initFailed: plan.failed)
        if let ip = sandbox?.podIP {
            status.podIP = ip
            // PodIP has no public memberwise init; build it through its Codable form.
            status.podIPs = (try? JSONValue.object(["ip": .string(ip)]).decode(PodIP.self)).map { [$0] }
        }
        status.hostIP = settings.hostIP
        status.startTime = pods[uid]?.startTime

        let containersReady = !apps.isEmpty && apps.allSatisfy(\.ready)
        let completed = status.phase == "Succeeded" || status.phase == "Failed"
        var conditions: [Condition] = []
        func condition(_ type: String, _ value: Bool, reason: String?) {
            let text = value ? "True" : "False"
            var at = Timestamp.format(epochSeconds: now / 1000)
            if let previous = pods[uid]?.transitions[type], previous.status == text { at = previous.at }
            pods[uid]?.transitions[type] = (text, at)
            var c = Condition(type: type, status: text, reason: value ? nil : reason)
            c.lastTransitionTime = at
            conditions.append(c)
        }
        condition("PodScheduled", true, reason: nil)
        condition("Initialized", initsDone, reason: "ContainersNotInitialized")
        condition("ContainersReady", containersReady, reason: completed ? "PodCompleted" : "ContainersNotReady")
        condition("Ready", containersReady, reason: completed ? "PodCompleted" : "ContainersNotReady")
        status.conditions = conditions
        return status
    }

    /// Kubernetes' phase rules (kubelet `getPhase`).
    func phase(spec: PodSpec, inits: [ContainerStatus], apps: [ContainerStatus], initFailed: Bool) -> String {
        let policy = spec.restartPolicy ?? "Always"
        if initFailed { return "Failed" }
        let initsDone = inits.allSatisfy { $0.state?.terminated?.exitCode == 0 }
        if !initsDone { return "Pending" }
        var waiting = 0, running = 0, succeeded = 0, failed = 0
        for s in apps {
            if s.state?.running != nil {
                running += 1
            } else if let t = s.state?.terminated {
                if t.exitCode == 0 { succeeded += 1 } else { failed += 1 }
            } else if let last = s.lastState?.terminated {
                // Waiting to restart: counts as it last ended.
                if policy == "Always" || (policy == "OnFailure" && last.exitCode != 0) { running += 1 } else if last.exitCode == 0 { succeeded += 1 } else { failed += 1 }
            } else {
                waiting += 1
            }
        }
        if waiting > 0 { return "Pending" }
        if running > 0 { return "Running" }
        if policy == "Always" { return "Running" }
        if failed > 0 { return policy == "OnFailure" ? "Running" : "Failed" }
        return "Succeeded"
    }
}

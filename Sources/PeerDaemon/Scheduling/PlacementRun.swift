import Consensus
import Gossip
import Logging
import Placement
import ResourceModel

/// How the scheduling leader behaves; from the peer's configuration.
struct PlacementSettings: Sendable {
    /// How long a node may stay not ready before its pods are evicted (config `nodeGracePeriodSeconds`).
    var nodeGracePeriodSeconds: Int64 = 40
    var scoringPolicy: ScoringPolicy = .mostAllocated
    /// Bindings per Raft proposal: one compare-and-swap batch.
    var bindingBatch = 500
    /// Every controller reconciles everything this often, besides reacting to changes.
    var resyncSeconds: Int64 = 5
    /// A pod that fit nowhere is tried again after this long, or at once when the cluster changes.
    var unschedulableRetrySeconds: Int64 = 10
}

/// Placement for one leader term: follows the store (list, then the watch history), feeds Placement's pure
/// scheduler and controllers, and writes their decisions back as compare-and-swap writes, so a deposed
/// leader's late write fails instead of binding a pod twice. `LeaderDuties` cancels it when the term ends.
struct PlacementRun {
    let consensus: ConsensusNode
    let kubernetes: KubernetesAPI
    let members: @Sendable () -> [MemberState]
    /// Gossip's membership changes, subscribed afresh for each wait; nil: the members are looked at each second.
    let membershipEvents: (@Sendable () -> AsyncStream<MembershipEvent>)?
    let settings: PlacementSettings
    let logger: Logger

    var mirror: ObjectMirror
    var cache = SchedulingCache()
    var scheduler: Scheduler
    var rng: SplitMixRandom
    var recorder: EventRecorder
    var events: [EventRecord] = []

    /// Store keys of unbound, active pods.
    var pending: Set<String> = []
    /// Pods that fit nowhere, and when.
    var unschedulable: [String: Int64] = [:]
    var clusterChanged = false
    var dirtyDeployments: Set<String> = []
    var dirtyReplicaSets: Set<String> = []
    var dirtyJobs: Set<String> = []
    var dirtyDaemonSets: Set<String> = []
    var garbageDue = true
    var lastResync: Int64 = 0
    var lastNodeSync: Int64 = 0
    /// Nodes are kept from gossip when the members, a Node or a bound pod change, or at the deadline the
    /// last pass computed (an eviction falling due): an idle cluster's leader then does no node work at all.
    var nodeSchedule = ReconcileSchedule()
    /// The members the last pass saw (gossip's list is replaced, not edited, so an unchanged one compares
    /// by identity).
    var lastMembers: [MemberState]?
    /// When this term's placement started listing.
    var startedAt: Int64 = 0
    var podKind: ResourceInfo

    init(consensus: ConsensusNode, kubernetes: KubernetesAPI, members: @escaping @Sendable () -> [MemberState],
         membershipEvents: (@Sendable () -> AsyncStream<MembershipEvent>)? = nil, settings: PlacementSettings,
         reportingInstance: String, logger: Logger) {
        self.consensus = consensus
        self.kubernetes = kubernetes
        self.members = members
        self.membershipEvents = membershipEvents
        self.settings = settings
        self.logger = logger
        mirror = ObjectMirror(codec: kubernetes.codec)
        scheduler = Scheduler(configuration: SchedulerConfiguration(policy: settings.scoringPolicy))
        rng = SplitMixRandom(seed: kubernetes.random.next())
        recorder = EventRecorder(reportingInstance: reportingInstance)
        podKind = ObjectMirror.infos[0]
    }

    mutating func run() async {
        startedAt = kubernetes.now()
        while !Task.isCancelled {
            do {
                try await relist()
                break
            } catch {
                logger.info("placement cannot list the store yet; will retry", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        logger.info("placement running", metadata: ["revision": "\(mirror.revision)", "pods": "\(mirror.pods.count)",
                                                     "nodes": "\(cache.nodeCount)"])
        while !Task.isCancelled {
            do {
                try await pull()
            } catch {
                logger.info("placement watch fell behind; listing again", metadata: ["error": "\(error)"])
                do { try await relist() } catch {
                    try? await Task.sleep(for: .milliseconds(500))
                    continue
                }
            }
            let now = kubernetes.now()
            let seen = members()
            if seen != lastMembers {
                lastMembers = seen
                nodeSchedule.inputsChanged()
            }
            if now != lastNodeSync && nodeSchedule.isDue(now: now) {
                lastNodeSync = now
                await syncNodes(seen, now: now)
            }
            await schedulePending(now: now)
            await reconcileControllers(now: now)
            await collectGarbage()
            await flushEvents(now: now)
            // A membership change shows in `members()` at the next pass (gossip publishes the list first).
            await waitForChange(atMost: longestWait(now: now))
            if Task.isCancelled { return }
        }
    }

    // MARK: Following the store

    /// How long the next wait may last: until the first timed duty (a node deadline, the controllers'
    /// resync while they have objects, a retry of unschedulable pods), at most `longestIdleWait`.
    func longestWait(now: Int64) -> Duration {
        var at = now + Self.longestIdleWait
        if let due = nodeSchedule.dueAt { at = min(at, max(due, lastNodeSync + 1)) }
        if ObjectMirror.controllerKinds.contains(where: { !mirror.entries($0).isEmpty }) {
            at = min(at, lastResync + settings.resyncSeconds)
        }
        for key in pending {
            // A pending pod without a failure was not written (a conflict, no leader): try again soon.
            guard let failedAt = unschedulable[key] else { return Self.soonRetry }
            at = min(at, failedAt + settings.unschedulableRetrySeconds)
        }
        // Whole seconds from `now` (the clock's floor) never wake before `at`.
        return at <= now ? Self.soonRetry : .seconds(at - now)
    }

    /// An idle leader's longest sleep: every duty is woken by a change or a deadline, this only bounds a miss.
    static let longestIdleWait: Int64 = 30
    static let soonRetry: Duration = .milliseconds(500)

    /// Waits for a store change, a membership change or `period`, whichever comes first.
    func waitForChange(atMost period: Duration) async {
        let revision = mirror.revision
        let consensus = self.consensus
        // Subscribed before the list is compared, so that no change falls between the two.
        let events = membershipEvents?()
        let period = events == nil ? min(period, .seconds(1)) : period
        if events != nil, members() != lastMembers { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await consensus.waitForRevision(after: revision) }
            group.addTask { try? await Task.sleep(for: period) }
            if let events {
                group.addTask { for await _ in events { return } }
            }
            _ = await group.next()
            group.cancelAll()
        }
        // Let a burst of writes land together: one pass then handles them all.
        try? await Task.sleep(for: .milliseconds(5))
    }

    mutating func relist() async throws {
        let (items, revision) = try await consensus.read(.linearizable) { store -> ([StoreKeyValue], UInt64) in
            var all: [StoreKeyValue] = []
            for p in ObjectMirror.prefixes { all += (try? store.range(prefix: p.prefix).items) ?? [] }
            return (all, store.revision)
        }
        _ = mirror.load(items, revision: revision)
        var nodes: [Node] = []
        for entry in mirror.entries("Node").values { if let n = try? entry.json.decode(Node.self) { nodes.append(n) } }
        let bound = mirror.pods.values.filter { !($0.view.spec?.nodeName ?? "").isEmpty }.map(\.view)
        cache = SchedulingCache(nodes: nodes.sorted { ($0.metadata?.name ?? "") < ($1.metadata?.name ?? "") }, pods: bound)
        pending = Set(mirror.pods.filter { ($0.value.view.spec?.nodeName ?? "").isEmpty && $0.value.isActive }.keys)
        unschedulable = [:]
        dirtyDeployments = Set(mirror.entries("Deployment").keys)
        dirtyReplicaSets = Set(mirror.entries("ReplicaSet").keys)
        dirtyJobs = Set(mirror.entries("Job").keys)
        dirtyDaemonSets = Set(mirror.entries("DaemonSet").keys)
        garbageDue = true
        nodeSchedule.inputsChanged()
    }

    /// Applies every event up to the store's current revision.
    mutating func pull() async throws {
        let target = consensus.revision
        while mirror.revision < target {
            let after = mirror.revision
            let result = try await consensus.read(.stale) { store -> Result<StoreWatchBatch, StoreReadError> in
                do throws(StoreReadError) { return .success(try store.events(after: after, matching: .prefix("/registry/"), limit: 20_000)) } catch {
                    return .failure(error)
                }
            }
            let batch = try result.get()
            let changes = mirror.apply(batch.events, through: batch.nextAfter)
            for change in changes { handle(change) }
            if batch.nextAfter <= after { break }
        }
    }

    mutating func handle(_ change: ObjectMirror.Change) {
        let meta = (change.new ?? change.old)?["metadata"]
        let namespace = meta?["namespace"]?.stringValue
        if change.new == nil || change.new?["metadata"]?["deletionTimestamp"] != nil { garbageDue = true }
        switch change.kind {
        case "Pod":
            // A bound pod counts for its node's evictions, and for the pods of nodes that are gone.
            if change.new?["spec"]?["nodeName"] != nil || change.old?["spec"]?["nodeName"] != nil { nodeSchedule.inputsChanged() }
            if let pod = mirror.pods[change.key] {
                let bound = !(pod.view.spec?.nodeName ?? "").isEmpty
                if bound {
                    cache.addPod(pod.view)
                    pending.remove(change.key)
                } else {
                    cache.removePod(PodKey(pod.view))
                    if pod.isActive { pending.insert(change.key) } else { pending.remove(change.key) }
                }
                if !pod.isActive { clusterChanged = true }
            } else if let old = change.old {
                cache.removePod(PodKey(namespace: namespace ?? "default", name: old["metadata"]?["name"]?.stringValue ?? ""))
                pending.remove(change.key)
                unschedulable[change.key] = nil
                clusterChanged = true
            }
            markOwnerDirty(meta, namespace: namespace)
        case "Node":
            nodeSchedule.inputsChanged()
            if let json = change.new, let node = try? json.decode(Node.self) {
                cache.upsertNode(node)
            } else if let name = change.old?["metadata"]?["name"]?.stringValue {
                cache.removeNode(named: name)
            }
            clusterChanged = true
            dirtyDaemonSets.formUnion(mirror.entries("DaemonSet").keys)
        case "Deployment": dirtyDeployments.insert(change.key)
        case "ReplicaSet":
            dirtyReplicaSets.insert(change.key)
            markOwnerDirty(meta, namespace: namespace)
        case "Job": dirtyJobs.insert(change.key)
        case "DaemonSet": dirtyDaemonSets.insert(change.key)
        default: break
        }
    }

    mutating func markOwnerDirty(_ meta: JSONValue?, namespace: String?) {
        let refs = meta?["ownerReferences"]?.arrayValue ?? []
        guard let owner = refs.first(where: { $0["controller"]?.boolValue == true }),
              let kind = owner["kind"]?.stringValue, let name = owner["name"]?.stringValue,
              let key = ObjectMirror.key(kind: kind, namespace: namespace, name: name) else { return }
        switch kind {
        case "ReplicaSet": dirtyReplicaSets.insert(key)
        case "Deployment": dirtyDeployments.insert(key)
        case "Job": dirtyJobs.insert(key)
        case "DaemonSet": dirtyDaemonSets.insert(key)
        default: break
        }
    }

    // MARK: Scheduling

    mutating func schedulePending(now: Int64) async {
        if clusterChanged {
            unschedulable = [:]
            clusterChanged = false
        }
        let ready = pending.filter { key in unschedulable[key].map { now - $0 >= settings.unschedulableRetrySeconds } ?? true }
        guard !ready.isEmpty else { return }
        let pods = ready.sorted().compactMap { mirror.pods[$0]?.view }
        let outcome = scheduler.schedule(pods, cache: &cache, using: &rng)

        // Bindings: compare-and-swap on each pod's revision, many to a proposal.
        var writes: [PendingWrite] = []
        writes.reserveCapacity(outcome.bindings.count)
        for binding in outcome.bindings {
            guard let key = ObjectMirror.key(kind: "Pod", namespace: binding.pod.namespace, name: binding.pod.name),
                  let entry = mirror.entry("Pod", key: key), var bound = binding.boundPod(entry.json) else {
                cache.removePod(binding.pod)
                continue
            }
            Self.setCondition(&bound, type: "PodScheduled", status: "True", reason: nil, message: nil, now: now)
            guard let value = try? mirror.codec.encode(bound, as: podKind) else {
                cache.removePod(binding.pod)
                continue
            }
            writes.append(PendingWrite(key: key, kind: "Pod", object: bound, binding: binding,
                                       operation: .put(key: key, value: value, expectedModRevision: entry.modRevision)))
        }
        var failedStatus: [PendingWrite] = []
        for failure in outcome.failures {
            guard let key = ObjectMirror.key(kind: "Pod", namespace: failure.pod.namespace, name: failure.pod.name),
                  let entry = mirror.entry("Pod", key: key) else { continue }
            unschedulable[key] = now
            var pod = entry.json
            let existing = (pod["status"]?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "PodScheduled" }
            guard existing?["message"]?.stringValue != failure.message else { continue }
            Self.setCondition(&pod, type: "PodScheduled", status: "False", reason: "Unschedulable", message: failure.message, now: now)
            guard let value = try? mirror.codec.encode(pod, as: podKind) else { continue }
            failedStatus.append(PendingWrite(key: key, kind: "Pod", object: pod, binding: nil,
                                             operation: .put(key: key, value: value, expectedModRevision: entry.modRevision)))
        }
        events += outcome.events().filter { $0.reason != "Scheduled" }
        var victims: [ControllerAction] = []
        for p in outcome.preemptions {
            for v in p.victims { victims.append(.delete(kind: "Pod", namespace: v.namespace, name: v.name, uid: nil)) }
        }

        let written = await writeBatched(writes + failedStatus)
        var bound = 0
        for w in writes {
            guard let binding = w.binding else { continue }
            if let revision = written[w.key] {
                bound += 1
                pending.remove(w.key)
                let view = mirror.pods[w.key].map { pod -> Pod in
                    var v = pod.view
                    v.spec?.nodeName = binding.nodeName
                    return v
                }
                mirror.recordWrite(kind: "Pod", key: w.key, json: w.object, modRevision: revision,
                                   pod: view.map { ObservedPod(json: w.object, view: $0) })
                events.append(EventRecord(involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: binding.pod.namespace,
                                                                          name: binding.pod.name, uid: binding.podUID),
                                          reason: "Scheduled", message: "Successfully assigned \(binding.pod) to \(binding.nodeName)", type: .normal))
            } else {
                // Not written (changed meanwhile, or leadership lost): forget the assumption; the watch says what is true.
                cache.removePod(binding.pod)
            }
        }
        for w in failedStatus {
            if let revision = written[w.key] { mirror.recordWrite(kind: "Pod", key: w.key, json: w.object, modRevision: revision) }
        }
        if !victims.isEmpty { await execute(victims, now: now) }
        if bound > 0 || !outcome.failures.isEmpty {
            logger.debug("scheduled", metadata: ["bound": "\(bound)", "unschedulable": "\(outcome.failures.count)"])
        }
    }

    static func setCondition(_ pod: inout JSONValue, type: String, status: String, reason: String?, message: String?, now: Int64) {
        var conditions = pod["status"]?["conditions"]?.arrayValue ?? []
        let previous = conditions.first { $0["type"]?.stringValue == type }
        conditions.removeAll { $0["type"]?.stringValue == type }
        var c = JSONObject([("type", .string(type)), ("status", .string(status)), ("lastProbeTime", .null)])
        c["lastTransitionTime"] = previous?["status"]?.stringValue == status
            ? previous?["lastTransitionTime"] : .string(Timestamp.format(epochSeconds: now))
        if let reason { c["reason"] = .string(reason) }
        if let message { c["message"] = .string(message) }
        conditions.append(.object(c))
        pod.set(.array(conditions), at: ["status", "conditions"])
    }

    struct PendingWrite: Sendable {
        var key: String
        var kind: String
        var object: JSONValue
        var binding: Binding?
        var operation: StoreOperation
    }

    /// Writes in batches of `bindingBatch`, all batches proposed at once; a batch that hits a conflict
    /// drops the conflicting write and goes again. Returns the revision each written key got.
    func writeBatched(_ writes: [PendingWrite]) async -> [String: UInt64] {
        var batches: [[StoreOperation]] = stride(from: 0, to: writes.count, by: settings.bindingBatch).map { start in
            writes[start..<min(writes.count, start + settings.bindingBatch)].map(\.operation)
        }
        var written: [String: UInt64] = [:]
        var rounds = 0
        while !batches.isEmpty && rounds < 50 && !Task.isCancelled {
            rounds += 1
            let results = await Self.proposeAll(consensus, batches.map { StoreCommand.batch($0) })
            var again: [[StoreOperation]] = []
            for (batch, result) in zip(batches, results) {
                switch result {
                case .success(.applied(let revision)):
                    for op in batch { written[op.key] = revision }
                case .success(.conflict(let key, _)), .success(.notFound(let key)):
                    let rest = batch.filter { $0.key != key }
                    if !rest.isEmpty { again.append(rest) }
                case .success(.invalid(let why)):
                    logger.error("the store refused a placement batch", metadata: ["reason": "\(why)"])
                case .failure(let error):
                    logger.info("placement writes failed", metadata: ["error": "\(error)"])
                }
            }
            batches = again
        }
        return written
    }

    struct IndexedProposal: Sendable {
        var index: Int
        var result: Result<StoreApplyResult, ConsensusError>
    }

    static func proposeAll(_ consensus: ConsensusNode, _ commands: [StoreCommand]) async -> [Result<StoreApplyResult, ConsensusError>] {
        // The child returns the Result as a value. With a typed-throws do/catch returning a tuple from the child,
        // release builds trapped here (index out of range) at the first binding; debug builds did not.
        await withTaskGroup(of: IndexedProposal.self) { group in
            for (i, command) in commands.enumerated() {
                group.addTask { IndexedProposal(index: i, result: await consensus.proposal(command)) }
            }
            var out = [Result<StoreApplyResult, ConsensusError>](repeating: .failure(.stopped), count: commands.count)
            for await done in group { out[done.index] = done.result }
            return out
        }
    }

    // MARK: Controllers

    func podsByNamespace() -> [String: [ObservedPod]] {
        var out: [String: [ObservedPod]] = [:]
        for key in mirror.pods.keys.sorted() {
            guard let pod = mirror.pods[key] else { continue }
            out[pod.meta.namespace ?? "default", default: []].append(pod)
        }
        return out
    }

    mutating func reconcileControllers(now: Int64) async {
        if now - lastResync >= settings.resyncSeconds {
            lastResync = now
            dirtyDeployments.formUnion(mirror.entries("Deployment").keys)
            dirtyReplicaSets.formUnion(mirror.entries("ReplicaSet").keys)
            dirtyJobs.formUnion(mirror.entries("Job").keys)
            dirtyDaemonSets.formUnion(mirror.entries("DaemonSet").keys)
        }
        guard !(dirtyDeployments.isEmpty && dirtyReplicaSets.isEmpty && dirtyJobs.isEmpty && dirtyDaemonSets.isEmpty) else { return }
        let pods = podsByNamespace()
        var actions: [ControllerAction] = []
        func namespace(_ json: JSONValue) -> String { json["metadata"]?["namespace"]?.stringValue ?? "default" }

        for key in dirtyReplicaSets.sorted() {
            guard let rs = mirror.entry("ReplicaSet", key: key)?.json else { continue }
            actions += ReplicaSetController.reconcile(rs, pods: pods[namespace(rs)] ?? [], now: now, using: &rng)
        }
        let replicaSets = mirror.entries("ReplicaSet")
        for key in dirtyDeployments.sorted() {
            guard let d = mirror.entry("Deployment", key: key)?.json else { continue }
            let ns = namespace(d)
            let owned = replicaSets.keys.sorted().compactMap { replicaSets[$0]?.json }.filter { namespace($0) == ns }
            actions += DeploymentController.reconcile(d, replicaSets: owned, pods: pods[ns] ?? [], now: now)
        }
        for key in dirtyJobs.sorted() {
            guard let job = mirror.entry("Job", key: key)?.json else { continue }
            actions += JobController.reconcile(job, pods: pods[namespace(job)] ?? [], now: now, using: &rng)
        }
        if !dirtyDaemonSets.isEmpty {
            let nodes = mirror.entries("Node").keys.sorted().compactMap { try? mirror.entries("Node")[$0]?.json.decode(Node.self) }
            for key in dirtyDaemonSets.sorted() {
                guard let ds = mirror.entry("DaemonSet", key: key)?.json else { continue }
                actions += DaemonSetController.reconcile(ds, nodes: nodes, pods: pods[namespace(ds)] ?? [], now: now, using: &rng)
            }
        }
        dirtyDeployments = []
        dirtyReplicaSets = []
        dirtyJobs = []
        dirtyDaemonSets = []
        await execute(actions, now: now)
    }

    mutating func collectGarbage() async {
        guard garbageDue else { return }
        garbageDue = false
        let known = Set(ObjectMirror.kinds)
        var items: [GarbageCollector.Item] = []
        for kind in ObjectMirror.kinds {
            for key in mirror.entries(kind).keys.sorted() {
                guard let json = mirror.entry(kind, key: key)?.json else { continue }
                // Owners of kinds this leader does not follow are not known to be gone: leave their dependents alone.
                let ownerKinds = (json["metadata"]?["ownerReferences"]?.arrayValue ?? []).map { $0["kind"]?.stringValue ?? "" }
                guard ownerKinds.allSatisfy(known.contains) else { continue }
                items.append(GarbageCollector.Item(kind: kind, json: json))
            }
        }
        let actions = GarbageCollector.collect(items)
        if !actions.isEmpty { await execute(actions, now: kubernetes.now()) }
    }

    // MARK: Nodes from gossip

    static let membershipSettleSeconds: Int64 = 15

    mutating func syncNodes(_ members: [MemberState], now: Int64) async {
        var byName: [String: MemberState] = [:]
        for member in members {
            guard let name = member.metadata.entries["name"], !name.isEmpty else { continue }
            // A restarted peer may appear twice (old address dead, new alive): the live one speaks for the node.
            if let seen = byName[name], seen.status.isLive || !member.status.isLive && seen.status != .left { continue }
            byName[name] = member
        }
        var podsOnNode: [String: [ObservedPod]] = [:]
        for pod in mirror.pods.values {
            if let n = pod.view.spec?.nodeName, !n.isEmpty { podsOnNode[n, default: []].append(pod) }
        }
        let lifecycle = NodeLifecycle.Configuration(evictionGracePeriodSeconds: settings.nodeGracePeriodSeconds)
        var actions: [ControllerAction] = []
        var next: Int64?
        func deadline(_ at: Int64?) { if let at { next = min(next ?? at, at) } }
        let settled = now - startedAt >= Self.membershipSettleSeconds
        if !settled { deadline(startedAt + Self.membershipSettleSeconds) }
        let nodes = mirror.entries("Node")
        for (name, member) in byName.sorted(by: { $0.key < $1.key }) {
            guard let desired = NodeCapacity.desired(member), let key = ObjectMirror.key(kind: "Node", namespace: nil, name: name) else { continue }
            guard let node = nodes[key]?.json else {
                if member.status != .left { actions.append(.create(kind: "Node", object: NodeCapacity.newNode(desired, alive: member.status.isLive, now: now))) }
                continue
            }
            if member.status == .left {
                actions.append(.delete(kind: "Node", namespace: nil, name: name, uid: node["metadata"]?["uid"]?.stringValue))
                continue
            }
            // One write per object per pass: labels, then capacity, then what the lifecycle wants.
            let updated = NodeCapacity.applying(desired, to: node)
            if updated["metadata"] != node["metadata"] {
                actions.append(.update(kind: "Node", object: updated))
                continue
            }
            if updated["status"] != node["status"] {
                actions.append(.updateStatus(kind: "Node", object: updated))
                continue
            }
            let health: NodeLifecycle.Health = member.status.isLive ? .alive : .dead
            let pods = (podsOnNode[name] ?? []).sorted { $0.name < $1.name }
            actions += NodeLifecycle.reconcile(node, health: health, pods: pods, now: now, configuration: lifecycle)
            deadline(NodeLifecycle.nextDeadline(node, pods: pods, now: now, configuration: lifecycle))
        }
        // Nodes gossip no longer knows of at all. A leader that has just started may not have heard of every
        // member yet: it waits before calling their nodes unknown.
        for key in nodes.keys.sorted() where settled {
            guard let node = nodes[key]?.json, let name = node["metadata"]?["name"]?.stringValue, byName[name] == nil else { continue }
            actions += NodeLifecycle.reconcile(node, health: nil, pods: podsOnNode[name] ?? [], now: now, configuration: lifecycle)
            deadline(NodeLifecycle.nextDeadline(node, pods: podsOnNode[name] ?? [], now: now, configuration: lifecycle))
        }
        // Pods bound to a node that is gone (its peer left the cluster) run nowhere: delete them so their
        // controllers replace them, as kube-controller-manager's pod garbage collector does.
        if settled {
            for (name, pods) in podsOnNode.sorted(by: { $0.key < $1.key }) {
                guard let key = ObjectMirror.key(kind: "Node", namespace: nil, name: name), nodes[key] == nil,
                      byName[name].map({ $0.status == .left }) ?? true else { continue }
                for pod in pods where !pod.view.isBeingDeleted {
                    let namespace = pod.meta.namespace ?? "default"
                    actions.append(.delete(kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid))
                    actions.append(.event(EventRecord(
                        involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid),
                        reason: "NodeDeleted", message: "Deleting pod \(namespace)/\(pod.name): its node \(name) left the cluster",
                        type: .normal)))
                }
            }
        }
        nodeSchedule.ran(now: now, acted: !actions.isEmpty, next: next)
        if !actions.isEmpty { await execute(actions, now: now) }
    }

    // MARK: Writes

    /// Controller actions as guarded store writes, proposed together (each its own command: one failing
    /// guard must not hold back the others). A failed write is retried by a later pass that sees newer state.
    mutating func execute(_ actions: [ControllerAction], now: Int64) async {
        var commands: [StoreCommand] = []
        for action in actions {
            if case .event(let e) = action {
                events.append(e)
                continue
            }
            if let op = operation(for: action, now: now) { commands.append(.batch([op])) }
        }
        guard !commands.isEmpty else { return }
        let results = await Self.proposeAll(consensus, commands)
        let refused = results.filter { if case .success(.applied) = $0 { return false }; return true }.count
        if refused > 0 { logger.debug("placement writes not applied", metadata: ["count": "\(refused)", "of": "\(commands.count)"]) }
    }

    mutating func operation(for action: ControllerAction, now: Int64) -> StoreOperation? {
        switch action {
        case .create(let kind, let object):
            guard let info = ResourceRegistry.lookup(kind: kind) else { return nil }
            var o = object
            o["kind"] = .string(info.kind)
            o["apiVersion"] = .string(info.groupVersion)
            let namespace = info.namespaced ? (o["metadata"]?["namespace"]?.stringValue ?? "default") : nil
            Defaulting.apply(&o, as: info)
            ServerFields.prepareForCreate(&o, as: info, uid: kubernetes.random.uuid(), nowEpochSeconds: now, resourceVersion: "", namespace: namespace)
            // A created object's status (a Node's conditions) is kept: the leader is the one reporting it.
            if kind == "Node", let status = object["status"] { o["status"] = status }
            let key = ObjectKeys.key(info, namespace: namespace, name: o["metadata"]?["name"]?.stringValue ?? "")
            guard let value = try? mirror.codec.encode(o, as: info) else { return nil }
            return .put(key: key, value: value, expectedModRevision: 0)
        case .update(let kind, let object), .updateStatus(let kind, let object):
            guard let info = ResourceRegistry.lookup(kind: kind), let key = ObjectMirror.key(of: object, kind: kind),
                  let current = mirror.entry(kind, key: key),
                  let seen = object["metadata"]?["resourceVersion"]?.stringValue.flatMap({ UInt64($0) }) else { return nil }
            let rv = String(seen)
            var o: JSONValue
            if case .updateStatus = action {
                o = ServerFields.prepareForStatusUpdate(object, old: current.json, resourceVersion: rv)
            } else {
                o = object
                ServerFields.prepareForUpdate(&o, old: current.json, as: info, resourceVersion: rv)
            }
            guard o != current.json else { return nil }
            guard let value = try? mirror.codec.encode(o, as: info) else { return nil }
            return .put(key: key, value: value, expectedModRevision: seen)
        case .delete(let kind, let namespace, let name, let uid):
            guard let key = ObjectMirror.key(kind: kind, namespace: namespace, name: name), let current = mirror.entry(kind, key: key) else { return nil }
            if let uid, current.json["metadata"]?["uid"]?.stringValue != uid { return nil }
            return .delete(key: key, expectedModRevision: current.modRevision)
        case .event:
            return nil
        }
    }

    mutating func flushEvents(now: Int64) async {
        guard !events.isEmpty else { return }
        let random = kubernetes.random
        let objects = recorder.objects(for: events, now: now, uid: { random.uuid() })
        events = []
        guard let info = ResourceRegistry.lookup(kind: "Event"), !objects.isEmpty else { return }
        let ops = objects.compactMap { event in
            (try? mirror.codec.encode(event.object, as: info)).map { StoreOperation.put(key: event.key, value: $0, expectedModRevision: 0) }
        }
        var commands: [StoreCommand] = []
        for start in stride(from: 0, to: ops.count, by: 200) { commands.append(.batch(Array(ops[start..<min(ops.count, start + 200)]))) }
        _ = await Self.proposeAll(consensus, commands)
    }
}

/// SplitMix64: the shell's seeded source for the controllers' generated names.
struct SplitMixRandom: RandomNumberGenerator, Sendable {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 { RandomSource.splitMix(&state) }
}

extension PlacementSettings {
    init(_ configuration: PeerConfiguration) {
        self.init()
        nodeGracePeriodSeconds = Int64(configuration.nodeGracePeriodSeconds)
    }
}

import ResourceModel

/// One reconcile step of the Job controller: run pods until `completions` succeed, at most
/// `parallelism` at a time; fail the Job after more than `backoffLimit` failed pods or past its deadline.
public enum JobController {
    public static func reconcile<R: RandomNumberGenerator>(_ job: JSONValue, pods: [ObservedPod], now: Int64, using rng: inout R) -> [ControllerAction] {
        guard let j = Observed<Job>(job), j.view.metadata?.deletionTimestamp == nil else { return [] }
        let meta = j.view.metadata ?? ObjectMeta()
        let spec = j.view.spec ?? JobSpec()
        let uid = meta.uid ?? ""
        let namespace = meta.namespace ?? "default"
        let ref = ControllerSupport.reference("Job", apiVersion: "batch/v1", meta)
        let owner = ControllerSupport.ownerReference(kind: "Job", apiVersion: "batch/v1", meta)
        var actions: [ControllerAction] = []

        let mine = pods.filter { ($0.meta.namespace ?? "default") == namespace && $0.meta.controllerRef?.uid == uid }
        let active = mine.filter(\.isActive)
        let succeeded = mine.filter { $0.view.status?.phase == "Succeeded" }.count
        let failed = mine.filter { $0.view.status?.phase == "Failed" }.count
        let conditions = j.view.status?.conditions ?? []
        let finished = conditions.contains { ($0.type == "Complete" || $0.type == "Failed") && $0.isTrue }

        var status = job["status"]?.objectValue ?? JSONObject()
        var conditionsJSON = status["conditions"]?.arrayValue ?? []
        if status["startTime"] == nil, spec.suspend != true { status["startTime"] = ControllerSupport.timestamp(now) }
        let startTime = status["startTime"]?.stringValue.flatMap(Timestamp.parse) ?? now

        var activeAfter = active.count
        if !finished {
            let backoffLimit = Int(spec.backoffLimit ?? 6)
            let parallelism = Int(spec.parallelism ?? 1)
            let completions = spec.completions.map(Int.init)
            var failure: (reason: String, message: String)?
            if failed > backoffLimit {
                failure = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
            } else if let deadline = spec.activeDeadlineSeconds, spec.suspend != true, startTime + deadline <= now {
                failure = ("DeadlineExceeded", "Job was active longer than specified deadline")
            }
            let complete: Bool = if let completions { succeeded >= completions } else { succeeded > 0 && active.isEmpty }
            if let failure {
                for pod in active {
                    actions.append(.delete(kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid))
                    actions.append(ControllerSupport.event(ref, "SuccessfulDelete", "Deleted pod: \(pod.name)"))
                }
                activeAfter = 0
                ControllerSupport.setCondition(&conditionsJSON, type: "Failed", status: "True", reason: failure.reason, message: failure.message, now: now)
                actions.append(ControllerSupport.event(ref, failure.reason, failure.message, warning: true))
            } else if complete {
                ControllerSupport.setCondition(&conditionsJSON, type: "Complete", status: "True", reason: "CompletionsReached",
                                               message: "Reached expected number of succeeded pods", now: now)
                status["completionTime"] = ControllerSupport.timestamp(now)
                actions.append(ControllerSupport.event(ref, "Completed", "Job completed"))
            } else {
                var want: Int
                if spec.suspend == true {
                    want = 0
                } else if let completions {
                    want = min(parallelism, completions - succeeded)
                } else {
                    want = succeeded > 0 ? active.count : parallelism
                }
                want = max(0, want)
                if active.count < want {
                    for _ in 0..<min(want - active.count, ReplicaSetController.burstReplicas) {
                        let pod = ControllerSupport.pod(from: job["spec"]?["template"], namespace: namespace, generateName: (meta.name ?? "job") + "-",
                                                        owner: owner, using: &rng)
                        actions.append(.create(kind: "Pod", object: pod))
                        actions.append(ControllerSupport.event(ref, "SuccessfulCreate", "Created pod: \(pod["metadata"]?["name"]?.stringValue ?? "")"))
                    }
                    activeAfter = want
                } else if active.count > want {
                    for pod in DeletionRanking.sorted(active).prefix(active.count - want) {
                        actions.append(.delete(kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid))
                        actions.append(ControllerSupport.event(ref, "SuccessfulDelete", "Deleted pod: \(pod.name)"))
                    }
                    activeAfter = want
                }
            }
        }

        func setCount(_ key: String, _ v: Int) { status[key] = v == 0 ? JSONValue?.none : .int(Int64(v)) }
        setCount("active", activeAfter)
        setCount("succeeded", succeeded)
        setCount("failed", failed)
        status["ready"] = .int(Int64(active.filter { $0.view.isReady }.count))
        if !conditionsJSON.isEmpty { status["conditions"] = .array(conditionsJSON) }
        if job["status"] != .object(status) {
            actions.append(.updateStatus(kind: "Job", object: ControllerSupport.setting(job, ["status"], .object(status))))
        }
        return actions
    }
}

import ResourceModel

/// A synthetic cluster and workload for benchmarks (the caller times `Scheduler.schedule`).
public enum SyntheticCluster {
    /// `count` ready nodes across `zones` zones, each 16 cpu / 64Gi / 110 pods.
    public static func nodes(count: Int, zones: Int = 3) -> [Node] {
        let cpu = Quantity(milli: 16_000), memory = Quantity(nanos: Int128(64) << 30 * 1_000_000_000), pods = Quantity(milli: 110_000)
        return (0..<count).map { i in
            var n = Node()
            var meta = ObjectMeta()
            meta.name = "node-\(i)"
            meta.labels = ["kubernetes.io/hostname": "node-\(i)", "topology.kubernetes.io/zone": "zone-\(i % max(1, zones))"]
            n.metadata = meta
            var status = NodeStatus()
            status.allocatable = ["cpu": cpu, "memory": memory, "pods": pods]
            status.conditions = [Condition(type: "Ready", status: "True")]
            n.status = status
            return n
        }
    }

    /// `count` pending pods from a handful of deployments with mixed requests.
    public static func pods(count: Int, namespace: String = "bench") -> [Pod] {
        let shapes: [(Int64, Int64)] = [(100, 128), (250, 256), (500, 512), (200, 1024)]
        return (0..<count).map { i in
            let (cpu, memMi) = shapes[i % shapes.count]
            var p = Pod()
            var meta = ObjectMeta()
            meta.name = "pod-\(i)"
            meta.namespace = namespace
            meta.uid = "uid-\(i)"
            meta.labels = ["app": "app-\(i % 20)"]
            p.metadata = meta
            var c = Container(name: "main", image: "busybox")
            c.resources = ResourceRequirements(requests: ["cpu": Quantity(milli: cpu), "memory": Quantity(nanos: Int128(memMi) << 20 * 1_000_000_000)])
            p.spec = PodSpec(containers: [c])
            return p
        }
    }

    /// Pending pods that each carry a zone spread constraint (ScheduleAnyway or DoNotSchedule) and a
    /// hostname anti-affinity to their own app, for measuring the slower constrained path.
    public static func constrainedPods(count: Int, apps: Int = 20, namespace: String = "bench") -> [Pod] {
        pods(count: count, namespace: namespace).enumerated().map { i, pod in
            var p = pod
            let app = "app-\(i % max(1, apps))"
            p.metadata?.labels = ["app": app]
            let selector: JSONValue = ["matchLabels": ["app": .string(app)]]
            let json: JSONValue = [
                "topologySpreadConstraints": [["maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                               "whenUnsatisfiable": i % 2 == 0 ? "DoNotSchedule" : "ScheduleAnyway", "labelSelector": selector]],
                "affinity": ["podAntiAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": [
                    ["labelSelector": selector, "topologyKey": "kubernetes.io/hostname"]]]],
            ]
            if let extra = try? json.decode(PodSpec.self) {
                p.spec?.topologySpreadConstraints = extra.topologySpreadConstraints
                p.spec?.affinity = extra.affinity
            }
            return p
        }
    }
}

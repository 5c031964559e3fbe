import Placement
import ResourceModel
import Simulation

func q(_ s: String) -> Quantity {
    // justified: test literals are valid quantities
    try! Quantity.parse(s)
}

func makeNode(_ name: String, cpu: String = "4", memory: String = "8Gi", pods: String = "110", labels: [String: String] = [:],
              taints: [Taint] = [], ready: String = "True", unschedulable: Bool = false) -> Node {
    var n = Node()
    var meta = ObjectMeta()
    meta.name = name
    meta.uid = "uid-" + name
    meta.labels = labels.merging(["kubernetes.io/hostname": name]) { a, _ in a }
    n.metadata = meta
    var spec = NodeSpec()
    spec.taints = taints.isEmpty ? nil : taints
    spec.unschedulable = unschedulable ? true : nil
    n.spec = spec
    var status = NodeStatus()
    status.allocatable = ["cpu": q(cpu), "memory": q(memory), "pods": q(pods)]
    status.capacity = status.allocatable
    status.conditions = [Condition(type: "Ready", status: ready)]
    n.status = status
    return n
}

func makePod(_ name: String, namespace: String = "default", cpu: String? = "100m", memory: String? = "128Mi", labels: [String: String] = [:],
             node: String? = nil, priority: Int32? = nil, hostPort: Int? = nil) -> Pod {
    var p = Pod()
    var meta = ObjectMeta()
    meta.name = name
    meta.namespace = namespace
    meta.uid = "uid-" + name
    meta.labels = labels.isEmpty ? nil : labels
    p.metadata = meta
    var c = Container(name: "app", image: "nginx")
    var req: ResourceList = [:]
    if let cpu { req["cpu"] = q(cpu) }
    if let memory { req["memory"] = q(memory) }
    c.resources = ResourceRequirements(requests: req)
    if let hostPort {
        var port = ContainerPort(containerPort: 80)
        port.hostPort = hostPort
        c.ports = [port]
    }
    var spec = PodSpec(containers: [c])
    spec.nodeName = node
    spec.priority = priority
    p.spec = spec
    return p
}

extension Pod {
    func with(_ body: (inout PodSpec) -> Void) -> Pod {
        var copy = self
        var spec = copy.spec ?? PodSpec()
        body(&spec)
        copy.spec = spec
        return copy
    }
}

/// Schedules one pod on a fresh scheduler and returns the outcome.
func scheduleOne(_ pod: Pod, nodes: [Node], existing: [Pod] = [], policy: ScoringPolicy = .mostAllocated, seed: UInt64 = 1) -> SchedulingOutcome {
    var cache = SchedulingCache(nodes: nodes, pods: existing)
    var scheduler = Scheduler(configuration: SchedulerConfiguration(policy: policy))
    var rng = SeededRandom(seed: seed)
    return scheduler.schedule([pod], cache: &cache, using: &rng)
}

func boundNode(_ outcome: SchedulingOutcome) -> String? { outcome.bindings.first?.nodeName }

/// Some ResourceModel views have no public memberwise initialisers; build them from JSON like the API does.
func decoded<T: Decodable>(_ json: JSONValue, as: T.Type = T.self) -> T {
    // justified: fixtures are well-formed
    try! json.decode(T.self)
}

func selectorJSON(_ labels: [String: String]) -> JSONValue {
    .object(JSONObject(labels.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
}

func nodeAffinityRequired(_ term: JSONValue) -> Affinity {
    decoded(["nodeAffinity": ["requiredDuringSchedulingIgnoredDuringExecution": ["nodeSelectorTerms": [term]]]])
}

func requirementJSON(_ key: String, _ op: String, _ values: [String]) -> JSONValue {
    ["key": .string(key), "operator": .string(op), "values": .array(values.map { .string($0) })]
}

func podAffinityTermJSON(_ labels: [String: String], key: String) -> JSONValue {
    ["labelSelector": ["matchLabels": selectorJSON(labels)], "topologyKey": .string(key)]
}

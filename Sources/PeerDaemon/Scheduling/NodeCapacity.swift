import Gossip
import ResourceModel

#if canImport(Glibc)
import Glibc
#endif

/// What a peer publishes about its machine in gossip, and the Node object the scheduling leader keeps for
/// each gossip member from it.
enum NodeCapacity {
    /// Kept back from allocatable for the peer itself and the system, as kubelet's system-reserved does.
    static let reservedMilliCPU: Int64 = 100
    static let reservedMemory: Int64 = 256 << 20
    /// Member metadata keys starting with this become Node labels (`label.zone=a` → `zone: a`).
    static let labelPrefix = "label."

    /// This machine's cpu count and memory, as gossip metadata entries.
    static func gossipEntries(maxPods: Int) -> [String: String] {
        let cpus = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var entries = ["cpu": String(cpus), "pods": String(maxPods)]
        if let memory = memTotalBytes() { entries["memory"] = String(memory) }
        return entries
    }

    /// `MemTotal` from /proc/meminfo, in bytes.
    static func memTotalBytes() -> Int64? {
        guard let text = try? SmallFile.read("/proc/meminfo") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            guard fields.count >= 2, let kib = Int64(fields[1]) else { return nil }
            return kib * 1024
        }
        return nil
    }

    /// The node a gossip member stands for: its name and labels, and its capacity in Kubernetes' units.
    /// On the Node of a peer whose node agent runs nothing (runPods false, not root, no runc): pods that do
    /// not tolerate it are never bound there, so none waits forever for an agent that is not coming.
    static let noPodsTaint = "peer.local/no-pods"

    struct Desired: Equatable {
        var runsPods = true
        var name: String
        var labels: [String: String]
        var capacity: [String: String]
        var allocatable: [String: String]
        var address: String?
    }

    static func desired(_ member: MemberState) -> Desired? {
        let entries = member.metadata.entries
        guard let name = entries["name"], !name.isEmpty else { return nil }
        var labels = ["kubernetes.io/hostname": name, "kubernetes.io/os": "linux"]
        for (k, v) in entries where k.hasPrefix(labelPrefix) { labels[String(k.dropFirst(labelPrefix.count))] = v }
        let cpus = Int64(entries["cpu"] ?? "") ?? 1
        let memory = Int64(entries["memory"] ?? "") ?? (1 << 30)
        let pods = entries["pods"] ?? "110"
        let capacity = ["cpu": String(cpus), "memory": "\(memory / 1024)Ki", "pods": pods]
        let allocatable = ["cpu": "\(max(0, cpus * 1000 - reservedMilliCPU))m",
                           "memory": "\(max(0, memory - reservedMemory) / 1024)Ki", "pods": pods]
        let host = entries["api"].map { a -> String in
            guard let colon = a.lastIndex(of: ":") else { return a }
            return String(a[..<colon]).trimmingBrackets()
        }
        return Desired(runsPods: entries["runsPods"] != "false", name: name, labels: labels, capacity: capacity,
                       allocatable: allocatable, address: host)
    }

    /// A new Node object (server fields are filled by the writer).
    static func newNode(_ d: Desired, alive: Bool, now: Int64) -> JSONValue {
        var node: JSONValue = ["apiVersion": "v1", "kind": "Node", "metadata": ["name": .string(d.name)], "spec": .object(JSONObject())]
        node = applying(d, to: node)
        let ts = JSONValue.string(Timestamp.format(epochSeconds: now))
        let ready: JSONValue = alive
            ? ["type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
               "lastHeartbeatTime": ts, "lastTransitionTime": ts]
            : ["type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status.",
               "lastHeartbeatTime": ts, "lastTransitionTime": ts]
        node.set([ready], at: ["status", "conditions"])
        return node
    }

    /// The stored node with the member's labels (others' labels kept), capacity and address.
    static func applying(_ d: Desired, to node: JSONValue) -> JSONValue {
        var n = node
        var labels = n["metadata"]?["labels"]?.objectValue ?? JSONObject()
        for (k, v) in d.labels.sorted(by: { $0.key < $1.key }) { labels[k] = .string(v) }
        n.set(.object(labels), at: ["metadata", "labels"])
        var taints = (n["spec"]?["taints"]?.arrayValue ?? []).filter { $0["key"]?.stringValue != noPodsTaint }
        if !d.runsPods { taints.append(["key": .string(noPodsTaint), "effect": "NoSchedule"]) }
        n.set(taints.isEmpty ? nil : .array(taints), at: ["spec", "taints"])
        n.set(quantities(d.capacity), at: ["status", "capacity"])
        n.set(quantities(d.allocatable), at: ["status", "allocatable"])
        if let address = d.address {
            n.set([["type": "InternalIP", "address": .string(address)], ["type": "Hostname", "address": .string(d.name)]],
                  at: ["status", "addresses"])
        }
        return n
    }

    static func quantities(_ list: [String: String]) -> JSONValue {
        var o = JSONObject()
        for (k, v) in list.sorted(by: { $0.key < $1.key }) { o[k] = .string(v) }
        return .object(o)
    }
}

extension String {
    /// `[::1]` → `::1`.
    func trimmingBrackets() -> String {
        var s = Substring(self)
        if s.first == "[" { s = s.dropFirst() }
        if s.last == "]" { s = s.dropLast() }
        return String(s)
    }
}

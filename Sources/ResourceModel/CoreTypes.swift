public struct Namespace: Codable, Sendable, Equatable {
    public struct Spec: Codable, Sendable, Equatable { public var finalizers: [String]? }
    public struct Status: Codable, Sendable, Equatable { public var phase: String? }
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: Spec?
    public var status: Status?
    public init() {}
}

public struct Taint: Codable, Sendable, Equatable {
    public var key: String
    public var value: String?
    public var effect: String
    public var timeAdded: String?
    public init(key: String, value: String? = nil, effect: String) { self.key = key; self.value = value; self.effect = effect }
}

public struct NodeSpec: Codable, Sendable, Equatable {
    public var taints: [Taint]?
    public var unschedulable: Bool?
    public var podCIDR: String?
    public var providerID: String?
    public init() {}
}

public struct NodeAddress: Codable, Sendable, Equatable {
    public var type: String
    public var address: String
    public init(type: String, address: String) { self.type = type; self.address = address }
}

public struct NodeSystemInfo: Codable, Sendable, Equatable {
    public var machineID: String?
    public var systemUUID: String?
    public var bootID: String?
    public var kernelVersion: String?
    public var osImage: String?
    public var containerRuntimeVersion: String?
    public var kubeletVersion: String?
    public var kubeProxyVersion: String?
    public var operatingSystem: String?
    public var architecture: String?
    public init() {}
}

public struct NodeStatus: Codable, Sendable, Equatable {
    public var capacity: ResourceList?
    public var allocatable: ResourceList?
    public var conditions: [Condition]?
    public var addresses: [NodeAddress]?
    public var nodeInfo: NodeSystemInfo?
    public init() {}
}

public struct Node: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: NodeSpec?
    public var status: NodeStatus?
    public init() {}
}

public struct ServicePort: Codable, Sendable, Equatable {
    public var name: String?
    public var `protocol`: String?
    public var port: Int
    public var targetPort: IntOrString?
    public var nodePort: Int?
    public init(port: Int, name: String? = nil) { self.port = port; self.name = name }
}

public struct ServiceSpec: Codable, Sendable, Equatable {
    public var type: String?
    public var selector: [String: String]?
    public var ports: [ServicePort]?
    public var clusterIP: String?
    public var clusterIPs: [String]?
    public var externalIPs: [String]?
    public var sessionAffinity: String?
    public init() {}
}

public struct Service: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: ServiceSpec?
    public init() {}
}

public struct ObjectReference: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    public var uid: String?
    public var resourceVersion: String?
    public var fieldPath: String?
    public init(apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil, uid: String? = nil) {
        self.apiVersion = apiVersion; self.kind = kind; self.namespace = namespace; self.name = name; self.uid = uid
    }
}

public struct EndpointAddress: Codable, Sendable, Equatable {
    public var ip: String
    public var hostname: String?
    public var nodeName: String?
    public var targetRef: ObjectReference?
    public init(ip: String) { self.ip = ip }
}

public struct EndpointPort: Codable, Sendable, Equatable {
    public var name: String?
    public var port: Int
    public var `protocol`: String?
    public init(port: Int, name: String? = nil) { self.port = port; self.name = name }
}

public struct EndpointSubset: Codable, Sendable, Equatable {
    public var addresses: [EndpointAddress]?
    public var notReadyAddresses: [EndpointAddress]?
    public var ports: [EndpointPort]?
    public init() {}
}

public struct Endpoints: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var subsets: [EndpointSubset]?
    public init() {}
}

public struct ConfigMap: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var data: [String: String]?
    /// Base64 text, as on the wire.
    public var binaryData: [String: String]?
    public var immutable: Bool?
    public init() {}
}

public struct Secret: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    /// Base64 text, as on the wire.
    public var data: [String: String]?
    /// Write-only: folded into `data` by `Defaulting.apply`.
    public var stringData: [String: String]?
    public var type: String?
    public var immutable: Bool?
    public init() {}
}

public struct EventSource: Codable, Sendable, Equatable {
    public var component: String?
    public var host: String?
    public init(component: String? = nil, host: String? = nil) { self.component = component; self.host = host }
}

public struct Event: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var involvedObject: ObjectReference?
    public var reason: String?
    public var message: String?
    public var type: String?
    public var count: Int32?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var eventTime: String?
    public var source: EventSource?
    public var reportingComponent: String?
    public var reportingInstance: String?
    public init() {}
}

// MARK: - Meta kinds

public struct StatusCause: Codable, Sendable, Equatable {
    public var reason: String?
    public var message: String?
    public var field: String?
    public init(reason: String? = nil, message: String? = nil, field: String? = nil) { self.reason = reason; self.message = message; self.field = field }
}

public struct StatusDetails: Codable, Sendable, Equatable {
    public var name: String?
    public var group: String?
    public var kind: String?
    public var uid: String?
    public var causes: [StatusCause]?
    public var retryAfterSeconds: Int32?
    public init(name: String? = nil, group: String? = nil, kind: String? = nil, causes: [StatusCause]? = nil) {
        self.name = name; self.group = group; self.kind = kind; self.causes = causes
    }
}

/// The error (and sometimes success) object every API failure returns.
public struct Status: Codable, Sendable, Equatable {
    public var kind: String = "Status"
    public var apiVersion: String = "v1"
    public var metadata: ListMeta = ListMeta()
    public var status: String?
    public var message: String?
    public var reason: String?
    public var details: StatusDetails?
    public var code: Int32?
    public init(status: String? = "Failure", message: String? = nil, reason: String? = nil, details: StatusDetails? = nil, code: Int32? = nil) {
        self.status = status; self.message = message; self.reason = reason; self.details = details; self.code = code
    }
}

public struct ScaleSpec: Codable, Sendable, Equatable {
    public var replicas: Int32?
    public init(replicas: Int32? = nil) { self.replicas = replicas }
}

public struct ScaleStatus: Codable, Sendable, Equatable {
    public var replicas: Int32
    public var selector: String?
    public init(replicas: Int32, selector: String? = nil) { self.replicas = replicas; self.selector = selector }
}

/// `autoscaling/v1` Scale, served by `deployments/scale`.
public struct Scale: Codable, Sendable, Equatable {
    public var kind: String = "Scale"
    public var apiVersion: String = "autoscaling/v1"
    public var metadata: ObjectMeta?
    public var spec: ScaleSpec?
    public var status: ScaleStatus?
    public init(metadata: ObjectMeta? = nil, spec: ScaleSpec? = nil, status: ScaleStatus? = nil) {
        self.metadata = metadata; self.spec = spec; self.status = status
    }
}

public enum WatchEventType: String, Codable, Sendable {
    case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
}

/// One line of a watch stream.
public struct WatchEvent: Sendable, Equatable {
    public var type: WatchEventType
    public var object: JSONValue
    public init(type: WatchEventType, object: JSONValue) { self.type = type; self.object = object }
    public var json: JSONValue { ["type": .string(type.rawValue), "object": object] }
}

/// Builds a `<Kind>List` document; `items` is always an array (clients reject null).
public func makeList(kind: String, apiVersion: String, resourceVersion: String?, items: [JSONValue]) -> JSONValue {
    var meta = JSONObject()
    if let resourceVersion { meta["resourceVersion"] = .string(resourceVersion) }
    return .object(JSONObject([
        ("kind", .string(kind.hasSuffix("List") ? kind : kind + "List")),
        ("apiVersion", .string(apiVersion)),
        ("metadata", .object(meta)),
        ("items", .array(items)),
    ]))
}

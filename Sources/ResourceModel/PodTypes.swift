public typealias ResourceList = [String: Quantity]

public struct ResourceRequirements: Codable, Sendable, Equatable {
    public var requests: ResourceList?
    public var limits: ResourceList?
    public init(requests: ResourceList? = nil, limits: ResourceList? = nil) { self.requests = requests; self.limits = limits }
}

public struct KeySelector: Codable, Sendable, Equatable {
    public var name: String?
    public var key: String
    public var optional: Bool?
}

public struct ObjectFieldSelector: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var fieldPath: String
}

public struct ResourceFieldSelector: Codable, Sendable, Equatable {
    public var containerName: String?
    public var resource: String
    public var divisor: Quantity?
}

public struct EnvVarSource: Codable, Sendable, Equatable {
    public var configMapKeyRef: KeySelector?
    public var secretKeyRef: KeySelector?
    public var fieldRef: ObjectFieldSelector?
    public var resourceFieldRef: ResourceFieldSelector?
}

public struct EnvVar: Codable, Sendable, Equatable {
    public var name: String
    public var value: String?
    public var valueFrom: EnvVarSource?
    public init(name: String, value: String? = nil) { self.name = name; self.value = value }
}

public struct LocalObjectReference: Codable, Sendable, Equatable {
    public var name: String?
    public var optional: Bool?
}

public struct EnvFromSource: Codable, Sendable, Equatable {
    public var prefix: String?
    public var configMapRef: LocalObjectReference?
    public var secretRef: LocalObjectReference?
}

public struct ContainerPort: Codable, Sendable, Equatable {
    public var name: String?
    public var containerPort: Int
    public var hostPort: Int?
    public var hostIP: String?
    public var `protocol`: String?
    public init(containerPort: Int, name: String? = nil) { self.containerPort = containerPort; self.name = name }
}

public struct VolumeMount: Codable, Sendable, Equatable {
    public var name: String
    public var mountPath: String
    public var readOnly: Bool?
    public var subPath: String?
}

public struct ExecAction: Codable, Sendable, Equatable {
    public var command: [String]?
}

public struct HTTPHeader: Codable, Sendable, Equatable {
    public var name: String
    public var value: String
}

public struct HTTPGetAction: Codable, Sendable, Equatable {
    public var path: String?
    public var port: IntOrString
    public var host: String?
    public var scheme: String?
    public var httpHeaders: [HTTPHeader]?
}

public struct TCPSocketAction: Codable, Sendable, Equatable {
    public var port: IntOrString
    public var host: String?
}

public struct Probe: Codable, Sendable, Equatable {
    public var exec: ExecAction?
    public var httpGet: HTTPGetAction?
    public var tcpSocket: TCPSocketAction?
    public var initialDelaySeconds: Int?
    public var periodSeconds: Int?
    public var timeoutSeconds: Int?
    public var successThreshold: Int?
    public var failureThreshold: Int?
    public var terminationGracePeriodSeconds: Int64?
    public init() {}
}

public struct Capabilities: Codable, Sendable, Equatable {
    public var add: [String]?
    public var drop: [String]?
}

public struct SecurityContext: Codable, Sendable, Equatable {
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
    public var privileged: Bool?
    public var readOnlyRootFilesystem: Bool?
    public var allowPrivilegeEscalation: Bool?
    public var capabilities: Capabilities?
}

public struct PodSecurityContext: Codable, Sendable, Equatable {
    public var runAsUser: Int64?
    public var runAsGroup: Int64?
    public var runAsNonRoot: Bool?
    public var fsGroup: Int64?
    public var supplementalGroups: [Int64]?
}

public struct Container: Codable, Sendable, Equatable {
    public var name: String
    public var image: String?
    public var imagePullPolicy: String?
    public var command: [String]?
    public var args: [String]?
    public var workingDir: String?
    public var env: [EnvVar]?
    public var envFrom: [EnvFromSource]?
    public var ports: [ContainerPort]?
    public var resources: ResourceRequirements?
    public var volumeMounts: [VolumeMount]?
    public var livenessProbe: Probe?
    public var readinessProbe: Probe?
    public var startupProbe: Probe?
    public var securityContext: SecurityContext?
    public var terminationMessagePath: String?
    public var terminationMessagePolicy: String?
    public var stdin: Bool?
    public var tty: Bool?
    public init(name: String, image: String? = nil) { self.name = name; self.image = image }
}

public struct NodeSelectorRequirement: Codable, Sendable, Equatable {
    public var key: String
    public var `operator`: String
    public var values: [String]?
    public init(key: String, operator: String, values: [String]? = nil) { self.key = key; self.operator = `operator`; self.values = values }
}

public struct NodeSelectorTerm: Codable, Sendable, Equatable {
    public var matchExpressions: [NodeSelectorRequirement]?
    public var matchFields: [NodeSelectorRequirement]?
    public init(matchExpressions: [NodeSelectorRequirement]? = nil, matchFields: [NodeSelectorRequirement]? = nil) {
        self.matchExpressions = matchExpressions; self.matchFields = matchFields
    }
}

public struct NodeSelector: Codable, Sendable, Equatable {
    public var nodeSelectorTerms: [NodeSelectorTerm]
}

public struct PreferredSchedulingTerm: Codable, Sendable, Equatable {
    public var weight: Int
    public var preference: NodeSelectorTerm
}

public struct NodeAffinity: Codable, Sendable, Equatable {
    public var requiredDuringSchedulingIgnoredDuringExecution: NodeSelector?
    public var preferredDuringSchedulingIgnoredDuringExecution: [PreferredSchedulingTerm]?
}

public struct PodAffinityTerm: Codable, Sendable, Equatable {
    public var labelSelector: LabelSelector?
    public var namespaces: [String]?
    public var namespaceSelector: LabelSelector?
    public var topologyKey: String
}

public struct WeightedPodAffinityTerm: Codable, Sendable, Equatable {
    public var weight: Int
    public var podAffinityTerm: PodAffinityTerm
}

public struct PodAffinity: Codable, Sendable, Equatable {
    public var requiredDuringSchedulingIgnoredDuringExecution: [PodAffinityTerm]?
    public var preferredDuringSchedulingIgnoredDuringExecution: [WeightedPodAffinityTerm]?
}

public struct Affinity: Codable, Sendable, Equatable {
    public var nodeAffinity: NodeAffinity?
    public var podAffinity: PodAffinity?
    public var podAntiAffinity: PodAffinity?
}

public struct Toleration: Codable, Sendable, Equatable {
    public var key: String?
    public var `operator`: String?
    public var value: String?
    public var effect: String?
    public var tolerationSeconds: Int64?
    public init(key: String? = nil, operator: String? = nil, value: String? = nil, effect: String? = nil) {
        self.key = key; self.operator = `operator`; self.value = value; self.effect = effect
    }

    /// Kubernetes `ToleratesTaint`: empty effect matches all effects; Exists with empty key matches every taint.
    public func tolerates(_ taint: Taint) -> Bool {
        if let effect, !effect.isEmpty, effect != taint.effect { return false }
        if let key, !key.isEmpty, key != taint.key { return false }
        switch `operator` ?? "Equal" {
        case "Exists": return true
        case "Equal", "": return (value ?? "") == (taint.value ?? "")
        default: return false
        }
    }
}

public struct TopologySpreadConstraint: Codable, Sendable, Equatable {
    public var maxSkew: Int
    public var topologyKey: String
    public var whenUnsatisfiable: String
    public var labelSelector: LabelSelector?
    public var minDomains: Int?
}

public struct KeyToPath: Codable, Sendable, Equatable {
    public var key: String
    public var path: String
    public var mode: Int?
}

public struct EmptyDirVolumeSource: Codable, Sendable, Equatable {
    public var medium: String?
    public var sizeLimit: Quantity?
}

public struct HostPathVolumeSource: Codable, Sendable, Equatable {
    public var path: String
    public var type: String?
}

public struct ConfigMapVolumeSource: Codable, Sendable, Equatable {
    public var name: String?
    public var items: [KeyToPath]?
    public var defaultMode: Int?
    public var optional: Bool?
}

public struct SecretVolumeSource: Codable, Sendable, Equatable {
    public var secretName: String?
    public var items: [KeyToPath]?
    public var defaultMode: Int?
    public var optional: Bool?
}

public struct Volume: Codable, Sendable, Equatable {
    public var name: String
    public var emptyDir: EmptyDirVolumeSource?
    public var hostPath: HostPathVolumeSource?
    public var configMap: ConfigMapVolumeSource?
    public var secret: SecretVolumeSource?
}

public struct PodSpec: Codable, Sendable, Equatable {
    public var containers: [Container]
    public var initContainers: [Container]?
    public var restartPolicy: String?
    public var terminationGracePeriodSeconds: Int64?
    public var activeDeadlineSeconds: Int64?
    public var dnsPolicy: String?
    public var nodeName: String?
    public var nodeSelector: [String: String]?
    public var affinity: Affinity?
    public var tolerations: [Toleration]?
    public var topologySpreadConstraints: [TopologySpreadConstraint]?
    public var priority: Int32?
    public var priorityClassName: String?
    public var volumes: [Volume]?
    public var hostNetwork: Bool?
    public var schedulerName: String?
    public var serviceAccountName: String?
    public var hostname: String?
    public var subdomain: String?
    public var securityContext: PodSecurityContext?
    public var imagePullSecrets: [LocalObjectReference]?
    public init(containers: [Container] = []) { self.containers = containers }

    // `containers` is required by the schema, but a missing list must reach validation
    // ("spec.containers: Required value") rather than fail decoding.
    enum CodingKeys: String, CodingKey {
        case containers, initContainers, restartPolicy, terminationGracePeriodSeconds, activeDeadlineSeconds, dnsPolicy
        case nodeName, nodeSelector, affinity, tolerations, topologySpreadConstraints, priority, priorityClassName
        case volumes, hostNetwork, schedulerName, serviceAccountName, hostname, subdomain, securityContext, imagePullSecrets
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        containers = try c.decodeIfPresent([Container].self, forKey: .containers) ?? []
        initContainers = try c.decodeIfPresent([Container].self, forKey: .initContainers)
        restartPolicy = try c.decodeIfPresent(String.self, forKey: .restartPolicy)
        terminationGracePeriodSeconds = try c.decodeIfPresent(Int64.self, forKey: .terminationGracePeriodSeconds)
        activeDeadlineSeconds = try c.decodeIfPresent(Int64.self, forKey: .activeDeadlineSeconds)
        dnsPolicy = try c.decodeIfPresent(String.self, forKey: .dnsPolicy)
        nodeName = try c.decodeIfPresent(String.self, forKey: .nodeName)
        nodeSelector = try c.decodeIfPresent([String: String].self, forKey: .nodeSelector)
        affinity = try c.decodeIfPresent(Affinity.self, forKey: .affinity)
        tolerations = try c.decodeIfPresent([Toleration].self, forKey: .tolerations)
        topologySpreadConstraints = try c.decodeIfPresent([TopologySpreadConstraint].self, forKey: .topologySpreadConstraints)
        priority = try c.decodeIfPresent(Int32.self, forKey: .priority)
        priorityClassName = try c.decodeIfPresent(String.self, forKey: .priorityClassName)
        volumes = try c.decodeIfPresent([Volume].self, forKey: .volumes)
        hostNetwork = try c.decodeIfPresent(Bool.self, forKey: .hostNetwork)
        schedulerName = try c.decodeIfPresent(String.self, forKey: .schedulerName)
        serviceAccountName = try c.decodeIfPresent(String.self, forKey: .serviceAccountName)
        hostname = try c.decodeIfPresent(String.self, forKey: .hostname)
        subdomain = try c.decodeIfPresent(String.self, forKey: .subdomain)
        securityContext = try c.decodeIfPresent(PodSecurityContext.self, forKey: .securityContext)
        imagePullSecrets = try c.decodeIfPresent([LocalObjectReference].self, forKey: .imagePullSecrets)
    }
}

public struct ContainerStateWaiting: Codable, Sendable, Equatable {
    public var reason: String?
    public var message: String?
    public init(reason: String? = nil, message: String? = nil) { self.reason = reason; self.message = message }
}

public struct ContainerStateRunning: Codable, Sendable, Equatable {
    public var startedAt: String?
    public init(startedAt: String? = nil) { self.startedAt = startedAt }
}

public struct ContainerStateTerminated: Codable, Sendable, Equatable {
    public var exitCode: Int32
    public var signal: Int32?
    public var reason: String?
    public var message: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var containerID: String?
    public init(exitCode: Int32, reason: String? = nil) { self.exitCode = exitCode; self.reason = reason }
}

public struct ContainerState: Codable, Sendable, Equatable {
    public var waiting: ContainerStateWaiting?
    public var running: ContainerStateRunning?
    public var terminated: ContainerStateTerminated?
    public init(waiting: ContainerStateWaiting? = nil, running: ContainerStateRunning? = nil, terminated: ContainerStateTerminated? = nil) {
        self.waiting = waiting; self.running = running; self.terminated = terminated
    }
}

public struct ContainerStatus: Codable, Sendable, Equatable {
    public var name: String
    public var image: String
    public var imageID: String
    public var ready: Bool
    public var restartCount: Int32
    public var started: Bool?
    public var state: ContainerState?
    public var lastState: ContainerState?
    public var containerID: String?
    public init(name: String, image: String, imageID: String = "", ready: Bool = false, restartCount: Int32 = 0) {
        self.name = name; self.image = image; self.imageID = imageID; self.ready = ready; self.restartCount = restartCount
    }
}

public struct PodIP: Codable, Sendable, Equatable {
    public var ip: String
}

public struct PodStatus: Codable, Sendable, Equatable {
    public var phase: String?
    public var conditions: [Condition]?
    public var containerStatuses: [ContainerStatus]?
    public var initContainerStatuses: [ContainerStatus]?
    public var podIP: String?
    public var podIPs: [PodIP]?
    public var hostIP: String?
    public var startTime: String?
    public var reason: String?
    public var message: String?
    public var nominatedNodeName: String?
    public init() {}
}

public struct Pod: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: PodSpec?
    public var status: PodStatus?
    public init() {}
}

public struct PodTemplateSpec: Codable, Sendable, Equatable {
    public var metadata: ObjectMeta?
    public var spec: PodSpec?
    public init() {}
}

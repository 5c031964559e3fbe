public struct RollingUpdateDeployment: Codable, Sendable, Equatable {
    public var maxSurge: IntOrString?
    public var maxUnavailable: IntOrString?
    public init(maxSurge: IntOrString? = nil, maxUnavailable: IntOrString? = nil) { self.maxSurge = maxSurge; self.maxUnavailable = maxUnavailable }
}

public struct DeploymentStrategy: Codable, Sendable, Equatable {
    public var type: String?
    public var rollingUpdate: RollingUpdateDeployment?
    public init() {}
}

public struct DeploymentSpec: Codable, Sendable, Equatable {
    public var replicas: Int32?
    public var selector: LabelSelector?
    public var template: PodTemplateSpec?
    public var strategy: DeploymentStrategy?
    public var minReadySeconds: Int32?
    public var revisionHistoryLimit: Int32?
    public var progressDeadlineSeconds: Int32?
    public var paused: Bool?
    public init() {}
}

public struct DeploymentStatus: Codable, Sendable, Equatable {
    public var observedGeneration: Int64?
    public var replicas: Int32?
    public var updatedReplicas: Int32?
    public var readyReplicas: Int32?
    public var availableReplicas: Int32?
    public var unavailableReplicas: Int32?
    public var conditions: [Condition]?
    public var collisionCount: Int32?
    public init() {}
}

public struct Deployment: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: DeploymentSpec?
    public var status: DeploymentStatus?
    public init() {}
}

public struct ReplicaSetSpec: Codable, Sendable, Equatable {
    public var replicas: Int32?
    public var selector: LabelSelector?
    public var template: PodTemplateSpec?
    public var minReadySeconds: Int32?
    public init() {}
}

public struct ReplicaSetStatus: Codable, Sendable, Equatable {
    public var replicas: Int32?
    public var fullyLabeledReplicas: Int32?
    public var readyReplicas: Int32?
    public var availableReplicas: Int32?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?
    public init() {}
}

public struct ReplicaSet: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: ReplicaSetSpec?
    public var status: ReplicaSetStatus?
    public init() {}
}

public struct JobSpec: Codable, Sendable, Equatable {
    public var completions: Int32?
    public var parallelism: Int32?
    public var backoffLimit: Int32?
    public var activeDeadlineSeconds: Int64?
    public var ttlSecondsAfterFinished: Int32?
    public var completionMode: String?
    public var suspend: Bool?
    public var manualSelector: Bool?
    public var selector: LabelSelector?
    public var template: PodTemplateSpec?
    public init() {}
}

public struct JobStatus: Codable, Sendable, Equatable {
    public var active: Int32?
    public var succeeded: Int32?
    public var failed: Int32?
    public var ready: Int32?
    public var conditions: [Condition]?
    public var startTime: String?
    public var completionTime: String?
    public init() {}
}

public struct Job: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: JobSpec?
    public var status: JobStatus?
    public init() {}
}

public struct RollingUpdateDaemonSet: Codable, Sendable, Equatable {
    public var maxUnavailable: IntOrString?
    public var maxSurge: IntOrString?
}

public struct DaemonSetUpdateStrategy: Codable, Sendable, Equatable {
    public var type: String?
    public var rollingUpdate: RollingUpdateDaemonSet?
}

public struct DaemonSetSpec: Codable, Sendable, Equatable {
    public var selector: LabelSelector?
    public var template: PodTemplateSpec?
    public var updateStrategy: DaemonSetUpdateStrategy?
    public var minReadySeconds: Int32?
    public var revisionHistoryLimit: Int32?
    public init() {}
}

public struct DaemonSetStatus: Codable, Sendable, Equatable {
    public var desiredNumberScheduled: Int32?
    public var currentNumberScheduled: Int32?
    public var numberReady: Int32?
    public var updatedNumberScheduled: Int32?
    public var numberAvailable: Int32?
    public var numberUnavailable: Int32?
    public var numberMisscheduled: Int32?
    public var observedGeneration: Int64?
    public var conditions: [Condition]?
    public init() {}
}

public struct DaemonSet: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ObjectMeta?
    public var spec: DaemonSetSpec?
    public var status: DaemonSetStatus?
    public init() {}
}

import ResourceModel

/// Milliseconds since the Unix epoch. The pure core never reads a clock: callers pass `now` in.
public typealias EpochMilliseconds = Int64

/// A container of a pod, by the pod's UID and the container's name (init and app containers share one name space).
public struct ContainerKey: Hashable, Sendable, CustomStringConvertible {
    public var podUID: String
    public var name: String
    public init(podUID: String, name: String) { self.podUID = podUID; self.name = name }
    public var description: String { "\(podUID)/\(name)" }
}

/// One instance of a container as the runtime reports it. `attempt` counts restarts (0 for the first run), so the
/// highest attempt of a name is its current instance and also its restartCount.
public struct ObservedContainer: Sendable, Equatable {
    public enum State: String, Sendable { case running, exited }
    public var id: String
    public var podUID: String
    public var name: String
    public var attempt: Int
    public var state: State
    public var startedAt: EpochMilliseconds?
    public var finishedAt: EpochMilliseconds?
    public var exitCode: Int32?
    /// The signal that ended it, if one did.
    public var signal: Int32?
    public var oomKilled: Bool
    /// The exit status is unknown (the process ended while no agent was its parent).
    public var exitUnknown: Bool

    public init(id: String, podUID: String, name: String, attempt: Int, state: State, startedAt: EpochMilliseconds? = nil,
                finishedAt: EpochMilliseconds? = nil, exitCode: Int32? = nil, signal: Int32? = nil, oomKilled: Bool = false,
                exitUnknown: Bool = false) {
        self.id = id; self.podUID = podUID; self.name = name; self.attempt = attempt; self.state = state
        self.startedAt = startedAt; self.finishedAt = finishedAt; self.exitCode = exitCode; self.signal = signal
        self.oomKilled = oomKilled; self.exitUnknown = exitUnknown
    }
}

/// A pod's sandbox: its network, IPC and UTS namespaces, with the address CNI gave it.
public struct ObservedSandbox: Sendable, Equatable {
    public var podUID: String
    public var podIP: String?
    public var createdAt: EpochMilliseconds
    public init(podUID: String, podIP: String?, createdAt: EpochMilliseconds) {
        self.podUID = podUID; self.podIP = podIP; self.createdAt = createdAt
    }
}

/// Whether an image may run: the image store's answer, remembered by the shell.
public enum ImageVerdict: Sendable, Equatable {
    case ready(imageID: String)
    case refused(reason: String, message: String, at: EpochMilliseconds)
}

/// Something the runtime could not do, kept until it is retried.
public struct RuntimeFailure: Sendable, Equatable {
    public var reason: String
    public var message: String
    public var at: EpochMilliseconds
    public init(reason: String, message: String, at: EpochMilliseconds) { self.reason = reason; self.message = message; self.at = at }
}

public enum ProbeKind: String, Sendable, Hashable, CaseIterable { case startup, liveness, readiness }

public struct ProbeResult: Sendable, Equatable {
    public var containerID: String
    public var kind: ProbeKind
    public var success: Bool
    public var message: String
    public init(containerID: String, kind: ProbeKind, success: Bool, message: String = "") {
        self.containerID = containerID; self.kind = kind; self.success = success; self.message = message
    }
}

/// Everything the runtime shell observed since the last step.
public struct RuntimeObservation: Sendable {
    public var sandboxes: [String: ObservedSandbox] = [:]
    public var containers: [ObservedContainer] = []
    /// By `ImageKey.of(namespace:reference:)`.
    public var images: [String: ImageVerdict] = [:]
    public var sandboxFailures: [String: RuntimeFailure] = [:]
    public var startFailures: [ContainerKey: RuntimeFailure] = [:]
    /// Probe results that arrived since the last step; each is consumed once.
    public var probeResults: [ProbeResult] = []
    public init() {}
}

public enum ImageKey {
    public static func of(namespace: String, reference: String) -> String { "\(namespace)|\(reference)" }
}

public enum StopSignal: String, Sendable { case term = "TERM", kill = "KILL" }

/// What the shell must do, in order within a pod.
public enum SyncAction: Sendable, Equatable {
    case createSandbox(podUID: String)
    case ensureImage(namespace: String, reference: String, pullPolicy: String)
    case startContainer(podUID: String, name: String, attempt: Int)
    case signalContainer(id: String, signal: StopSignal)
    case removeContainer(id: String)
    case removeSandbox(podUID: String)
    case runProbe(containerID: String, podUID: String, name: String, kind: ProbeKind, probe: Probe)

    /// The pod an action belongs to, so the shell can run pods side by side and each pod's actions in order.
    public var podUID: String? {
        switch self {
        case .createSandbox(let uid), .removeSandbox(let uid): return uid
        case .startContainer(let uid, _, _): return uid
        case .runProbe(_, let uid, _, _, _): return uid
        case .ensureImage: return nil
        case .signalContainer(let id, _), .removeContainer(let id): return ContainerNaming.parse(id)?.podUID
        }
    }
}

/// runc container ids: `<podUID>_<name>_<attempt>` (`_` never appears in a UID or a DNS label).
public enum ContainerNaming {
    public static func id(podUID: String, name: String, attempt: Int) -> String { "\(podUID)_\(name)_\(attempt)" }

    public static func parse(_ id: String) -> (podUID: String, name: String, attempt: Int)? {
        let parts = id.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, let attempt = Int(parts[2]), attempt >= 0 else { return nil }
        return (String(parts[0]), String(parts[1]), attempt)
    }
}

/// The result of one step of the pure core.
public struct SyncOutput: Sendable {
    public var actions: [SyncAction] = []
    /// The status of every desired pod, by UID.
    public var statuses: [String: PodStatus] = [:]
    /// Pods being deleted whose containers and sandbox are all gone: the store may drop them now.
    public var finalized: [String] = []
    public init() {}
}

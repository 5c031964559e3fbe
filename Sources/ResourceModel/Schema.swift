/// Known field names per kind, for `fieldValidation=Strict|Warn`. Subtrees we do not describe
/// field by field are `.any` (never reported), so only fields that are surely unknown are flagged.
public indirect enum FieldSchema: Sendable {
    /// Anything is accepted below this point.
    case any
    /// A map with free-form keys (labels, annotations, data) whose values follow the schema.
    case map(FieldSchema)
    case list(FieldSchema)
    case object([String: FieldSchema])

    /// `unknown field "spec.foo"` paths, in document order.
    public func unknownFields(in value: JSONValue, path: String = "") -> [String] {
        switch (self, value) {
        case (.object(let fields), .object(let o)):
            var out: [String] = []
            for (k, v) in o {
                let p = path.isEmpty ? k : "\(path).\(k)"
                guard let child = fields[k] else {
                    out.append(p)
                    continue
                }
                out += child.unknownFields(in: v, path: p)
            }
            return out
        case (.list(let item), .array(let items)):
            return items.enumerated().flatMap { item.unknownFields(in: $1, path: "\(path)[\($0)]") }
        case (.map(let valueSchema), .object(let o)):
            return o.flatMap { valueSchema.unknownFields(in: $0.value, path: "\(path).\($0.key)") }
        default:
            return []
        }
    }
}

public enum Schemas {
    /// Kubernetes' strict-decoding wording for one unknown field.
    public static func unknownFieldMessage(_ path: String) -> String { "unknown field \(goQuote(path))" }

    /// Unknown fields in an object of the given kind (empty when the kind has no schema).
    public static func unknownFields(in object: JSONValue, kind: String) -> [String] {
        schema(for: kind)?.unknownFields(in: object) ?? []
    }

    /// The 400 message kube-apiserver returns under `fieldValidation=Strict`.
    public static func strictDecodingMessage(kind: String, apiVersion: String, unknown: [String]) -> String {
        let version = apiVersion.split(separator: "/").last.map(String.init) ?? apiVersion
        return "\(kind) in version \(goQuote(version)) cannot be handled as a \(kind): strict decoding error: "
            + unknown.map(unknownFieldMessage).joined(separator: ", ")
    }

    static func fields(_ names: String, _ extra: [String: FieldSchema] = [:]) -> FieldSchema {
        var all: [String: FieldSchema] = [:]
        for n in names.split(separator: " ") { all[String(n)] = .any }
        for (k, v) in extra { all[k] = v }
        return .object(all)
    }

    static let strings = FieldSchema.map(.any)

    static let objectMeta = fields(
        "name generateName namespace selfLink uid resourceVersion generation creationTimestamp deletionTimestamp deletionGracePeriodSeconds managedFields",
        ["labels": strings, "annotations": strings, "finalizers": .list(.any),
         "ownerReferences": .list(fields("apiVersion kind name uid controller blockOwnerDeletion"))])

    static let labelSelector = fields("", [
        "matchLabels": strings,
        "matchExpressions": .list(fields("key operator values")),
    ])

    static let probe = fields("exec grpc initialDelaySeconds timeoutSeconds periodSeconds successThreshold failureThreshold terminationGracePeriodSeconds", [
        "httpGet": fields("path port host scheme httpHeaders"),
        "tcpSocket": fields("port host"),
    ])

    static let container = fields(
        "name image command args workingDir resizePolicy restartPolicy volumeDevices lifecycle terminationMessagePath terminationMessagePolicy imagePullPolicy securityContext stdin stdinOnce tty",
        ["ports": .list(fields("name hostPort containerPort protocol hostIP")),
         "envFrom": .list(fields("prefix configMapRef secretRef")),
         "env": .list(fields("name value", ["valueFrom": fields("fieldRef resourceFieldRef configMapKeyRef secretKeyRef")])),
         "resources": fields("claims", ["requests": strings, "limits": strings]),
         "volumeMounts": .list(fields("name readOnly recursiveReadOnly mountPath subPath mountPropagation subPathExpr")),
         "livenessProbe": probe, "readinessProbe": probe, "startupProbe": probe])

    static let nodeSelectorTerm = fields("", [
        "matchExpressions": .list(fields("key operator values")),
        "matchFields": .list(fields("key operator values")),
    ])

    static let podAffinityTerm = fields("namespaces topologyKey matchLabelKeys mismatchLabelKeys", [
        "labelSelector": labelSelector, "namespaceSelector": labelSelector,
    ])

    static let podAffinity = fields("", [
        "requiredDuringSchedulingIgnoredDuringExecution": .list(podAffinityTerm),
        "preferredDuringSchedulingIgnoredDuringExecution": .list(fields("weight", ["podAffinityTerm": podAffinityTerm])),
    ])

    static let volumeSources = "hostPath emptyDir gcePersistentDisk awsElasticBlockStore gitRepo secret nfs iscsi glusterfs persistentVolumeClaim rbd flexVolume cinder cephfs flocker downwardAPI fc azureFile configMap vsphereVolume quobyte azureDisk photonPersistentDisk projected portworxVolume scaleIO storageos csi ephemeral image"

    static let podSpec = fields(
        "ephemeralContainers restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork hostPID hostIPC shareProcessNamespace securityContext imagePullSecrets hostname subdomain schedulerName hostAliases priorityClassName priority dnsConfig readinessGates runtimeClassName enableServiceLinks preemptionPolicy overhead setHostnameAsFQDN os hostUsers schedulingGates resourceClaims resources",
        ["containers": .list(container), "initContainers": .list(container), "nodeSelector": strings,
         "volumes": .list(fields("name " + volumeSources)),
         "tolerations": .list(fields("key operator value effect tolerationSeconds")),
         "topologySpreadConstraints": .list(fields("maxSkew topologyKey whenUnsatisfiable minDomains nodeAffinityPolicy nodeTaintsPolicy matchLabelKeys", ["labelSelector": labelSelector])),
         "affinity": fields("", [
            "nodeAffinity": fields("", [
                "requiredDuringSchedulingIgnoredDuringExecution": fields("", ["nodeSelectorTerms": .list(nodeSelectorTerm)]),
                "preferredDuringSchedulingIgnoredDuringExecution": .list(fields("weight", ["preference": nodeSelectorTerm])),
            ]),
            "podAffinity": podAffinity, "podAntiAffinity": podAffinity,
         ])])

    static let template = fields("", ["metadata": objectMeta, "spec": podSpec])

    static func top(_ names: String, _ extra: [String: FieldSchema]) -> FieldSchema {
        var e = extra
        e["metadata"] = objectMeta
        e["status"] = .any
        return fields("apiVersion kind " + names, e)
    }

    static let cache: [String: FieldSchema] = {
        var all: [String: FieldSchema] = [:]
        for r in ResourceRegistry.all { all[r.kind] = build(r.kind) }
        return all
    }()

    public static func schema(for kind: String) -> FieldSchema? { cache[kind] }

    static func build(_ kind: String) -> FieldSchema? {
        switch kind {
        case "Pod": return top("", ["spec": podSpec])
        case "Deployment":
            return top("", ["spec": fields("replicas minReadySeconds revisionHistoryLimit paused progressDeadlineSeconds", [
                "selector": labelSelector, "template": template,
                "strategy": fields("type", ["rollingUpdate": fields("maxSurge maxUnavailable")]),
            ])])
        case "ReplicaSet":
            return top("", ["spec": fields("replicas minReadySeconds", ["selector": labelSelector, "template": template])])
        case "DaemonSet":
            return top("", ["spec": fields("minReadySeconds revisionHistoryLimit", [
                "selector": labelSelector, "template": template,
                "updateStrategy": fields("type", ["rollingUpdate": fields("maxSurge maxUnavailable")]),
            ])])
        case "Job":
            return top("", ["spec": fields("parallelism completions activeDeadlineSeconds podFailurePolicy successPolicy backoffLimit backoffLimitPerIndex maxFailedIndexes manualSelector ttlSecondsAfterFinished completionMode suspend podReplacementPolicy managedBy", [
                "selector": labelSelector, "template": template,
            ])])
        case "Service":
            return top("", ["spec": fields("clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort publishNotReadyAddresses sessionAffinityConfig ipFamilies ipFamilyPolicy allocateLoadBalancerNodePorts loadBalancerClass internalTrafficPolicy trafficDistribution", [
                "selector": strings,
                "ports": .list(fields("name protocol appProtocol port targetPort nodePort")),
            ])])
        case "ConfigMap": return top("immutable", ["data": strings, "binaryData": strings])
        case "Secret": return top("type immutable", ["data": strings, "stringData": strings])
        case "Namespace": return top("", ["spec": fields("finalizers")])
        case "Node":
            return top("", ["spec": fields("podCIDR podCIDRs providerID unschedulable configSource externalID", [
                "taints": .list(fields("key value effect timeAdded")),
            ])])
        case "Endpoints": return top("", ["subsets": .list(fields("addresses notReadyAddresses ports"))])
        case "Event":
            return top("reason message firstTimestamp lastTimestamp count type eventTime series action related reportingComponent reportingInstance", [
                "involvedObject": fields("kind namespace name uid apiVersion resourceVersion fieldPath"),
                "source": fields("component host"),
            ])
        default: return nil
        }
    }
}

import Simulation
import Testing
@testable import ResourceModel

@Suite struct ValidationTests {
    static let pods = ResourceRegistry.lookup(kind: "Pod")!
    static let deployments = ResourceRegistry.lookup(kind: "Deployment")!

    func errors(_ text: String, _ kind: String, defaulted: Bool = true) throws -> [String] {
        var v = try JSONValue.parse(text)
        let info = try #require(ResourceRegistry.lookup(kind: kind))
        if defaulted { Defaulting.apply(&v, as: info) }
        return Validation.validate(v, as: info).map(\.description)
    }

    func pod(_ spec: String, meta: String = #"{"name":"p","namespace":"default"}"#) -> String {
        #"{"apiVersion":"v1","kind":"Pod","metadata":\#(meta),"spec":\#(spec)}"#
    }

    @Test func realManifestsAreValid() throws {
        for (name, kind) in [("deployment", "Deployment"), ("pod", "Pod"), ("service", "Service"), ("job", "Job"),
                             ("daemonSet", "DaemonSet"), ("configMap", "ConfigMap"), ("secret", "Secret")] {
            let errs = try errors(Manifests.all[name] ?? "", kind)
            #expect(errs.isEmpty, "\(name): \(errs)")
        }
    }

    @Test func invalidObjectName() throws {
        let errs = try errors(pod(#"{"containers":[{"name":"a","image":"x"}]}"#, meta: #"{"name":"Foo_1","namespace":"default"}"#), "Pod")
        #expect(errs == [#"metadata.name: Invalid value: "Foo_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#])
    }

    @Test func nameOrGenerateNameRequired() throws {
        #expect(try errors(pod(#"{"containers":[{"name":"a","image":"x"}]}"#, meta: #"{"namespace":"default"}"#), "Pod")
            == ["metadata.name: Required value: name or generateName is required"])
        // A trailing dash is fine in generateName.
        #expect(try errors(pod(#"{"containers":[{"name":"a","image":"x"}]}"#, meta: #"{"generateName":"web-","namespace":"default"}"#), "Pod").isEmpty)
        #expect(try errors(pod(#"{"containers":[{"name":"a","image":"x"}]}"#, meta: #"{"generateName":"Web-","namespace":"default"}"#), "Pod").first?
            .hasPrefix(#"metadata.generateName: Invalid value: "Web-": a lowercase RFC 1123 subdomain"#) == true)
    }

    @Test func namespaceAndServiceNames() throws {
        let ns = try errors(#"{"metadata":{"name":"a.b"}}"#, "Namespace")
        #expect(ns == [#"metadata.name: Invalid value: "a.b": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"#])
        let svc = try errors(#"{"metadata":{"name":"1web","namespace":"default"},"spec":{"ports":[{"port":80}]}}"#, "Service")
        #expect(svc == [#"metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"#])
        let long = String(repeating: "a", count: 64)
        #expect(try errors(#"{"metadata":{"name":"\#(long)"}}"#, "Namespace") == [#"metadata.name: Invalid value: "\#(long)": must be no more than 63 characters"#])
        #expect(try errors(#"{"metadata":{"name":"n1","namespace":"x"}}"#, "Node") == ["metadata.namespace: Forbidden: not allowed on this type"])
    }

    @Test func labelsAndAnnotations() throws {
        let meta = #"{"name":"p","namespace":"default","labels":{"bad key":"v","ok":"-bad"},"annotations":{"a":"\#(String(repeating: "x", count: 262_144))"}}"#
        let errs = try errors(pod(#"{"containers":[{"name":"a","image":"x"}]}"#, meta: meta), "Pod")
        #expect(errs == [
            #"metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"#,
            #"metadata.labels: Invalid value: "-bad": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"#,
            "metadata.annotations: Too long: must have at most 262144 bytes",
        ])
        #expect(NameValidation.qualifiedName("example.com/app") == [])
        #expect(NameValidation.qualifiedName("/app") == ["prefix part must be non-empty"])
        #expect(NameValidation.qualifiedName("a/b/c").first?.hasPrefix("a qualified name must consist of") == true)
        #expect(NameValidation.qualifiedName("Example.com/app").first?.hasPrefix("prefix part a lowercase RFC 1123 subdomain") == true)
        #expect(NameValidation.qualifiedName(String(repeating: "a", count: 64)) == ["name part must be no more than 63 characters"])
    }

    @Test func containerRules() throws {
        let errs = try errors(pod(#"{"containers":[{"name":"a","image":""},{"name":"a","image":"x","ports":[{"containerPort":70000},{"containerPort":0,"protocol":"XTP"}]},{"name":"","image":"y"}]}"#), "Pod")
        #expect(errs == [
            "spec.containers[0].image: Required value",
            #"spec.containers[1].name: Duplicate value: "a""#,
            "spec.containers[1].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            "spec.containers[1].ports[1].containerPort: Required value",
            #"spec.containers[1].ports[1].protocol: Unsupported value: "XTP": supported values: "SCTP", "TCP", "UDP""#,
            "spec.containers[2].name: Required value",
        ])
        #expect(try errors(pod(#"{"containers":[]}"#), "Pod") == ["spec.containers: Required value"])
        #expect(try errors(pod(#"{}"#), "Pod") == ["spec.containers: Required value"])
    }

    @Test func restartPolicyAndMounts() throws {
        let errs = try errors(pod(#"{"restartPolicy":"Sometimes","containers":[{"name":"a","image":"x","volumeMounts":[{"name":"data","mountPath":"/d"}]}]}"#), "Pod")
        #expect(errs == [
            #"spec.containers[0].volumeMounts[0].name: Not found: "data""#,
            #"spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
        ])
        let vol = try errors(pod(#"{"volumes":[{"name":"v"},{"name":"w","emptyDir":{},"hostPath":{"path":"/x"}}],"containers":[{"name":"a","image":"x"}]}"#), "Pod")
        #expect(vol == ["spec.volumes[0]: Required value: must specify a volume type", "spec.volumes[1].hostPath: Forbidden: may not specify more than 1 volume type"])
    }

    @Test func resourcesAndQuantities() throws {
        let bad = try errors(pod(#"{"containers":[{"name":"a","image":"x","resources":{"limits":{"cpu":"1 core"}}}]}"#), "Pod")
        #expect(bad == [#"spec.containers[0].resources.limits[cpu]: Invalid value: "1 core": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"#])
        let over = try errors(pod(#"{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"2"},"limits":{"cpu":"1","memory":"-1"}}}]}"#), "Pod")
        #expect(over == [
            #"spec.containers[0].resources.limits[memory]: Invalid value: "-1": must be greater than or equal to 0"#,
            #"spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1"#,
        ])
    }

    @Test func probesAndTolerations() throws {
        let errs = try errors(pod(#"{"containers":[{"name":"a","image":"x","livenessProbe":{"periodSeconds":-1,"successThreshold":2,"exec":{"command":["true"]}},"readinessProbe":{}}],"tolerations":[{"key":"k","operator":"Exists","value":"v"},{"operator":"Equal","value":"x"},{"key":"k","operator":"Maybe"}]}"#), "Pod")
        #expect(errs.contains("spec.containers[0].livenessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"))
        #expect(errs.contains("spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"))
        #expect(errs.contains("spec.containers[0].readinessProbe: Required value: must specify a handler type"))
        #expect(errs.contains { $0.hasPrefix("spec.tolerations[0].operator: Invalid value: ") && $0.hasSuffix("value must be empty when `operator` is 'Exists'") })
        #expect(errs.contains(#"spec.tolerations[1].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys""#))
        #expect(errs.contains(#"spec.tolerations[2].operator: Unsupported value: "Maybe": supported values: "Equal", "Exists""#))
        #expect(errs.count == 6)
    }

    @Test func affinityRules() throws {
        let errs = try errors(pod(#"{"containers":[{"name":"a","image":"x"}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"zone","operator":"In"},{"key":"n","operator":"Gt","values":["1","2"]},{"key":"e","operator":"Exists","values":["x"]}]}]}},"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":""}]}}}"#), "Pod")
        #expect(errs == [
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[1].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[2].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey: Required value: can not be empty",
        ])
    }

    func deployment(_ spec: String) -> String {
        #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad","namespace":"default"},"spec":\#(spec)}"#
    }

    @Test func deploymentRules() throws {
        #expect(try errors(deployment(#"{"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"a","image":"x"}]}}}"#), "Deployment")
            == ["spec.selector: Required value"])
        #expect(try errors(deployment(#"{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"a","image":"x"}]}}}"#), "Deployment")
            == [#"spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`"#])
        let neg = try errors(deployment(#"{"replicas":-1,"selector":{"matchLabels":{"app":"x"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"restartPolicy":"Never","containers":[{"name":"a","image":"x"}]}}}"#), "Deployment")
        #expect(neg == [
            "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
            #"spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always""#,
            #"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"0%"}: may not be 0 when `maxSurge` is 0"#,
        ])
        let pct = try errors(deployment(#"{"selector":{"matchLabels":{"app":"x"}},"strategy":{"rollingUpdate":{"maxSurge":"x%","maxUnavailable":"150%"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"a","image":"x"}]}}}"#), "Deployment")
        #expect(pct == [
            #"spec.strategy.rollingUpdate.maxSurge: Invalid value: "x%": a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"#,
            #"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: "150%": must not be greater than 100%"#,
        ])
    }

    @Test func statusMessageForManyCauses() throws {
        var v = try JSONValue.parse(deployment(#"{"replicas":-1,"template":{"spec":{"containers":[{"name":"a"}]}}}"#))
        Defaulting.apply(&v, as: Self.deployments)
        let status = Status.invalid(Self.deployments, name: "bad", errors: Validation.validate(v, as: Self.deployments))
        #expect(status.message == #"Deployment.apps "bad" is invalid: [spec.replicas: Invalid value: -1: must be greater than or equal to 0, spec.selector: Required value, spec.template.spec.containers[0].image: Required value]"#)
        #expect(status.details?.causes?.map(\.reason) == ["FieldValueInvalid", "FieldValueRequired", "FieldValueRequired"])
        #expect(status.details?.causes?.first?.message == "Invalid value: -1: must be greater than or equal to 0")
        #expect(status.details?.causes?.first?.field == "spec.replicas")
    }

    @Test func jobAndDaemonSetRules() throws {
        let job = try errors(#"{"metadata":{"name":"j","namespace":"default"},"spec":{"backoffLimit":-1,"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}"#, "Job")
        #expect(job == [
            "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0",
            #"spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#,
        ])
        let ds = try errors(#"{"metadata":{"name":"d","namespace":"default"},"spec":{"selector":{"matchLabels":{"a":"b"}},"updateStrategy":{"type":"Sometimes"},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"a","image":"x"}]}}}}"#, "DaemonSet")
        #expect(ds == [#"spec.updateStrategy.type: Unsupported value: "Sometimes": supported values: "OnDelete", "RollingUpdate""#])
    }

    @Test func serviceRules() throws {
        let errs = try errors(#"{"metadata":{"name":"s","namespace":"default"},"spec":{"type":"Magic","ports":[{"port":80},{"port":0,"name":"b"}]}}"#, "Service")
        #expect(errs == [
            #"spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort""#,
            "spec.ports[0].name: Required value",
            "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        ])
        #expect(try errors(#"{"metadata":{"name":"s","namespace":"default"},"spec":{}}"#, "Service") == ["spec.ports: Required value"])
    }

    @Test func configMapAndSecretRules() throws {
        let cm = try errors(#"{"metadata":{"name":"c","namespace":"default"},"data":{"a b":"x","k":"1"},"binaryData":{"k":"AA=="}}"#, "ConfigMap")
        #expect(cm == [
            #"data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"#,
            #"data[k]: Invalid value: "k": duplicate of key present in binaryData"#,
        ])
        let secret = try errors(#"{"metadata":{"name":"s","namespace":"default"},"data":{"k":"not base64!"}}"#, "Secret")
        #expect(secret == ["data[k]: Invalid value: null: illegal base64 data at input byte 3"])
    }

    @Test func typeMismatchDoesNotCrash() throws {
        let errs = try errors(pod(#"{"containers":"nope"}"#), "Pod", defaulted: false)
        #expect(errs.count == 1)
    }
}

@Suite struct DefaultingTests {
    func defaulted(_ text: String, _ kind: String) throws -> JSONValue {
        var v = try JSONValue.parse(text)
        Defaulting.apply(&v, as: try #require(ResourceRegistry.lookup(kind: kind)))
        return v
    }

    @Test func podDefaults() throws {
        let v = try defaulted(#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"nginx","ports":[{"containerPort":80}],"readinessProbe":{"httpGet":{"port":80}}},{"name":"b","image":"nginx:1.21"},{"name":"c","image":"reg:5000/x:latest"},{"name":"d","image":"reg:5000/x"}]}}"#, "Pod")
        #expect(v["apiVersion"] == "v1")
        #expect(v["kind"] == "Pod")
        let spec = try #require(v["spec"])
        #expect(spec["restartPolicy"] == "Always")
        #expect(spec["dnsPolicy"] == "ClusterFirst")
        #expect(spec["terminationGracePeriodSeconds"] == .int(30))
        #expect(spec["schedulerName"] == "default-scheduler")
        let cs = spec["containers"]?.arrayValue ?? []
        #expect(cs.map { $0["imagePullPolicy"]?.stringValue ?? "" } == ["Always", "IfNotPresent", "Always", "Always"])
        #expect(cs[0]["terminationMessagePath"] == "/dev/termination-log")
        #expect(cs[0]["terminationMessagePolicy"] == "File")
        #expect(cs[0]["ports"]?.arrayValue?.first?["protocol"] == "TCP")
        let probe = try #require(cs[0]["readinessProbe"])
        #expect(probe["periodSeconds"] == .int(10))
        #expect(probe["timeoutSeconds"] == .int(1))
        #expect(probe["successThreshold"] == .int(1))
        #expect(probe["failureThreshold"] == .int(3))
        #expect(probe["httpGet"]?["scheme"] == "HTTP")
    }

    @Test func keepsClientValues() throws {
        let v = try defaulted(#"{"spec":{"restartPolicy":"Never","containers":[{"name":"a","image":"nginx","imagePullPolicy":"Never"}]}}"#, "Pod")
        #expect(v["spec"]?["restartPolicy"] == "Never")
        #expect(v["spec"]?["containers"]?.arrayValue?.first?["imagePullPolicy"] == "Never")
    }

    @Test func workloadDefaults() throws {
        let d = try defaulted(#"{"spec":{"strategy":{},"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}"#, "Deployment")
        #expect(d["spec"]?["replicas"] == .int(1))
        #expect(d["spec"]?["strategy"] == ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": "25%", "maxSurge": "25%"]])
        #expect(d["spec"]?["revisionHistoryLimit"] == .int(10))
        #expect(d["spec"]?["progressDeadlineSeconds"] == .int(600))
        #expect(d["spec"]?["template"]?["spec"]?["restartPolicy"] == "Always")
        let recreate = try defaulted(#"{"spec":{"strategy":{"type":"Recreate"}}}"#, "Deployment")
        #expect(recreate["spec"]?["strategy"]?["rollingUpdate"] == nil)
        #expect(try defaulted(#"{"spec":{}}"#, "ReplicaSet")["spec"]?["replicas"] == .int(1))
        let job = try defaulted(#"{"spec":{}}"#, "Job")
        #expect(job["spec"]?["completions"] == .int(1))
        #expect(job["spec"]?["parallelism"] == .int(1))
        #expect(job["spec"]?["backoffLimit"] == .int(6))
        let ds = try defaulted(#"{"spec":{}}"#, "DaemonSet")
        #expect(ds["spec"]?["updateStrategy"]?["type"] == "RollingUpdate")
        #expect(ds["spec"]?["updateStrategy"]?["rollingUpdate"]?["maxUnavailable"] == .int(1))
    }

    @Test func serviceAndSecretDefaults() throws {
        let s = try defaulted(#"{"spec":{"ports":[{"port":80},{"port":443,"targetPort":8443,"protocol":"UDP"}]}}"#, "Service")
        #expect(s["spec"]?["type"] == "ClusterIP")
        #expect(s["spec"]?["ports"] == [["port": 80, "protocol": "TCP", "targetPort": 80], ["port": 443, "targetPort": 8443, "protocol": "UDP"]])
        let secret = try defaulted(Manifests.secret, "Secret")
        #expect(secret["type"] == "Opaque")
        #expect(secret["stringData"] == nil)
        #expect(secret["data"] == ["c": "czNjcjN0", "plain": "aGk="])
    }

    @Test func serverFieldsOnCreateAndUpdate() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "Deployment"))
        var d = try defaulted(Manifests.deployment, "Deployment")
        d["status"] = ["replicas": 9]
        ServerFields.prepareForCreate(&d, as: info, uid: "u-1", nowEpochSeconds: 1_714_564_800, resourceVersion: "5", namespace: "default")
        #expect(d["metadata"]?["uid"] == "u-1")
        #expect(d["metadata"]?["creationTimestamp"] == "2024-05-01T12:00:00Z")
        #expect(d["metadata"]?["generation"] == .int(1))
        #expect(d["metadata"]?["resourceVersion"] == "5")
        #expect(d["status"] == .object(JSONObject()))
        // Unmodelled fields survive.
        #expect(d.value(at: ["spec", "template", "spec", "dnsConfig"]) != nil)

        var same = d
        same["metadata"]?["uid"] = "forged"
        ServerFields.prepareForUpdate(&same, old: d, as: info, resourceVersion: "6")
        #expect(same["metadata"]?["uid"] == "u-1")
        #expect(same["metadata"]?["generation"] == .int(1))
        var changed = d
        changed.set(.int(5), at: ["spec", "replicas"])
        changed["status"] = ["replicas": 100]
        ServerFields.prepareForUpdate(&changed, old: d, as: info, resourceVersion: "7")
        #expect(changed["metadata"]?["generation"] == .int(2))
        #expect(changed["status"] == .object(JSONObject()))
        let statusUpdate = ServerFields.prepareForStatusUpdate(changed.setting(["status"], ["replicas": 3]), old: d, resourceVersion: "8")
        #expect(statusUpdate["status"] == ["replicas": 3])
        #expect(statusUpdate["spec"] == d["spec"])
    }

    @Test func podCreateSetsPhaseAndQoS() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "Pod"))
        var p = try defaulted(#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}}"#, "Pod")
        ServerFields.prepareForCreate(&p, as: info, uid: "u", nowEpochSeconds: 0, resourceVersion: "1", namespace: "ns1")
        #expect(p["status"]?["phase"] == "Pending")
        #expect(p["status"]?["qosClass"] == "Guaranteed")
        #expect(p["metadata"]?["namespace"] == "ns1")
        #expect(p["metadata"]?["generation"] == nil)
        #expect(ServerFields.qosClass(["containers": [["name": "a"]]]) == "BestEffort")
        #expect(ServerFields.qosClass(["containers": [["resources": ["requests": ["cpu": "1"]]]]]) == "Burstable")
    }

    @Test func jobSelectorIsGenerated() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "Job"))
        var j = try defaulted(Manifests.job, "Job")
        ServerFields.prepareForCreate(&j, as: info, uid: "abc", nowEpochSeconds: 0, resourceVersion: "1", namespace: "default")
        #expect(j["spec"]?["selector"]?["matchLabels"] == ["batch.kubernetes.io/controller-uid": "abc"])
        #expect(j.value(at: ["spec", "template", "metadata", "labels", "job-name"]) == "pi")
        #expect(Validation.validate(j, as: info).isEmpty)
    }

    @Test func generatedNamesAreDeterministic() {
        var a = SeededRandom(seed: 7), b = SeededRandom(seed: 7)
        let n1 = ServerFields.generatedName(prefix: "web-", using: &a)
        #expect(n1 == ServerFields.generatedName(prefix: "web-", using: &b))
        #expect(n1.hasPrefix("web-") && n1.count == 9)
        #expect(NameValidation.dns1123Subdomain(n1).isEmpty)
    }
}

extension JSONValue {
    func setting(_ path: [String], _ value: JSONValue) -> JSONValue {
        var copy = self
        copy.set(value, at: path)
        return copy
    }
}

@Suite struct UpdateValidationTests {
    func defaulted(_ v: JSONValue, _ kind: String) -> JSONValue {
        var copy = v
        if let info = ResourceRegistry.lookup(kind: kind) { Defaulting.apply(&copy, as: info) }
        return copy
    }

    @Test func podOnlyImageAndTolerationAdditions() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "Pod"))
        let old = defaulted(Manifests.json(Manifests.pod), "Pod")
        var newImage = old
        newImage.update(["spec"]) { spec in spec.updateEach("containers") { $0["image"] = "postgres:17" } }
        #expect(Validation.validateUpdate(newImage, old: old, as: info).isEmpty)
        var moreTolerations = old
        moreTolerations.set(.array((old["spec"]?["tolerations"]?.arrayValue ?? []) + [["operator": "Exists"]]), at: ["spec", "tolerations"])
        #expect(Validation.validateUpdate(moreTolerations, old: old, as: info).isEmpty)
        var bound = old
        bound.set("n1", at: ["spec", "nodeName"])
        #expect(Validation.validateUpdate(bound, old: old, as: info).isEmpty)
        var changed = old
        changed.set("Never", at: ["spec", "restartPolicy"])
        let errs = Validation.validateUpdate(changed, old: old, as: info)
        #expect(errs.map(\.description) == ["spec: Forbidden: " + Validation.podUpdateMessage])
        #expect(errs.first?.type.reason == "FieldValueForbidden")
    }

    @Test func selectorsAndImmutableData() throws {
        let deploy = try #require(ResourceRegistry.lookup(kind: "Deployment"))
        let old = defaulted(Manifests.json(Manifests.deployment), "Deployment")
        var moved = old
        moved.set(["matchLabels": ["app": "other"]], at: ["spec", "selector"])
        #expect(Validation.validateUpdate(moved, old: old, as: deploy).map(\.description)
            == [#"spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{"app":"other"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"#])
        var scaled = old
        scaled.set(.int(7), at: ["spec", "replicas"])
        #expect(Validation.validateUpdate(scaled, old: old, as: deploy).isEmpty)

        let cmInfo = try #require(ResourceRegistry.lookup(kind: "ConfigMap"))
        var cm = Manifests.json(Manifests.configMap)
        cm["immutable"] = true
        var edited = cm
        edited.set("changed", at: ["data", "b"])
        #expect(Validation.validateUpdate(edited, old: cm, as: cmInfo).map(\.description) == ["data: Forbidden: field is immutable when `immutable` is set"])

        let svcInfo = try #require(ResourceRegistry.lookup(kind: "Service"))
        let svc = Manifests.json(Manifests.service).setting(["spec", "clusterIP"], "10.0.0.2")
        #expect(Validation.validateUpdate(svc.setting(["spec", "clusterIP"], "10.0.0.3"), old: svc, as: svcInfo).map(\.description)
            == [#"spec.clusterIPs[0]: Invalid value: []string{"10.0.0.3"}: may not change once set"#])
    }
}

import Foundation
import Testing
@testable import ResourceModel

@Suite struct TypedViewTests {
    @Test(arguments: ["deployment", "pod", "service", "job", "daemonSet", "configMap", "secret"])
    func roundTripKeepsEverything(_ name: String) throws {
        let text = Manifests.all[name] ?? ""
        let v = try JSONValue.parse(text)
        let again = try JSONValue.parse(v.serialized())
        #expect(again == v)
        #expect(again.serialized() == v.serialized())
    }

    @Test func deploymentView() throws {
        let v = Manifests.json(Manifests.deployment)
        let d: Deployment = try v.decode()
        #expect(d.metadata?.name == "web")
        #expect(d.spec?.replicas == 3)
        #expect(d.spec?.strategy?.rollingUpdate?.maxSurge == .string("25%"))
        #expect(d.spec?.strategy?.rollingUpdate?.maxUnavailable == .int(0))
        let c = try #require(d.spec?.template?.spec?.containers.first)
        #expect(c.resources?.limits?["cpu"] == (try Quantity("1")))
        #expect(c.resources?.requests?["memory"]?.description == "64Mi")
        // Unmodelled fields stay in the tree.
        #expect(v.value(at: ["spec", "template", "spec", "dnsConfig", "options"]) != nil)
        #expect(v.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.first?["futureField"] != nil)
    }

    @Test func podView() throws {
        let pod: Pod = try Manifests.json(Manifests.pod).decode()
        let spec = try #require(pod.spec)
        #expect(spec.containers[0].env?.count == 4)
        #expect(spec.containers[0].env?[1].valueFrom?.configMapKeyRef?.key == "b")
        #expect(spec.containers[0].env?[3].valueFrom?.fieldRef?.fieldPath == "spec.nodeName")
        #expect(spec.containers[0].readinessProbe?.httpGet?.port == .int(8080))
        #expect(spec.containers[0].startupProbe?.tcpSocket?.port == .int(5432))
        #expect(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms.first?.matchExpressions?.first?.values == ["a", "b"])
        #expect(spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.first?.topologyKey == "kubernetes.io/hostname")
        #expect(spec.volumes?.first?.emptyDir?.sizeLimit?.description == "1Gi")
        #expect(spec.volumes?[1].configMap?.items?.first?.path == "b.txt")
        #expect(spec.volumes?[2].secret?.defaultMode == 256)
        #expect(spec.tolerations?.first?.tolerates(Taint(key: "dedicated", value: "db", effect: "NoSchedule")) == true)
        #expect(spec.tolerations?.first?.tolerates(Taint(key: "dedicated", value: "web", effect: "NoSchedule")) == false)
        #expect(spec.initContainers?.first?.command == ["sh", "-c", "true"])
    }

    @Test func encodeTypedViewBack() throws {
        var status = PodStatus()
        status.phase = "Running"
        var cs = ContainerStatus(name: "a", image: "nginx", ready: true, restartCount: 2)
        cs.state = ContainerState(running: ContainerStateRunning(startedAt: "2024-01-01T00:00:00Z"))
        status.containerStatuses = [cs]
        let json = try JSONValue.encode(status)
        #expect(json["phase"] == "Running")
        #expect(json["containerStatuses"]?.arrayValue?.first?["restartCount"] == .int(2))
        #expect(json["podIP"] == nil)
        let back: PodStatus = try json.decode()
        #expect(back == status)
    }

    @Test func typeMismatchIsAnErrorNotACrash() {
        let bad: JSONValue = ["spec": ["replicas": "three"]]
        #expect(throws: TypedViewError.self) { let _: Deployment = try bad.decode() }
    }

    @Test func statusShapes() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "Deployment"))
        let s = Status.notFound(info, name: "nope").json
        #expect(s.serialized(sortedKeys: true) == #"{"apiVersion":"v1","code":404,"details":{"group":"apps","kind":"deployments","name":"nope"},"kind":"Status","message":"deployments.apps \"nope\" not found","metadata":{},"reason":"NotFound","status":"Failure"}"#)
        let pods = try #require(ResourceRegistry.resolve("po"))
        #expect(Status.alreadyExists(pods, name: "p1").message == #"pods "p1" already exists"#)
        #expect(Status.conflict(info, name: "web").message == #"Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again"#)
        let invalid = Status.invalid(info, name: "bad", errors: [.required("spec.selector")])
        #expect(invalid.message == #"Deployment.apps "bad" is invalid: spec.selector: Required value"#)
        #expect(invalid.details?.causes == [StatusCause(reason: "FieldValueRequired", message: "Required value", field: "spec.selector")])
        let two = Status.invalid(pods, name: "x", errors: [.required("spec.containers[0].image"), .notSupported("spec.restartPolicy", "Sometimes", ["Always", "OnFailure", "Never"])])
        #expect(two.message == #"Pod "x" is invalid: [spec.containers[0].image: Required value, spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"]"#)
        #expect(two.code == 422)
    }

    @Test func listAndWatchShapes() {
        let list = makeList(kind: "Pod", apiVersion: "v1", resourceVersion: "7", items: [])
        #expect(list.serialized() == #"{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7"},"items":[]}"#)
        let ev = WatchEvent(type: .added, object: ["kind": "Pod"])
        #expect(ev.json.serialized() == #"{"type":"ADDED","object":{"kind":"Pod"}}"#)
    }

    @Test func scaleShape() throws {
        let s = Scale(metadata: nil, spec: ScaleSpec(replicas: 3), status: ScaleStatus(replicas: 2, selector: "app=web"))
        let j = try JSONValue.encode(s)
        #expect(j["kind"] == "Scale")
        #expect(j["apiVersion"] == "autoscaling/v1")
        #expect(j["status"]?["replicas"] == .int(2))
    }
}

@Suite struct RegistryTests {
    @Test func resolvesShortNamesAndPlurals() {
        for (name, kind) in [("po", "Pod"), ("deploy", "Deployment"), ("rs", "ReplicaSet"), ("svc", "Service"), ("ep", "Endpoints"),
                             ("cm", "ConfigMap"), ("ns", "Namespace"), ("no", "Node"), ("ev", "Event"), ("ds", "DaemonSet"),
                             ("jobs", "Job"), ("deployments.apps", "Deployment"), ("secret", "Secret")] {
            #expect(ResourceRegistry.resolve(name)?.kind == kind, "\(name)")
        }
        #expect(ResourceRegistry.resolve("pods.apps") == nil)
        #expect(ResourceRegistry.lookup(apiVersion: "batch/v1", kind: "Job")?.resource == "jobs")
        #expect(ResourceRegistry.lookup(group: "", version: "v1", resource: "nodes")?.namespaced == false)
    }

    @Test func discoveryDocuments() throws {
        #expect(Discovery.coreVersions()["versions"] == ["v1"])
        let groups = Discovery.groupList()["groups"]?.arrayValue ?? []
        #expect(groups.compactMap { $0["name"]?.stringValue } == ["apps", "batch"])
        #expect(groups.first?["preferredVersion"]?["groupVersion"] == "apps/v1")
        let core = try #require(Discovery.resourceList(groupVersion: "v1"))
        let resources = core["resources"]?.arrayValue ?? []
        let pods = try #require(resources.first { $0["name"] == "pods" })
        #expect(pods["shortNames"] == ["po"])
        #expect(pods["categories"] == ["all"])
        #expect(pods["namespaced"] == true)
        #expect(resources.contains { $0["name"] == "pods/log" })
        let apps = try #require(Discovery.resourceList(groupVersion: "apps/v1"))
        let scale = try #require(apps["resources"]?.arrayValue?.first { $0["name"] == "deployments/scale" })
        #expect(scale["kind"] == "Scale")
        #expect(scale["group"] == "autoscaling")
        #expect(Discovery.resourceList(groupVersion: "batch/v1")?["resources"]?.arrayValue?.first?["name"] == "jobs")
        #expect(Discovery.resourceList(groupVersion: "nope/v1") == nil)
        #expect(Discovery.version()["gitVersion"]?.stringValue?.hasPrefix("v1.") == true)
    }
}

@Suite struct MoreStatusTests {
    @Test func successAndStrictAndScale() throws {
        let cm = try #require(ResourceRegistry.lookup(kind: "ConfigMap"))
        let s = Status.success(cm, name: "c", uid: "u1")
        #expect(s.status == "Success")
        #expect(s.details?.uid == "u1")
        #expect(s.details?.kind == "configmaps")
        let strict = Status.strictDecoding(kind: "Deployment", apiVersion: "apps/v1", unknown: ["spec.foo", "spec.bar"])
        #expect(strict.code == 400)
        #expect(strict.message == #"Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.foo", unknown field "spec.bar""#)
        let deploy = try #require(ResourceRegistry.lookup(kind: "Deployment"))
        let bad = Status.validateScale(Scale(spec: ScaleSpec(replicas: -1)), info: deploy, name: "web")
        #expect(bad?.message == #"Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"#)
        #expect(Status.validateScale(Scale(spec: ScaleSpec(replicas: 2)), info: deploy, name: "web") == nil)
    }

    @Test func aggregatedDiscovery() {
        let apis = Discovery.aggregated(core: false)
        #expect(apis["kind"] == "APIGroupDiscoveryList")
        let items = apis["items"]?.arrayValue ?? []
        #expect(items.compactMap { $0["metadata"]?["name"]?.stringValue } == ["apps", "batch"])
        let deployments = items.first?["versions"]?.arrayValue?.first?["resources"]?.arrayValue?.first
        #expect(deployments?["resource"] == "deployments")
        #expect(deployments?["categories"] == ["all"])
        #expect(deployments?["subresources"]?.arrayValue?.first?["responseKind"]?["kind"] == "Scale")
        let core = Discovery.aggregated(core: true)
        #expect(core["items"]?.arrayValue?.count == 1)
        #expect(core["items"]?.arrayValue?.first?["metadata"] == .object(JSONObject()))
    }
}

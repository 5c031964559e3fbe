import Consensus
import Foundation
@testable import PeerDaemon
import ResourceModel
import Simulation
import Testing

@Suite("Kubernetes REST over a real single-node store")
struct RESTTests {
    @Test("version, discovery, openapi, unknown paths and methods")
    func discovery() async throws {
        try await TestServer.with { s in
            let version = await s.call("GET", "/version?timeout=5s")
            #expect(version.status == 200 && version.json["minor"] == "32" && version.json["gitVersion"]?.stringValue?.hasPrefix("v1.") == true)
            #expect(await s.call("GET", "/api").json["versions"] == ["v1"])
            let groups = await s.call("GET", "/apis").json["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(groups == ["apps", "batch"])
            let core = await s.call("GET", "/api/v1").json["resources"]?.arrayValue ?? []
            #expect(core.contains { $0["name"] == "pods" && $0["shortNames"] == ["po"] })
            #expect(await s.call("GET", "/apis/apps/v1").json["resources"]?.arrayValue?.contains { $0["name"] == "deployments/scale" } == true)
            #expect(await s.call("GET", "/apis/batch/v1").status == 200)
            let openapi = await s.call("GET", "/openapi/v2")
            #expect(openapi.status == 200 && openapi.headers["Content-Type"] == "application/octet-stream" && openapi.body.starts(with: [0x0a, 0x03, 0x32, 0x2e, 0x30]))
            #expect(await s.call("GET", "/openapi/v3").status == 404)
            let missing = await s.call("GET", "/apis/nope/v1/things")
            #expect(missing.status == 404 && missing.json["kind"] == "Status" && missing.json["message"] == "the server could not find the requested resource")
            #expect(await s.call("GET", "/api/v1/namespaces/default/widgets").status == 404)
            let post = await s.call("POST", "/api/v1/pods", podJSON("x"))
            #expect(post.status == 405 && post.json["reason"] == "MethodNotAllowed")
            #expect(await s.call("DELETE", "/api/v1/namespaces/default/pods").status == 405)
        }
    }

    @Test("bootstrap namespaces exist and ensureBootstrapObjects is idempotent")
    func bootstrap() async throws {
        try await TestServer.with { s in
            let before = s.node.revision
            try await s.api.ensureBootstrapObjects()
            #expect(s.node.revision == before)
            let names = await s.call("GET", "/api/v1/namespaces").json["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue }
            #expect(names?.sorted() == ["default", "kube-node-lease", "kube-public", "kube-system"])
            let ns = await s.call("GET", "/api/v1/namespaces/default").json
            #expect(ns["status"]?["phase"] == "Active" && ns["metadata"]?["labels"]?["kubernetes.io/metadata.name"] == "default")
            let forbidden = await s.call("DELETE", "/api/v1/namespaces/default")
            #expect(forbidden.status == 403 && forbidden.json["message"] == "namespaces \"default\" is forbidden: this namespace may not be deleted")
        }
    }

    @Test("pods: create, get, list, replace, conflicts, delete")
    func podLifecycle() async throws {
        try await TestServer.with { s in
            let created = try await s.create("/api/v1/namespaces/default/pods", podJSON("p1"))
            let rv = try #require(created["metadata"]?["resourceVersion"]?.stringValue)
            #expect(created["metadata"]?["uid"]?.stringValue?.count == 36)
            #expect(created["metadata"]?["namespace"] == "default")
            #expect(created["status"]?["phase"] == "Pending")
            #expect(created["spec"]?["containers"]?[0]?["imagePullPolicy"] != nil)
            #expect(UInt64(rv) == s.node.revision)

            let dup = await s.call("POST", "/api/v1/namespaces/default/pods", podJSON("p1"))
            #expect(dup.status == 409 && dup.json["reason"] == "AlreadyExists" && dup.json["message"] == "pods \"p1\" already exists")

            let got = await s.call("GET", "/api/v1/namespaces/default/pods/p1")
            #expect(got.status == 200 && got.json == created)
            let missing = await s.call("GET", "/api/v1/namespaces/default/pods/nope")
            #expect(missing.status == 404 && missing.json["message"] == "pods \"nope\" not found" && missing.json["details"]?["kind"] == "pods")

            let list = await s.call("GET", "/api/v1/namespaces/default/pods?limit=500").json
            #expect(list["kind"] == "PodList" && list["apiVersion"] == "v1" && list["items"]?.arrayValue?.count == 1)
            #expect(list["metadata"]?["resourceVersion"]?.stringValue == String(s.node.revision))
            #expect(await s.call("GET", "/api/v1/namespaces/kube-system/pods").json["items"] == [])
            #expect(await s.call("GET", "/api/v1/pods").json["items"]?.arrayValue?.count == 1)

            // Replace: image change allowed; the stale resourceVersion afterwards is a Conflict.
            var updated = created
            updated.set("nginx:1.26", at: ["spec", "containers"])
            updated = created
            if case .array(var containers)? = updated["spec"]?["containers"] {
                containers[0]["image"] = "nginx:1.26"
                updated.set(.array(containers), at: ["spec", "containers"])
            }
            let put = await s.call("PUT", "/api/v1/namespaces/default/pods/p1", updated.serialized())
            #expect(put.status == 200 && put.json["spec"]?["containers"]?[0]?["image"] == "nginx:1.26")
            #expect(put.json["metadata"]?["resourceVersion"] != created["metadata"]?["resourceVersion"])
            let stale = await s.call("PUT", "/api/v1/namespaces/default/pods/p1", updated.serialized())
            #expect(stale.status == 409 && stale.json["reason"] == "Conflict")
            #expect(stale.json["message"] == "Operation cannot be fulfilled on pods \"p1\": the object has been modified; please apply your changes to the latest version and try again")
            let wrongName = await s.call("PUT", "/api/v1/namespaces/default/pods/other", podJSON("p1"))
            #expect(wrongName.status == 400)

            // Unbound pod: deleted at once, and the Pod itself is returned.
            let deleted = await s.call("DELETE", "/api/v1/namespaces/default/pods/p1", #"{"propagationPolicy":"Background"}"#)
            #expect(deleted.status == 200 && deleted.json["kind"] == "Pod")
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods/p1").status == 404)
            #expect(await s.call("DELETE", "/api/v1/namespaces/default/pods/p1").status == 404)
            let badPolicy = await s.call("DELETE", "/api/v1/namespaces/default/pods/x", #"{"propagationPolicy":"Sideways"}"#)
            #expect(badPolicy.status == 400)
        }
    }

    @Test("cluster-scoped, apps and batch kinds; Status on delete; kind inferred from the URL")
    func kindFamilies() async throws {
        try await TestServer.with { s in
            let node = try await s.create("/api/v1/nodes", #"{"metadata":{"name":"n1"},"status":{"capacity":{"cpu":"2"}}}"#)
            #expect(node["kind"] == "Node" && node["apiVersion"] == "v1" && node["metadata"]?["namespace"] == nil)
            #expect(await s.call("GET", "/api/v1/nodes/n1").status == 200)
            let d = try await s.create("/apis/apps/v1/namespaces/default/deployments", deploymentJSON("web"))
            #expect(d["metadata"]?["generation"] == 1 && d["spec"]?["strategy"]?["type"] == "RollingUpdate")
            let job = try await s.create("/apis/batch/v1/namespaces/default/jobs",
                                         #"{"metadata":{"name":"j"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}"#)
            #expect(job["spec"]?["selector"]?["matchLabels"] != nil)
            let cm = try await s.create("/api/v1/namespaces/default/configmaps", #"{"metadata":{"generateName":"cfg-"},"data":{"a":"1"}}"#)
            let cmName = try #require(cm["metadata"]?["name"]?.stringValue)
            #expect(cmName.hasPrefix("cfg-") && cmName.count == 9)
            let del = await s.call("DELETE", "/apis/apps/v1/namespaces/default/deployments/web")
            #expect(del.status == 200 && del.json["kind"] == "Status" && del.json["status"] == "Success")
            let svc = try await s.create("/api/v1/namespaces/default/services", #"{"metadata":{"name":"s"},"spec":{"selector":{"app":"web"},"ports":[{"port":80}]}}"#)
            #expect(svc["spec"]?["ports"]?[0]?["targetPort"] == 80)
            #expect(await s.call("DELETE", "/api/v1/namespaces/default/services/s").json["kind"] == "Service")
            let mismatch = await s.call("POST", "/api/v1/namespaces/default/pods", #"{"apiVersion":"apps/v1","kind":"Pod","metadata":{"name":"m"}}"#)
            #expect(mismatch.status == 400)
            let otherNs = await s.call("POST", "/api/v1/namespaces/default/pods", podJSON("m").replacingOccurrences(of: "\"name\":\"m\"", with: "\"name\":\"m\",\"namespace\":\"kube-system\""))
            #expect(otherNs.status == 400 && otherNs.json["message"] == "the namespace of the provided object does not match the namespace sent on the request")
            let noNs = await s.call("POST", "/api/v1/namespaces/nonexist/pods", podJSON("m"))
            #expect(noNs.status == 404 && noNs.json["message"] == "namespaces \"nonexist\" not found")
        }
    }

    @Test("422 Invalid with causes; strict and warned unknown fields")
    func validation() async throws {
        try await TestServer.with { s in
            let bad = await s.call("POST", "/apis/apps/v1/namespaces/default/deployments",
                                   #"{"metadata":{"name":"bad"},"spec":{"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#)
            #expect(bad.status == 422 && bad.json["reason"] == "Invalid")
            #expect(bad.json["details"]?["kind"] == "Deployment" && bad.json["details"]?["name"] == "bad" && bad.json["details"]?["group"] == "apps")
            let causes = bad.json["details"]?["causes"]?.arrayValue ?? []
            #expect(causes.contains { $0["field"] == "spec.selector" && $0["reason"] == "FieldValueRequired" && $0["message"] == "Required value" })
            #expect(bad.json["message"]?.stringValue?.hasPrefix("Deployment.apps \"bad\" is invalid: ") == true)

            let noImage = await s.call("POST", "/api/v1/namespaces/default/pods", #"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c"}]}}"#)
            #expect(noImage.status == 422 && noImage.json["message"] == "Pod \"p\" is invalid: spec.containers[0].image: Required value")

            let unknown = podJSON("u", extra: #","bogus":1"#)
            let strict = await s.call("POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", unknown)
            #expect(strict.status == 400 && strict.json["reason"] == "BadRequest")
            #expect(strict.json["message"] == "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.bogus\"")
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods/u").status == 404)
            let warned = await s.call("POST", "/api/v1/namespaces/default/pods", unknown)
            #expect(warned.status == 201 && warned.headers["Warning"] == #"299 - "unknown field \"spec.bogus\"""#)
            let ignored = await s.call("POST", "/api/v1/namespaces/default/pods?fieldValidation=Ignore", podJSON("u2", extra: #","bogus":1"#))
            #expect(ignored.status == 201 && ignored.headers["Warning"] == nil)
        }
    }

    @Test("malformed, garbage, truncated and oversized bodies write nothing")
    func badBodies() async throws {
        try await TestServer.with { s in
            let before = s.node.revision
            let bodies: [[UInt8]] = [
                Array(#"{"metadata":{"name":"x""#.utf8), Array("not json".utf8), [0xff, 0xfe, 0x00, 0x7b], Array("[1,2]".utf8), [],
                Array(String(repeating: "[", count: 5000).utf8),
            ]
            for body in bodies {
                let r = await s.call(KubeRequest(method: "POST", target: "/api/v1/namespaces/default/pods",
                                                 headers: ["Content-Type": "application/json"], body: body))
                #expect(r.status == 400 && r.json["kind"] == "Status", "body \(body.prefix(10)) → \(r.status)")
            }
            var rng = SeededRandom(seed: 1)
            for _ in 0..<50 {
                let body = (0..<Int(rng.next() % 200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                for (type, method, target) in [("application/json", "POST", "/api/v1/namespaces/default/pods"),
                                                ("application/apply-patch+yaml", "PATCH", "/api/v1/namespaces/default/pods/g"),
                                                ("application/json-patch+json", "PATCH", "/api/v1/namespaces/default/pods/g")] {
                    let r = await s.call(KubeRequest(method: method, target: target, headers: ["Content-Type": type], body: body))
                    #expect([400, 404, 422].contains(r.status))
                }
            }
            let yaml = await s.call("POST", "/api/v1/namespaces/default/pods", "a: [1, 2\nb: {", contentType: "application/yaml")
            #expect(yaml.status == 400)
            let huge = await s.call(KubeRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                                                headers: ["Content-Type": "application/json"], body: [UInt8](repeating: 0x20, count: 3 * 1024 * 1024 + 1)))
            #expect(huge.status == 413 && huge.json["reason"] == "RequestEntityTooLarge")
            let proto = await s.call("POST", "/api/v1/namespaces/default/pods", podJSON("p"), contentType: "application/vnd.kubernetes.protobuf")
            #expect(proto.status == 415)
            #expect(s.node.revision == before)
        }
    }

    @Test("dryRun=All validates but never writes")
    func dryRun() async throws {
        try await TestServer.with { s in
            let before = s.node.revision
            let r = await s.call("POST", "/api/v1/namespaces/default/pods?dryRun=All", podJSON("dry"))
            #expect(r.status == 201 && r.json["metadata"]?["uid"] != nil)
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods/dry").status == 404)
            _ = try await s.create("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"c"},"data":{"a":"1"}}"#)
            let rev = s.node.revision
            let p = await s.call("PATCH", "/api/v1/namespaces/default/configmaps/c?dryRun=All", #"{"data":{"a":"2"}}"#, contentType: "application/merge-patch+json")
            #expect(p.status == 200 && p.json["data"]?["a"] == "2")
            #expect(await s.call("DELETE", "/api/v1/namespaces/default/configmaps/c?dryRun=All").status == 200)
            #expect(await s.call("GET", "/api/v1/namespaces/default/configmaps/c").json["data"]?["a"] == "1")
            #expect(s.node.revision == rev && rev == before + 1)
        }
    }

    @Test("label and field selectors; resourceVersion=0 reads the local replica")
    func selectors() async throws {
        try await TestServer.with { s in
            _ = try await s.create("/api/v1/namespaces/default/pods", podJSON("a", labels: #"{"app":"web","tier":"fe"}"#))
            _ = try await s.create("/api/v1/namespaces/default/pods", podJSON("b", labels: #"{"app":"web","tier":"be"}"#))
            _ = try await s.create("/api/v1/namespaces/default/pods", podJSON("c", labels: #"{"app":"db"}"#))
            func names(_ query: String) async -> [String] {
                await s.call("GET", "/api/v1/namespaces/default/pods?\(query)").json["items"]?.arrayValue?
                    .compactMap { $0["metadata"]?["name"]?.stringValue } ?? []
            }
            #expect(await names("labelSelector=app%3Dweb") == ["a", "b"])
            #expect(await names("labelSelector=tier+in+(fe,be),app!=db") == ["a", "b"])
            #expect(await names("labelSelector=!tier") == ["c"])
            #expect(await names("fieldSelector=metadata.name%3Db") == ["b"])
            #expect(await names("fieldSelector=status.phase%3DPending,metadata.name!%3Da") == ["b", "c"])
            #expect(await names("resourceVersion=0&limit=500") == ["a", "b", "c"])
            let bad = await s.call("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.bogus%3D1")
            #expect(bad.status == 400 && bad.json["message"] == "field label not supported: spec.bogus")
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods?labelSelector=a%20in%20(").status == 400)
        }
    }

    @Test("Table output for lists and single objects")
    func tables() async throws {
        try await TestServer.with { s in
            _ = try await s.create("/apis/apps/v1/namespaces/default/deployments", deploymentJSON("web"))
            s.clock.advance(90)
            let t = await s.call("GET", "/apis/apps/v1/namespaces/default/deployments?limit=500", accept: tableAccept).json
            #expect(t["kind"] == "Table" && t["apiVersion"] == "meta.k8s.io/v1")
            #expect(t["metadata"]?["resourceVersion"]?.stringValue == String(s.node.revision))
            let columns = t["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            #expect(columns == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"])
            #expect(t["columnDefinitions"]?[0]?["format"] == "name")
            let row = try #require(t["rows"]?[0])
            #expect(row["cells"]?[0] == "web" && row["cells"]?[1] == "0/2" && row["cells"]?[4] == "90s")
            #expect(row["object"]?["kind"] == "PartialObjectMetadata" && row["object"]?["metadata"]?["namespace"] == "default")
            let full = await s.call("GET", "/apis/apps/v1/namespaces/default/deployments?includeObject=Object", accept: tableAccept).json
            #expect(full["rows"]?[0]?["object"]?["kind"] == "Deployment")
            let one = await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web", accept: tableAccept).json
            #expect(one["kind"] == "Table" && one["rows"]?.arrayValue?.count == 1)
            let empty = await s.call("GET", "/api/v1/namespaces/default/pods", accept: tableAccept).json
            #expect(empty["rows"] == [] && empty["columnDefinitions"]?.arrayValue?.isEmpty == false)
        }
    }

    @Test("namespace delete removes what it holds, then the namespace")
    func namespaceCascade() async throws {
        try await TestServer.with { s in
            _ = try await s.create("/api/v1/namespaces", #"{"metadata":{"name":"team"}}"#)
            _ = try await s.create("/api/v1/namespaces/team/pods", podJSON("p"))
            _ = try await s.create("/api/v1/namespaces/team/configmaps", #"{"metadata":{"name":"c"}}"#)
            _ = try await s.create("/apis/apps/v1/namespaces/team/deployments", deploymentJSON("d"))
            _ = try await s.create("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"keep"}}"#)
            let r = await s.call("DELETE", "/api/v1/namespaces/team", #"{"propagationPolicy":"Background"}"#)
            #expect(r.status == 200 && r.json["status"]?["phase"] == "Terminating" && r.json["metadata"]?["deletionTimestamp"] != nil)
            #expect(await s.call("GET", "/api/v1/namespaces/team").status == 404)
            #expect(await s.call("GET", "/api/v1/namespaces/team/pods").json["items"] == [])
            #expect(await s.call("GET", "/apis/apps/v1/deployments").json["items"] == [])
            #expect(await s.call("GET", "/api/v1/configmaps").json["items"]?.arrayValue?.count == 1)
            #expect(await s.call("POST", "/api/v1/namespaces/team/pods", podJSON("late")).status == 404)
        }
    }

    @Test("graceful delete of a bound pod; finalizers hold an object until removed")
    func gracefulAndFinalizers() async throws {
        try await TestServer.with { s in
            _ = try await s.create("/api/v1/namespaces/default/pods", podJSON("bound", extra: #","nodeName":"n1","terminationGracePeriodSeconds":20"#))
            let first = await s.call("DELETE", "/api/v1/namespaces/default/pods/bound")
            #expect(first.status == 200 && first.json["metadata"]?["deletionGracePeriodSeconds"] == 20)
            #expect(first.json["metadata"]?["deletionTimestamp"] == .string(Timestamp.format(epochSeconds: s.clock.now() + 20)))
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods/bound").status == 200)
            // The node agent confirms with grace 0.
            let final = await s.call("DELETE", "/api/v1/namespaces/default/pods/bound?gracePeriodSeconds=0")
            #expect(final.status == 200)
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods/bound").status == 404)

            _ = try await s.create("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"f","finalizers":["example.com/hold"]}}"#)
            let held = await s.call("DELETE", "/api/v1/namespaces/default/configmaps/f")
            #expect(held.status == 200 && held.json["kind"] == "ConfigMap" && held.json["metadata"]?["deletionTimestamp"] != nil)
            #expect(await s.call("GET", "/api/v1/namespaces/default/configmaps/f").status == 200)
            let release = await s.call("PATCH", "/api/v1/namespaces/default/configmaps/f", #"{"metadata":{"finalizers":null}}"#,
                                       contentType: "application/merge-patch+json")
            #expect(release.status == 200)
            #expect(await s.call("GET", "/api/v1/namespaces/default/configmaps/f").status == 404)
        }
    }

    @Test("status and scale subresources")
    func subresources() async throws {
        try await TestServer.with { s in
            let d = try await s.create("/apis/apps/v1/namespaces/default/deployments", deploymentJSON("web", replicas: 2))
            var withStatus = d
            withStatus.set(["replicas": 2, "readyReplicas": 1], at: ["status"])
            withStatus.set(.int(9), at: ["spec", "replicas"])
            let st = await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web/status", withStatus.serialized())
            #expect(st.status == 200 && st.json["status"]?["readyReplicas"] == 1 && st.json["spec"]?["replicas"] == 2)
            // Status written through the main resource is ignored.
            let main = await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", #"{"status":{"readyReplicas":7}}"#,
                                    contentType: "application/merge-patch+json")
            #expect(main.json["status"]?["readyReplicas"] == 1)
            let sp = await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/status", #"{"status":{"observedGeneration":1}}"#,
                                  contentType: "application/merge-patch+json")
            #expect(sp.status == 200 && sp.json["status"]?["observedGeneration"] == 1 && sp.json["status"]?["replicas"] == 2)

            let scale = await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web/scale").json
            #expect(scale["kind"] == "Scale" && scale["apiVersion"] == "autoscaling/v1" && scale["spec"]?["replicas"] == 2)
            #expect(scale["status"]?["replicas"] == 2 && scale["status"]?["selector"] == "app=web")
            let scaled = await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", #"{"spec":{"replicas":5}}"#,
                                      contentType: "application/merge-patch+json")
            #expect(scaled.status == 200 && scaled.json["spec"]?["replicas"] == 5)
            let after = await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/web").json
            #expect(after["spec"]?["replicas"] == 5 && after["metadata"]?["generation"] == 2)
            let smp = await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", #"{"spec":{"replicas":3}}"#,
                                   contentType: "application/strategic-merge-patch+json")
            #expect(smp.json["spec"]?["replicas"] == 3)
            var put = smp.json
            put.set(.int(4), at: ["spec", "replicas"])
            #expect(await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", put.serialized()).json["spec"]?["replicas"] == 4)
            let stalePut = await s.call("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale", put.serialized())
            #expect(stalePut.status == 409)
            let negative = await s.call("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", #"{"spec":{"replicas":-1}}"#,
                                        contentType: "application/merge-patch+json")
            #expect(negative.status == 422 && negative.json["details"]?["causes"]?[0]?["field"] == "spec.replicas")
            #expect(await s.call("GET", "/api/v1/namespaces/default/pods/x/scale").status == 404)
            #expect(await s.call("GET", "/apis/apps/v1/namespaces/default/deployments/none/scale").status == 404)
            _ = try await s.create("/api/v1/namespaces/default/pods", podJSON("p"))
            let log = await s.call("GET", "/api/v1/namespaces/default/pods/p/log")
            #expect(log.status == 503 && log.json["kind"] == "Status")
        }
    }

    @Test("patches that pin no resourceVersion are re-applied when another write lands first; pinned ones get 409")
    func concurrentPatchesRetry() async throws {
        try await TestServer.with { s in
            _ = try await s.create("/apis/apps/v1/namespaces/default/deployments", deploymentJSON("web", replicas: 1))
            let path = "/apis/apps/v1/namespaces/default/deployments/web"
            // Scale patches and label patches at once, as kubectl scale and a controller's writes race in a cluster.
            let statuses = await withTaskGroup(of: Int.self) { group in
                for i in 0..<12 {
                    group.addTask {
                        i % 2 == 0
                            ? await s.call("PATCH", path + "/scale", #"{"spec":{"replicas":\#(i + 2)}}"#,
                                           contentType: "application/merge-patch+json").status
                            : await s.call("PATCH", path, #"{"metadata":{"labels":{"l\#(i)":"v"}}}"#,
                                           contentType: "application/strategic-merge-patch+json").status
                    }
                }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
            let labels = await s.call("GET", path).json["metadata"]?["labels"]?.objectValue
            #expect((1..<12).filter { $0 % 2 == 1 }.allSatisfy { labels?["l\($0)"] == "v" }, "every label patch landed: \(String(describing: labels))")

            let rv = await s.call("GET", path).json["metadata"]?["resourceVersion"]?.stringValue ?? ""
            _ = await s.call("PATCH", path, #"{"metadata":{"labels":{"bump":"1"}}}"#, contentType: "application/merge-patch+json")
            let pinnedMerge = await s.call("PATCH", path, #"{"metadata":{"resourceVersion":"\#(rv)","labels":{"x":"y"}}}"#,
                                           contentType: "application/merge-patch+json")
            #expect(pinnedMerge.status == 409)
            let pinnedJSONPatch = await s.call("PATCH", path + "/scale",
                                               #"[{"op":"replace","path":"/metadata/resourceVersion","value":"\#(rv)"},{"op":"replace","path":"/spec/replicas","value":9}]"#,
                                               contentType: "application/json-patch+json")
            #expect(pinnedJSONPatch.status == 409)
            #expect(await s.call("GET", path).json["spec"]?["replicas"] != 9)
        }
    }

    @Test("Secrets: stringData folded into data; every stored byte goes through the sealing hook")
    func secrets() async throws {
        let xor = SecretSealing(seal: { $0.map { $0 ^ 0x5a } }, open: { $0.map { $0 ^ 0x5a } })
        try await TestServer.with(secrets: xor) { s in
            let created = try await s.create("/api/v1/namespaces/default/secrets", #"{"metadata":{"name":"s"},"stringData":{"password":"hunter2"}}"#)
            #expect(created["data"]?["password"] == "aHVudGVyMg==" && created["stringData"] == nil && created["type"] == "Opaque")
            let raw = try await s.node.read { $0.get("/registry/core/secrets/default/s")?.value }
            let stored = try #require(raw)
            #expect((try? JSONValue.parse(stored)) == nil)
            #expect((try? JSONValue.parse(stored.map { $0 ^ 0x5a }))?["data"]?["password"] == "aHVudGVyMg==")
            #expect(await s.call("GET", "/api/v1/namespaces/default/secrets/s").json["data"]?["password"] == "aHVudGVyMg==")
            #expect(await s.call("GET", "/api/v1/namespaces/default/secrets").json["items"]?.arrayValue?.count == 1)
        }
    }
}

@Suite("Static OpenAPI document")
struct OpenAPITests {
    @Test("protobuf framing: the Document starts with swagger 2.0 and info; every field is well-formed")
    func framing() throws {
        let minimal = OpenAPIDocument.build([])
        #expect(minimal == Array(Data(base64Encoded: "CgMyLjASFQoKS3ViZXJuZXRlcxIHdjEuMjAuMkIA")!))
        // Walk the top level: every field is length-delimited and ends exactly at the end.
        let doc = OpenAPIDocument.v2
        var i = 0
        var fields: [UInt8] = []
        func varint() -> UInt64 {
            var shift: UInt64 = 0, v: UInt64 = 0
            while i < doc.count {
                let b = doc[i]; i += 1
                v |= UInt64(b & 0x7f) << shift
                if b < 0x80 { break }
                shift += 7
            }
            return v
        }
        while i < doc.count {
            let key = varint()
            #expect(key & 7 == 2)
            fields.append(UInt8(key >> 3))
            i += Int(varint())
        }
        #expect(i == doc.count && fields == [1, 2, 8])
        let text = String(decoding: doc, as: UTF8.self)
        #expect(text.contains("/apis/apps/v1/namespaces/{namespace}/deployments/{name}") && text.contains("group: apps\nkind: Deployment\nversion: v1\n"))
        #expect(text.contains("group: \"\"\nkind: Pod\nversion: v1\n") && text.contains("dryRun"))
    }
}

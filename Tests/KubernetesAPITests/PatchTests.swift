import Foundation
@testable import PeerDaemon
import ResourceModel
import Testing

@Suite("PATCH: the four content types")
struct PatchTests {
    static let deploy = "/apis/apps/v1/namespaces/default/deployments"

    @Test("merge patch (kubectl label) and JSON patch (rollout undo shape)")
    func mergeAndJSONPatch() async throws {
        try await TestServer.with { s in
            _ = try await s.create(Self.deploy, deploymentJSON("web"))
            let label = await s.call("PATCH", Self.deploy + "/web?fieldManager=kubectl-label", #"{"metadata":{"labels":{"tier":"fe"}}}"#,
                                     contentType: "application/merge-patch+json")
            #expect(label.status == 200 && label.json["metadata"]?["labels"]?["tier"] == "fe")
            #expect(label.json["metadata"]?["generation"] == 1)
            let jp = await s.call("PATCH", Self.deploy + "/web",
                                  #"[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.20"},{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]"#,
                                  contentType: "application/json-patch+json")
            #expect(jp.status == 200 && jp.json["spec"]?["template"]?["spec"]?["containers"]?[0]?["image"] == "nginx:1.20")
            #expect(jp.json["metadata"]?["generation"] == 2 && jp.json["metadata"]?["annotations"]?["a"] == "b")
            let failing = await s.call("PATCH", Self.deploy + "/web", #"[{"op":"test","path":"/spec/replicas","value":99}]"#,
                                       contentType: "application/json-patch+json")
            #expect(failing.status == 422)
            let garbage = await s.call("PATCH", Self.deploy + "/web", #"{"op":"#, contentType: "application/json-patch+json")
            #expect(garbage.status == 400)
            let unsupported = await s.call("PATCH", Self.deploy + "/web", "{}", contentType: "application/json")
            #expect(unsupported.status == 415 && unsupported.json["reason"] == "UnsupportedMediaType")
            let pinned = await s.call("PATCH", Self.deploy + "/web", #"{"metadata":{"resourceVersion":"1","labels":{"x":"y"}}}"#,
                                      contentType: "application/merge-patch+json")
            #expect(pinned.status == 409 && pinned.json["reason"] == "Conflict")
            #expect(await s.call("PATCH", Self.deploy + "/nope", "{}", contentType: "application/merge-patch+json").status == 404)
            // A patch that breaks validation is refused and nothing changes.
            let invalid = await s.call("PATCH", Self.deploy + "/web", #"{"spec":{"replicas":-3}}"#, contentType: "application/merge-patch+json")
            #expect(invalid.status == 422)
            #expect(await s.call("GET", Self.deploy + "/web").json["spec"]?["replicas"] == 2)
        }
    }

    @Test("kubectl apply: create with last-applied, then a 3-way strategic merge patch")
    func clientSideApply() async throws {
        try await TestServer.with { s in
            let lastApplied1 = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{},"name":"web","namespace":"default"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx:1.25","name":"nginx"},{"image":"busybox","name":"sidecar"}]}}}}"#
            let manifest = """
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":\(JSONValue.string(lastApplied1 + "\n").serialized())},"name":"web","namespace":"default"},
             "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"image":"nginx:1.25","name":"nginx"},{"image":"busybox","name":"sidecar"}]}}}}
            """
            let created = try await s.create(Self.deploy + "?fieldManager=kubectl-client-side-apply", manifest)
            #expect(created["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"] == .string(lastApplied1 + "\n"))
            let smp = """
            {"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}\\n"}},
             "spec":{"replicas":3,"strategy":{"$retainKeys":["type"],"type":"Recreate"},
                     "template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],
                                         "containers":[{"image":"nginx:1.26","name":"nginx","env":[{"name":"A","value":"1"}]},{"$patch":"delete","name":"sidecar"}]}}}}
            """
            let r = await s.call("PATCH", Self.deploy + "/web?fieldManager=kubectl-client-side-apply", smp, contentType: "application/strategic-merge-patch+json")
            #expect(r.status == 200)
            let spec = r.json["spec"]
            #expect(spec?["replicas"] == 3 && spec?["strategy"] == ["type": "Recreate"])
            let containers = spec?["template"]?["spec"]?["containers"]?.arrayValue ?? []
            #expect(containers.count == 1 && containers.first?["image"] == "nginx:1.26" && containers.first?["env"]?[0]?["name"] == "A")
            #expect(containers.first?["imagePullPolicy"] != nil)
            #expect(r.json["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"] == "{}\n")
            #expect(r.json["metadata"]?["generation"] == 2)
            // An SMP that changes nothing writes nothing.
            let rv = r.json["metadata"]?["resourceVersion"]
            let same = await s.call("PATCH", Self.deploy + "/web", #"{"spec":{"replicas":3}}"#, contentType: "application/strategic-merge-patch+json")
            #expect(same.json["metadata"]?["resourceVersion"] == rv)
        }
    }

    @Test("server-side apply: YAML creates (201), then merges (200)")
    func serverSideApply() async throws {
        try await TestServer.with { s in
            let yaml = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: settings
              labels:
                app: "web"
            data:
              port: "8080"
              mode: fast
            """
            let first = await s.call("PATCH", "/api/v1/namespaces/default/configmaps/settings?fieldManager=kubectl&force=false", yaml,
                                     contentType: "application/apply-patch+yaml")
            #expect(first.status == 201 && first.json["data"] == ["port": "8080", "mode": "fast"] && first.json["metadata"]?["namespace"] == "default")
            let second = await s.call("PATCH", "/api/v1/namespaces/default/configmaps/settings?fieldManager=kubectl",
                                      #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"settings"},"data":{"mode":"slow"}}"#,
                                      contentType: "application/apply-patch+yaml")
            #expect(second.status == 200 && second.json["data"]?["mode"] == "slow" && second.json["data"]?["port"] == "8080")
            let deploymentYAML = """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: api}
            spec:
              replicas: 1
              selector: {matchLabels: {app: api}}
              template:
                metadata: {labels: {app: api}}
                spec:
                  containers:
                  - name: api
                    image: api:1
                    ports: [{containerPort: 8080}]
                    resources: {limits: {cpu: "1"}}
            """
            let d = await s.call("PATCH", Self.deploy + "/api", deploymentYAML, contentType: "application/apply-patch+yaml")
            #expect(d.status == 201 && d.json["spec"]?["template"]?["spec"]?["containers"]?[0]?["ports"]?[0]?["containerPort"] == 8080)
            let wrongName = await s.call("PATCH", "/api/v1/namespaces/default/configmaps/other", "metadata: {name: settings}",
                                         contentType: "application/apply-patch+yaml")
            #expect(wrongName.status == 400)
            let notYAML = await s.call("PATCH", "/api/v1/namespaces/default/configmaps/x", "a: [1, 2\n", contentType: "application/apply-patch+yaml")
            #expect(notYAML.status == 400)
        }
    }

    @Test("YAML scalars follow the core schema; quoted stay strings")
    func yamlScalars() throws {
        let v = try YAMLBody.parse(Array("a: 1\nb: \"1\"\nc: true\nd: null\ne: 1.5\nf: 1.2.3\ng: ~\nh: [x, 2]\n".utf8))
        #expect(v == ["a": 1, "b": "1", "c": true, "d": .null, "e": 1.5, "f": "1.2.3", "g": .null, "h": ["x", 2]])
        #expect(throws: (any Error).self) { try YAMLBody.parse([0xff, 0xfe]) }
        #expect(try YAMLBody.parse(Array("a: &x 1\nb: *x\n".utf8)) == ["a": 1, "b": 1])
        #expect(throws: (any Error).self) { try YAMLBody.parse(Array("? [a]\n: 1\n".utf8)) }
        // "Billion laughs": nine levels of ten aliases would be 10^9 nodes.
        var bomb = "a0: [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { bomb += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        bomb = bomb.replacingOccurrences(of: "a0: [", with: "a0: &a0 [")
        #expect(throws: (any Error).self) { try YAMLBody.parse(Array(bomb.utf8)) }
    }
}

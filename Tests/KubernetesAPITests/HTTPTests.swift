import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
@testable import PeerDaemon
import ResourceModel
import Synchronization
import Testing

func json(_ r: TestResponse) -> JSONValue { (try? JSONValue.parse(Array(r.body.readableBytesView))) ?? .null }

@Suite("Over HTTP: Hummingbird routes and the real kubectl")
struct HTTPTests {
    @Test("a live listener serves discovery, CRUD, Status errors and a chunked watch")
    func liveHummingbird() async throws {
        try await TestServer.with { s in
            let router = Router()
            s.api.register(on: router)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.live) { client in
                try await client.execute(uri: "/api/v1", method: .get) { r in
                    #expect(r.status == .ok)
                    #expect(json(r)["groupVersion"] == "v1")
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods?fieldManager=kubectl-create", method: .post,
                                         headers: [.contentType: "application/json"], body: ByteBuffer(string: podJSON("web"))) { r in
                    #expect(r.status == .created)
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods/nope", method: .get) { r in
                    #expect(r.status == .notFound)
                    #expect(json(r)["message"] == "pods \"nope\" not found")
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1", method: .get) { r in
                    #expect(r.status == .ok)
                    let lines = String(buffer: r.body).split(separator: "\n")
                    #expect(lines.count == 1 && lines.first?.contains("\"type\":\"ADDED\"") == true)
                }
                try await client.execute(uri: "/version", method: .get) { r in
                    #expect(json(r)["major"] == "1")
                }
            }
        }
    }

    /// Drives the real `/usr/bin/kubectl` (1.32 on these machines, and in CI) against a real listener. A
    /// developer machine without kubectl can opt out with KUBECTL_E2E=0; elsewhere a missing kubectl fails.
    @Test("kubectl: create, get -o yaml, apply twice, label, scale, get -w, delete",
          .enabled(if: ProcessInfo.processInfo.environment["KUBECTL_E2E"] != "0"))
    func kubectl() async throws {
        try #require(FileManager.default.fileExists(atPath: "/usr/bin/kubectl"),
                     "kubectl is not installed at /usr/bin/kubectl (set KUBECTL_E2E=0 to skip this test on purpose)")
        try await TestServer.with { s in
            let router = Router()
            s.api.register(on: router)
            let port = Mutex<Int?>(nil)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                                  onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } })
            let server = Task { try await app.runService() }
            defer { server.cancel() }
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                bound = port.withLock { $0 }
                if bound == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let p = try #require(bound)
            let dir = "/tmp/kubectl-e2e-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let kubeconfig = """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "http://127.0.0.1:\(p)"}}]
            users: [{name: u, user: {}}]
            contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]
            current-context: x
            """
            try kubeconfig.write(toFile: dir + "/config", atomically: true, encoding: .utf8)
            try deploymentJSON("web").write(toFile: dir + "/d1.json", atomically: true, encoding: .utf8)
            try deploymentJSON("web", replicas: 3, image: "nginx:1.26").write(toFile: dir + "/d2.json", atomically: true, encoding: .utf8)

            func kubectl(_ args: String...) async throws -> (Int32, String) {
                let r = try await run("/usr/bin/kubectl", ["--kubeconfig", dir + "/config", "--cache-dir", dir + "/cache"] + args)
                return (r.status, r.output)
            }

            var r = try await kubectl("create", "-f", dir + "/d1.json")
            #expect(r.0 == 0 && r.1.contains("deployment.apps/web created"), "\(r.1)")
            r = try await kubectl("get", "deploy", "web", "-o", "yaml")
            #expect(r.0 == 0 && r.1.contains("kind: Deployment") && r.1.contains("replicas: 2"), "\(r.1)")
            r = try await kubectl("get", "deploy")
            #expect(r.0 == 0 && r.1.contains("UP-TO-DATE") && r.1.contains("web"), "\(r.1)")
            r = try await kubectl("delete", "deploy", "web")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("apply", "-f", dir + "/d1.json")
            #expect(r.0 == 0 && r.1.contains("created"), "\(r.1)")
            r = try await kubectl("apply", "-f", dir + "/d2.json")
            #expect(r.0 == 0 && r.1.contains("configured"), "\(r.1)")
            r = try await kubectl("apply", "-f", dir + "/d2.json")
            #expect(r.0 == 0 && r.1.contains("unchanged"), "\(r.1)")
            r = try await kubectl("label", "deploy", "web", "tier=fe")
            #expect(r.0 == 0 && r.1.contains("labeled"), "\(r.1)")
            r = try await kubectl("scale", "deploy", "web", "--replicas=5")
            #expect(r.0 == 0 && r.1.contains("scaled"), "\(r.1)")
            r = try await kubectl("get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.metadata.labels.tier} {.spec.template.spec.containers[0].image}")
            #expect(r.1 == "5 fe nginx:1.26", "\(r.1)")
            r = try await kubectl("apply", "--server-side", "-f", dir + "/d1.json")
            #expect(r.0 == 0 && r.1.contains("serverside-applied"), "\(r.1)")
            r = try await kubectl("get", "deploy", "-w", "--request-timeout=2s")
            #expect(r.1.contains("web"), "\(r.1)")
            r = try await kubectl("set", "image", "deploy/web", "nginx=nginx:1.27")
            #expect(r.0 == 0 && r.1.contains("image updated"), "\(r.1)")
            r = try await kubectl("rollout", "restart", "deploy/web")
            #expect(r.0 == 0 && r.1.contains("restarted"), "\(r.1)")
            r = try await kubectl("apply", "--dry-run=server", "-f", dir + "/d2.json")
            #expect(r.0 == 0 && r.1.contains("server dry run"), "\(r.1)")
            r = try await kubectl("create", "namespace", "team")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("-n", "team", "create", "configmap", "cfg", "--from-literal=a=1")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("-n", "team", "create", "secret", "generic", "pw", "--from-literal=password=hunter2")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("-n", "team", "get", "secret", "pw", "-o", "jsonpath={.data.password}")
            #expect(r.1 == "aHVudGVyMg==", "\(r.1)")
            r = try await kubectl("-n", "team", "run", "p", "--image=busybox")
            #expect(r.0 == 0 && r.1.contains("pod/p created"), "\(r.1)")
            r = try await kubectl("-n", "team", "get", "pod", "p", "-o", "jsonpath={.spec.containers[0].image} {.metadata.labels.run} {.spec.restartPolicy}")
            #expect(r.1 == "busybox p Always", "\(r.1)")
            r = try await kubectl("-n", "team", "create", "deployment", "api", "--image=api:1", "--replicas=0", "--port=8080")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("-n", "team", "get", "deploy", "api", "-o",
                                  "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}")
            #expect(r.1 == "0 api api:1 8080", "\(r.1)")
            r = try await kubectl("-n", "team", "expose", "deployment", "api", "--port=80", "--target-port=8080")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("-n", "team", "get", "svc", "api", "-o", "jsonpath={.spec.ports[0].port} {.spec.ports[0].targetPort} {.spec.selector.app}")
            #expect(r.1 == "80 8080 api", "\(r.1)")
            r = try await kubectl("-n", "team", "create", "job", "once", "--image=busybox", "--", "echo", "hi")
            #expect(r.0 == 0, "\(r.1)")
            r = try await kubectl("-n", "team", "get", "job", "once", "-o", "jsonpath={.spec.template.spec.containers[0].command}")
            #expect(r.1 == #"["echo","hi"]"#, "\(r.1)")
            r = try await kubectl("get", "pods", "-A", "-o", "wide")
            #expect(r.0 == 0 && r.1.contains("NAMESPACE") && r.1.contains("team") && r.1.contains("Pending"), "\(r.1)")
            r = try await kubectl("get", "all", "-A")
            #expect(r.0 == 0 && r.1.contains("deployment.apps/web") && r.1.contains("pod/p"), "\(r.1)")
            r = try await kubectl("-n", "team", "logs", "p")
            #expect(r.0 != 0 && r.1.contains("not served"), "\(r.1)")
            r = try await kubectl("delete", "namespace", "team")
            #expect(r.0 == 0 && r.1.contains("deleted"), "\(r.1)")
            r = try await kubectl("get", "namespaces", "-o", "name")
            #expect(r.0 == 0 && !r.1.contains("team") && r.1.contains("namespace/kube-system"), "\(r.1)")
            r = try await kubectl("delete", "deploy", "web")
            #expect(r.0 == 0 && r.1.contains("deleted"), "\(r.1)")
            r = try await kubectl("get", "deploy", "web")
            #expect(r.0 != 0 && r.1.contains("NotFound"), "\(r.1)")
        }
    }
}

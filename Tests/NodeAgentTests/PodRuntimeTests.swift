import Foundation
import NodeAgent
import ResourceModel
import Testing

/// Real runc, real namespaces and CNI. Serialized: the pods share the host's bridge name and ip_forward.
@Suite(.serialized) struct PodRuntimeTests {
    @Test func podGetsAnIPAndServesHTTPOnIt() async throws {
        let f = try await AgentFixture("http")
        let pod = testPod("web", uid: "0a000000-0000-0000-0000-000000000001",
                          containers: #"[{"name":"httpd","image":"busybox:1","command":["httpd","-f","-p","8080","-h","/www"]}]"#)
        f.set([pod])
        let began = Date()
        let statuses = await f.run { $0["web"]?.phase == "Running" }
        let latency = Date().timeIntervalSince(began)
        let status = try #require(statuses["web"])
        #expect(status.phase == "Running")
        let ip = try #require(status.podIP)
        #expect(ip.hasPrefix("10.77.0."))
        var body = ""
        for _ in 0..<20 {
            if let r = try? await HTTPClient().request("GET", "http://\(ip):8080/index.html") { body = r.text; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(body == "hello from pod\n")
        print("pod start latency (create → Running, first pod): \(Int(latency * 1000)) ms")
        #expect(await f.close().isEmpty)
    }
}

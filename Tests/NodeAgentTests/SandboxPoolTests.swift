import Foundation
import Logging
@testable import NodeAgent
import ResourceModel
import Testing

/// The pool of pre-networked sandboxes, with real namespaces and CNI. In `PodRuntimeTests` (serialized) because
/// every runtime test shares the bridge and subnet.
extension PodRuntimeTests {
    @Test func sandboxPoolIsTakenRefilledAndReleasedAtShutdown() async throws {
        let f = try await AgentFixture("pool") { $0.sandboxPoolSize = 2 }
        let pool = f.agent.runtime.pool
        await pool.settle()
        let before = pool.state.withLock { $0.ready }
        #expect(before.count == 2)
        for entry in before {
            #expect(entry.id.hasPrefix(SandboxPool.idPrefix))
            #expect(entry.ip.hasPrefix("10.77.0."))
            #expect(Files.exists(entry.namespaces + "/net"))
        }
        #expect(AgentFixture.poolLeases(directory: f.directory).count == 2)

        let pod = testPod("pooled", uid: "0a000000-0000-0000-0000-0000000000a1",
                          containers: #"[{"name":"c","image":"busybox:1","command":["httpd","-f","-p","8080","-h","/www"]}]"#, grace: 0)
        f.set([pod])
        let statuses = await f.run { $0["pooled"]?.phase == "Running" }
        // The pod took the oldest entry: its IP and its CNI id, and the entry left the pool directory.
        #expect(statuses["pooled"]?.podIP == before[0].ip)
        let record = f.agent.runtime.state.withLock { $0.sandboxes["0a000000-0000-0000-0000-0000000000a1"] }
        #expect(record?.networkID == before[0].id)
        #expect(!Files.exists(before[0].directory))
        // The network works from the pooled namespace, and the hostname (UTS) is the pod's name.
        let ip = try #require(statuses["pooled"]?.podIP)
        var body = ""
        for _ in 0..<20 {
            if let r = try? await HTTPClient().request("GET", "http://\(ip):8080/index.html") { body = r.text; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(body == "hello from pod\n")
        let hostname = hostShell("runc --root \(f.directory)/runc exec 0a000000-0000-0000-0000-0000000000a1_c_0 hostname").output
        #expect(hostname.trimmingCharacters(in: .whitespacesAndNewlines) == "pooled")

        // Refilled in the background back to its size.
        await pool.settle()
        let after = pool.state.withLock { $0.ready }
        #expect(after.count == 2)
        #expect(after[0] == before[1])
        #expect(!after.contains(before[0]))

        // The pod's removal frees the lease it took from the pool (CNI DEL under the pool entry's id).
        f.set([])
        await f.run(for: 10) { _ in AgentFixture.leaks(directory: f.directory, bridge: f.bridge, allowingPool: true).isEmpty }
        #expect(AgentFixture.leaks(directory: f.directory, bridge: f.bridge, allowingPool: true).isEmpty)
        #expect(AgentFixture.poolLeases(directory: f.directory).count == 2)
        // Shutdown releases the pool: no lease, veth, mount or directory of it is left.
        await f.closeExpectingNoLeaks()
    }

    @Test func sandboxPoolLeftoversOfADeadAgentAreReleasedAtStart() async throws {
        let f = try await AgentFixture("poolleft") { $0.sandboxPoolSize = 2 }
        await f.agent.runtime.pool.settle()
        let old = f.agent.runtime.pool.state.withLock { $0.ready.map(\.id) }
        #expect(old.count == 2)
        // As if the agent died: nothing released. A new agent on the same directory releases the leftovers
        // and fills its own pool.
        var logger = Logger(label: "test.poolleft2")
        logger.logLevel = .warning
        let again = NodeAgent(configuration: AgentFixture.configuration(directory: f.directory, bridge: f.bridge) { $0.sandboxPoolSize = 1 },
                              images: TestImages(), logger: logger)
        try await again.start()
        await again.runtime.pool.settle()
        let owners = AgentFixture.poolLeases(directory: f.directory)
        #expect(owners.count == 1)
        #expect(!owners.contains { old.contains($0) })
        for id in old { #expect(!Files.exists(f.directory + "/pool/" + id)) }
        await again.shutdown(drain: true)
        #expect(AgentFixture.poolLeases(directory: f.directory).isEmpty)
        await f.closeExpectingNoLeaks()
    }

    @Test func withoutAPoolASandboxIsMadePerPod() async throws {
        let f = try await AgentFixture("nopool") { $0.sandboxPoolSize = 0 }
        let pod = testPod("fresh", uid: "0a000000-0000-0000-0000-0000000000b1",
                          containers: #"[{"name":"c","image":"busybox:1","command":["sleep","1000"]}]"#, grace: 0)
        f.set([pod])
        let statuses = await f.run { $0["fresh"]?.phase == "Running" }
        #expect(statuses["fresh"]?.podIP?.hasPrefix("10.77.0.") == true)
        #expect(f.agent.runtime.state.withLock { $0.sandboxes["0a000000-0000-0000-0000-0000000000b1"]?.networkID } == nil)
        #expect(AgentFixture.poolLeases(directory: f.directory).isEmpty)
        let hostname = hostShell("runc --root \(f.directory)/runc exec 0a000000-0000-0000-0000-0000000000b1_c_0 hostname").output
        #expect(hostname.trimmingCharacters(in: .whitespacesAndNewlines) == "fresh")
        await f.closeExpectingNoLeaks()
    }
}

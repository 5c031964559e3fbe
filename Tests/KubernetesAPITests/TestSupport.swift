import Consensus
import Foundation
import Logging
@testable import PeerDaemon
import ResourceModel
import Synchronization
import Testing

/// A single voter needs no network.
final class NullTransport: ConsensusTransport {
    func send(_ frame: [UInt8], to peer: UInt64, at address: PeerAddress) {}
    func removePeer(_ peer: UInt64) {}
}

final class TestClock: Sendable {
    let seconds = Mutex<Int64>(1_700_000_000)
    func now() -> Int64 { seconds.withLock { $0 } }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
}

struct Reply {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// Watch lines, parsed.
    var events: [JSONValue] { text.split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) } }
}

/// A real single-node ConsensusNode in a temp directory with the API on top.
struct TestServer {
    let node: ConsensusNode
    let api: KubernetesAPI
    let clock: TestClock

    static func with(historyRevisions: UInt64 = 10_000, secrets: SecretSealing = .plaintext,
                     _ body: (TestServer) async throws -> Void) async throws {
        let dir = "/tmp/kubeapi-test-\(UUID().uuidString)"
        var settings = ConsensusSettings()
        settings.tickInterval = .milliseconds(10)
        settings.electionTicks = 5
        settings.randomSeed = 7
        settings.requestTimeout = .seconds(10)
        settings.storeHistoryRevisions = historyRevisions
        var logger = Logger(label: "kubeapi-test")
        logger.logLevel = .error
        let node = ConsensusNode(id: 1, dataDirectory: dir, settings: settings, transport: NullTransport(),
                                 resolver: { _ in nil }, logger: logger, bootstrap: RaftMembership(voters: [1]))
        let loop = Task { try await node.run() }
        let clock = TestClock()
        var options = KubernetesAPI.Options()
        options.randomSeed = 42
        options.secrets = secrets
        let api = KubernetesAPI(backend: node, clock: { clock.now() }, logger: logger, options: options)
        let server = TestServer(node: node, api: api, clock: clock)
        do {
            try await server.waitForLeader()
            try await api.ensureBootstrapObjects()
            try await body(server)
        } catch {
            loop.cancel()
            _ = await loop.result
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        loop.cancel()
        _ = await loop.result
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A lone voter elects itself in a few ticks; the slack is for a CI machine whose disk is busy with every
    /// other suite's fsyncs.
    func waitForLeader() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while node.status().role != .leader {
            guard ContinuousClock.now < deadline else { throw TestError("no leader") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func call(_ method: String, _ target: String, _ body: String? = nil, contentType: String = "application/json",
              accept: String? = nil) async -> Reply {
        var headers: [String: String] = [:]
        if body != nil { headers["Content-Type"] = contentType }
        if let accept { headers["Accept"] = accept }
        return await call(KubeRequest(method: method, target: target, headers: headers, body: Array((body ?? "").utf8)))
    }

    /// Runs a request; a stream is collected until it ends (give watches a `timeoutSeconds`).
    func call(_ request: KubeRequest) async -> Reply {
        let response = await api.handle(request)
        switch response.body {
        case .bytes(let b): return Reply(status: response.status, headers: response.headers, body: b)
        case .stream(let run):
            let collected = Mutex<[UInt8]>([])
            try? await run { chunk in collected.withLock { $0 += chunk } }
            return Reply(status: response.status, headers: response.headers, body: collected.withLock { $0 })
        }
    }

    func create(_ collection: String, _ body: String) async throws -> JSONValue {
        let r = await call("POST", collection, body)
        guard r.status == 201 else { throw TestError("create failed: \(r.status) \(r.text)") }
        return r.json
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

let tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func podJSON(_ name: String, image: String = "nginx:1.25", labels: String = "{}", extra: String = "") -> String {
    """
    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"\(name)","labels":\(labels)},
     "spec":{"containers":[{"name":"c","image":"\(image)"}]\(extra)}}
    """
}

func deploymentJSON(_ name: String, replicas: Int = 2, image: String = "nginx:1.25") -> String {
    """
    {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"\(name)"},
     "spec":{"replicas":\(replicas),"selector":{"matchLabels":{"app":"\(name)"}},
             "template":{"metadata":{"labels":{"app":"\(name)"}},"spec":{"containers":[{"name":"nginx","image":"\(image)"}]}}}}
    """
}

extension JSONValue {
    /// Array element access for assertions; nil when out of range or not an array.
    subscript(_ index: Int) -> JSONValue? {
        guard let a = arrayValue, index >= 0, index < a.count else { return nil }
        return a[index]
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `peer` process started from the binary `swift build` put beside this test bundle.
final class PeerProcess: @unchecked Sendable {
    let process = Process()
    let output = Pipe()
    private let lock = NSLock()
    private var captured = Data()

    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["PEER_BINARY"] { return URL(fileURLWithPath: path) }
        // The test bundle and the `peer` executable share the build products directory.
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("peer")
    }

    init(_ arguments: [String], workingDirectory: URL) throws {
        process.executableURL = Self.binary
        // Peers here run no pods unless a test asks: several peers on one machine would share its pod bridge.
        var arguments = arguments
        if arguments.first == "start" && !arguments.contains("--run-pods") { arguments.insert(contentsOf: ["--run-pods", "false"], at: 1) }
        process.arguments = arguments
        process.currentDirectoryURL = workingDirectory
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.withLock { self.captured.append(chunk) }
        }
        try process.run()
    }

    var log: String { lock.withLock { String(decoding: captured, as: UTF8.self) } }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit; returns the exit status, or nil when it did not exit in time (the process is then killed).
    func waitForExit(timeout: TimeInterval = 10) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        guard !process.isRunning else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        // Let the pipe drain so `log` holds everything the process wrote.
        try? await Task.sleep(for: .milliseconds(50))
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        output.fileHandleForReading.readabilityHandler = nil
    }

    /// Runs the binary to completion: (status, everything it printed).
    static func run(_ arguments: [String], workingDirectory: URL) async throws -> (status: Int32?, output: String) {
        let peer = try PeerProcess(arguments, workingDirectory: workingDirectory)
        let status = await peer.waitForExit()
        return (status, peer.log)
    }
}

enum HTTP {
    /// GET returning (status, body), or nil while nothing listens.
    static func get(_ url: String) async -> (status: Int, body: String)? {
        guard let url = URL(string: url) else { return nil }
        // Never a cached answer: the durability test checks every read for linearizability.
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData)
        request.timeoutInterval = 2
        request.setValue("close", forHTTPHeaderField: "Connection")
        guard let (data, response) = try? await URLSession.shared.data(for: request),
              let http = response as? HTTPURLResponse else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    static func getWithHeaders(_ url: String) async -> (status: Int, body: String, headers: [String: String])? {
        guard let url = URL(string: url) else { return nil }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData)
        request.timeoutInterval = 5
        request.setValue("close", forHTTPHeaderField: "Connection")
        guard let (data, response) = try? await URLSession.shared.data(for: request),
              let http = response as? HTTPURLResponse else { return nil }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields { headers["\(name)".lowercased()] = "\(value)" }
        return (http.statusCode, String(decoding: data, as: UTF8.self), headers)
    }

    static func send(_ method: String, _ url: String, json: String) async -> (status: Int, body: String)? {
        guard let url = URL(string: url) else { return nil }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 5
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("close", forHTTPHeaderField: "Connection")
        request.httpBody = Data(json.utf8)
        guard let (data, response) = try? await URLSession.shared.data(for: request),
              let http = response as? HTTPURLResponse else { return nil }
        return (http.statusCode, String(decoding: data, as: UTF8.self))
    }

    enum Outcome {
        case answered(status: Int, body: String)
        /// Nothing reached the server: the request certainly had no effect.
        case refused
        /// Sent, but no answer: it may or may not have taken effect.
        case unknown
    }

    static func attempt(_ method: String, _ url: String, body: String) async -> Outcome {
        guard let url = URL(string: url) else { return .refused }
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData)
        request.httpMethod = method
        request.timeoutInterval = 5
        request.httpBody = Data(body.utf8)
        // Every request from these tests asks for a fresh connection: a client that reuses a connection the
        // server died on resends on a new one, and a refusal then would hide that the first copy may have
        // been applied.
        request.setValue("close", forHTTPHeaderField: "Connection")
        do {
            let (data, response) = try await URLSession.shared.data(for: request)
            guard let http = response as? HTTPURLResponse else { return .unknown }
            return .answered(status: http.statusCode, body: String(decoding: data, as: UTF8.self))
        } catch let error as URLError where error.code == .cannotConnectToHost {
            return .refused
        } catch {
            return .unknown
        }
    }

    /// Repeats an idempotent request until it answers 200 or the deadline passes; returns the last answer.
    /// A loaded machine can miss one election or one short timeout; a user would simply retry.
    static func sendUntilOK(_ method: String, _ url: String, json: String, within timeout: Duration = .seconds(20)) async -> (status: Int, body: String)? {
        let deadline = ContinuousClock.now + timeout
        var answer = await send(method, url, json: json)
        while answer?.status != 200 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(200))
            answer = await send(method, url, json: json)
        }
        return answer
    }

    static func getJSON<T: Decodable>(_ url: String, as type: T.Type = T.self) async -> T? {
        guard let answer = await get(url), answer.status == 200 else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(answer.body.utf8))
    }

    static func waitUntilServing(_ url: String, timeout: TimeInterval = 20) async -> (status: Int, body: String)? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let answer = await get(url) { return answer }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }
}

/// A fresh directory under /tmp, removed when the test is done with it.
final class ScratchDirectory: Sendable {
    let url: URL

    init() throws {
        url = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("peer-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Each test gets its own loopback address so tests can run concurrently on the default ports.
enum LoopbackAddress {
    private static let counter = Counter()
    static func next() -> String { "127.0.\(100 + (getpid() % 50)).\(counter.next())" }
    /// A block of addresses for one cluster; the counter keeps blocks of concurrent tests apart.
    static func block(_ count: Int) -> [String] { (0..<count).map { _ in next() } }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 10
        func next() -> Int { lock.withLock { value += 1; return value } }
    }
}

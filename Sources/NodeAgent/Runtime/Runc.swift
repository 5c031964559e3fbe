#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel

/// runc under the agent's own state root (`--root <agentDir>/runc`), so `runc list` shows exactly our containers.
struct Runc: Sendable {
    var binary: String
    var root: String

    struct Listed: Sendable {
        var id: String
        var pid: Int32
        var status: String
    }

    /// Creates a container (its init waits before exec'ing the process); stdout and stderr append to `logPath`,
    /// bound now. Returns the init's pid.
    func create(id: String, bundle: String, logPath: String) async throws -> Int32 {
        let pidFile = bundle + "/pid"
        Files.remove(pidFile)
        let runcLog = bundle + "/runc.log"
        Files.remove(runcLog)
        let result = try await Command.run(binary, ["--root", root, "--log", runcLog, "create", "--pid-file", pidFile, "--bundle", bundle, id],
                                           stdoutPath: logPath, timeout: .seconds(60))
        guard result.status == 0 else {
            throw Command.Failure(description: Self.lastError(runcLog) ?? "runc create exited \(result.status)")
        }
        guard let text = Files.read(pidFile), let pid = Int32(String(decoding: text, as: UTF8.self).trimmedWhitespace()) else {
            throw Command.Failure(description: "runc create wrote no pid file")
        }
        return pid
    }

    /// Creates and starts in one call (`run -d`), for a pod whose network is up already: one exec fewer.
    func run(id: String, bundle: String, logPath: String) async throws -> Int32 {
        let pidFile = bundle + "/pid"
        Files.remove(pidFile)
        let runcLog = bundle + "/runc.log"
        Files.remove(runcLog)
        let result = try await Command.run(binary, ["--root", root, "--log", runcLog, "run", "--detach", "--pid-file", pidFile, "--bundle", bundle, id],
                                           stdoutPath: logPath, timeout: .seconds(60))
        guard result.status == 0 else {
            throw Command.Failure(description: Self.lastError(runcLog) ?? "runc run exited \(result.status)")
        }
        guard let text = Files.read(pidFile), let pid = Int32(String(decoding: text, as: UTF8.self).trimmedWhitespace()) else {
            throw Command.Failure(description: "runc run wrote no pid file")
        }
        return pid
    }

    func start(id: String) async throws {
        let result = try await Command.run(binary, ["--root", root, "start", id], timeout: .seconds(60))
        guard result.status == 0 else {
            throw Command.Failure(description: (result.error.isEmpty ? result.text : result.error).trimmedWhitespace())
        }
    }

    /// runc logs one line of logfmt or JSON per message; the last `msg` is the reason.
    static func lastError(_ path: String) -> String? {
        guard let bytes = Files.read(path) else { return nil }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        for line in lines.reversed() {
            if let json = try? JSONValue.parse(String(line)), let msg = json["msg"]?.stringValue { return msg }
            if let range = line.firstRange(of: "msg=") { return line[range.upperBound...].trimmed { $0 == "\"" } }
        }
        return lines.last.map(String.init)
    }

    func kill(_ id: String, signal: StopSignal) async {
        _ = try? await Command.run(binary, ["--root", root, "kill", id, signal.rawValue], timeout: .seconds(10))
    }

    func delete(_ id: String) async {
        _ = try? await Command.run(binary, ["--root", root, "delete", "-f", id], timeout: .seconds(30))
    }

    func list() async -> [Listed] {
        guard let result = try? await Command.run(binary, ["--root", root, "list", "--format", "json"], timeout: .seconds(30)),
              result.status == 0, let json = try? JSONValue.parse(result.output), let items = json.arrayValue else { return [] }
        return items.compactMap { item in
            guard let id = item["id"]?.stringValue else { return nil }
            return Listed(id: id, pid: Int32(item["pid"]?.intValue ?? 0), status: item["status"]?.stringValue ?? "")
        }
    }

    func exec(_ id: String, _ command: [String], timeout: Duration) async throws -> Command.Result {
        try await Command.run(binary, ["--root", root, "exec", id] + command, timeout: timeout)
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
import ResourceModel

/// Runs one probe: exec through `runc exec` with the probe's timeout, httpGet through `HTTPClient` to the pod IP,
/// tcpSocket as a plain connect. Success is exit 0, HTTP 200–399, or a connection.
struct Prober: Sendable {
    var runc: Runc

    func run(_ probe: Probe, containerID: String, container: Container, podIP: String?) async -> (Bool, String) {
        let timeout = Duration.seconds(max(1, probe.timeoutSeconds ?? 1))
        if let exec = probe.exec {
            guard let command = exec.command, !command.isEmpty else { return (false, "exec probe has no command") }
            do {
                let result = try await runc.exec(containerID, command, timeout: timeout)
                if result.status == 124 { return (false, "command timed out after \(timeout)") }
                let said = (result.text + result.error).trimmedWhitespace()
                return (result.status == 0, result.status == 0 ? said : "exit \(result.status): \(said)")
            } catch {
                return (false, "\(error)")
            }
        }
        guard let ip = podIP else { return (false, "the pod has no IP") }
        if let get = probe.httpGet {
            guard let port = Self.port(get.port, container: container) else { return (false, "unknown port \(get.port)") }
            var client = HTTPClient()
            client.timeout = timeout
            client.maximumBodyBytes = 10 << 10
            let host = get.host.flatMap { $0.isEmpty ? nil : $0 } ?? ip
            let path = get.path.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/"
            do {
                let response = try await client.request("GET", "http://\(host):\(port)\(path)",
                                                        headers: (get.httpHeaders ?? []).map { ($0.name, $0.value) } + [("User-Agent", "kube-probe/1.31")])
                let ok = (200..<400).contains(response.status)
                return (ok, ok ? "" : "HTTP probe failed with statuscode: \(response.status)")
            } catch {
                return (false, "Get \"http://\(host):\(port)\(path)\": \(error)")
            }
        }
        if let tcp = probe.tcpSocket {
            guard let port = Self.port(tcp.port, container: container) else { return (false, "unknown port \(tcp.port)") }
            let host = tcp.host.flatMap { $0.isEmpty ? nil : $0 } ?? ip
            do {
                try await withDeadline(timeout, what: "dial tcp \(host):\(port)") {
                    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(host: host, port: port).get()
                    try await channel.close()
                }
                return (true, "")
            } catch {
                return (false, "dial tcp \(host):\(port): \(error)")
            }
        }
        return (false, "probe has no handler")
    }

    static func port(_ port: IntOrString, container: Container) -> Int? {
        switch port {
        case .int(let n): return (1...65535).contains(n) ? n : nil
        case .string(let name):
            if let n = Int(name) { return n }
            return container.ports?.first { $0.name == name }?.containerPort
        }
    }
}

import Foundation
import Testing

@Suite("peer process lifecycle")
struct PeerLifecycleTests {
    @Test("a peer serves /healthz, a second peer on its data directory is refused, SIGINT stops it with 0")
    func startRefuseStop() async throws {
        let scratch = try ScratchDirectory()
        let address = LoopbackAddress.next()
        let peer = try PeerProcess(["start", "--insecure-http", "--bind-address", address, "--data-dir", "data"], workingDirectory: scratch.url)
        let health = await HTTP.waitUntilServing("http://\(address):6443/healthz")
        #expect(health?.status == 200)
        #expect(health?.body == "ok")

        let second = try await PeerProcess.run(
            ["start", "--insecure-http", "--bind-address", address, "--api-port", "6444", "--data-dir", "data"],
            workingDirectory: scratch.url)
        #expect(second.status == 1)
        #expect(second.output.contains("data/LOCK"), "the refusal names the lock: \(second.output)")
        #expect(second.output.split(separator: "\n").count == 1, "one line: \(second.output)")

        peer.signal(SIGINT)
        let status = await peer.waitForExit()
        #expect(status == 0, "log: \(peer.log)")
        #expect(peer.log.contains("peer stopped cleanly"))
    }

    @Test("SIGTERM stops a peer with exit 0 and releases its data directory")
    func sigtermReleasesLock() async throws {
        let scratch = try ScratchDirectory()
        let address = LoopbackAddress.next()
        let arguments = ["start", "--insecure-http", "--bind-address", address, "--data-dir", "data"]
        let first = try PeerProcess(arguments, workingDirectory: scratch.url)
        #expect(await HTTP.waitUntilServing("http://\(address):6443/healthz") != nil)
        first.signal(SIGTERM)
        #expect(await first.waitForExit() == 0)

        let again = try PeerProcess(arguments, workingDirectory: scratch.url)
        #expect(await HTTP.waitUntilServing("http://\(address):6443/healthz")?.body == "ok", "log: \(again.log)")
        again.signal(SIGTERM)
        #expect(await again.waitForExit() == 0)
    }

    @Test("a peer killed with SIGKILL leaves no stale lock behind")
    func killedPeerLeavesNoLock() async throws {
        let scratch = try ScratchDirectory()
        let address = LoopbackAddress.next()
        let arguments = ["start", "--insecure-http", "--bind-address", address, "--data-dir", "data"]
        let first = try PeerProcess(arguments, workingDirectory: scratch.url)
        #expect(await HTTP.waitUntilServing("http://\(address):6443/healthz") != nil)
        first.signal(SIGKILL)
        #expect(await first.waitForExit() != 0)

        let again = try PeerProcess(arguments, workingDirectory: scratch.url)
        #expect(await HTTP.waitUntilServing("http://\(address):6443/healthz")?.body == "ok", "log: \(again.log)")
        again.signal(SIGTERM)
        #expect(await again.waitForExit() == 0)
    }

    @Test("bad configuration: one clear line and a non-zero exit", arguments: [
        ("gosipPort: 7946\n", "gosipPort: line 1: unknown key (did you mean 'gossipPort'?)"),
        ("apiPort: 70000\n", "apiPort: line 1: 70000 is out of range (1-65535)"),
        ("apiPort: many\n", "apiPort: line 1: expected a port number"),
        ("join: 127.0.0.1\n", "join: line 1: expected a list of strings"),
        ("logLevel: loud\n", "logLevel: line 1: 'loud' is not a log level"),
        ("bindAddress: 0.0.0.0\ninsecureHTTP: true\n", "insecureHTTP: plain HTTP without authentication is only allowed on a loopback address"),
        ("- a\n- b\n", "the top level must be a mapping"),
    ])
    func badConfiguration(yaml: String, expected: String) async throws {
        let scratch = try ScratchDirectory()
        try yaml.write(to: scratch.url.appendingPathComponent("peer.yaml"), atomically: true, encoding: .utf8)
        let result = try await PeerProcess.run(["start", "--config", "peer.yaml"], workingDirectory: scratch.url)
        #expect(result.status == 1)
        let lines = result.output.split(separator: "\n")
        #expect(lines.count == 1, "one line: \(result.output)")
        #expect(result.output.hasPrefix("peer: peer.yaml: "), "names the file: \(result.output)")
        #expect(result.output.contains(expected), "\(result.output)")
    }

    @Test("a missing configuration file and out-of-range flags are refused in one line")
    func missingFileAndBadFlags() async throws {
        let scratch = try ScratchDirectory()
        let missing = try await PeerProcess.run(["start", "--config", "absent.yaml"], workingDirectory: scratch.url)
        #expect(missing.status == 1)
        #expect(missing.output == "peer: absent.yaml: cannot read configuration file: No such file or directory\n")

        let port = try await PeerProcess.run(["start", "--gossip-port", "70000"], workingDirectory: scratch.url)
        #expect(port.status == 1)
        #expect(port.output == "peer: command line: --gossip-port: 70000 is out of range (1-65535)\n")
    }

    @Test("peer version prints the version")
    func version() async throws {
        let scratch = try ScratchDirectory()
        let result = try await PeerProcess.run(["version"], workingDirectory: scratch.url)
        #expect(result.status == 0)
        #expect(result.output.hasPrefix("peer 0."))
    }
}

import ArgumentParser
import Dispatch
import Logging
import PeerDaemon

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@main
enum PeerMain {
    /// Swift's async entry point parks the main thread in `dispatch_main`, which ends it with `pthread_exit`:
    /// glibc then unwinds the main thread's stack and the unwind tables it reads stay resident in every peer
    /// (about 0.5 MiB, issue #3). Nothing here runs on the main queue, so the main thread just waits for the
    /// command, which runs on the cooperative pool as it would under the async entry point.
    static func main() {
        limitMallocArenas()
        let finished = DispatchSemaphore(value: 0)
        Task.detached {
            await PeerCommand.main()
            finished.signal()
        }
        finished.wait()
    }

    /// glibc gives each thread that allocates under contention an arena of its own, each keeping its own free
    /// pages. A peer's heap is small and its allocations few: two arenas save about 0.25 MiB of every idle peer
    /// with no CPU cost the gossip benchmark can see (issue #3). An operator's `MALLOC_ARENA_MAX` still wins.
    static func limitMallocArenas() {
        #if canImport(Glibc)
        let arenaMax: Int32 = -8 // M_ARENA_MAX in <malloc.h>, which the Glibc module does not export
        if getenv("MALLOC_ARENA_MAX") == nil { _ = glibcMallopt(arenaMax, 2) }
        #endif
    }
}

#if canImport(Glibc)
/// glibc's `int mallopt(int, int)`; both arguments and the result are plain C ints.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "A peer of a masterless container cluster: gossip, Raft, scheduling and pods in one program.",
        version: PeerVersion.current,
        subcommands: [Start.self, Members.self, Kubeconfig.self, Keygen.self, ImageCommand.self, Version.self]
    )
}

/// Prints one line an operator can act on and exits non-zero, instead of a usage dump or a stack trace.
func fail(_ message: String) -> ExitCode {
    let line = Array("peer: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
    return ExitCode.failure
}

struct Start: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start this peer: form a new cluster, or join one with --join.")

    @Option(name: .long, help: "YAML configuration file; flags given here override it.")
    var config: String?

    @Option(help: "This peer's node name (default: the host name).")
    var name: String?

    @Option(name: .customLong("data-dir"), help: "Directory for the Raft log, snapshots and keys (default: ./peer-data).")
    var dataDir: String?

    @Option(name: .customLong("bind-address"), help: "IP address for all listeners (default: 127.0.0.1).")
    var bindAddress: String?

    @Option(name: .customLong("gossip-port"), help: "UDP and TCP port for gossip (default: 7946).")
    var gossipPort: Int?

    @Option(name: .customLong("raft-port"), help: "TCP port for Raft traffic between peers (default: 7947).")
    var raftPort: Int?

    @Option(name: .customLong("api-port"), help: "Port of the HTTP API (default: 6443).")
    var apiPort: Int?

    @Option(name: .long, help: "An existing peer to join, HOST[:PORT] (repeatable; the port defaults to the gossip port).")
    var join: [String] = []

    @Flag(name: .customLong("insecure-http"), help: "Serve the API as plain HTTP with no authentication (loopback addresses only).")
    var insecureHTTP = false

    @Flag(name: .customLong("allow-insecure-remote"), help: "Testing only: let --insecure-http bind a non-loopback address (network-namespace tests).")
    var allowInsecureRemote = false

    @Option(name: .customLong("gossip-key-file"), help: "File with the cluster's gossip key (base64; make one with 'peer keygen gossip').")
    var gossipKeyFile: String?

    @Option(help: "Raft voters the cluster keeps: 1, 3 or 5 (default: 3).")
    var voters: Int?

    @Option(name: .customLong("run-pods"), help: "Whether this peer runs the pods bound to it, true or false (default: true; needs root and runc).")
    var runPods: Bool?

    @Option(name: .customLong("pod-subnet"), help: "IPv4 subnet of this node's pods (default: 10.88.0.0/16).")
    var podSubnet: String?

    @Option(name: .customLong("pod-bridge"), help: "Name of this node's pod bridge (default: orch0).")
    var podBridge: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default: info).")
    var logLevel: String?

    func resolvedConfiguration() throws(ConfigurationError) -> PeerConfiguration {
        var configuration = PeerConfiguration()
        if let config {
            configuration = try ConfigurationFile.load(path: config, onto: configuration)
        }
        // Which configuration keys a flag set, so an error names what the operator actually typed.
        var flagged: [String: String] = [:]
        func set<Value>(_ value: Value?, _ key: String, _ flag: String, _ apply: (Value) -> Void) {
            guard let value else { return }
            apply(value)
            flagged[key] = flag
        }
        set(name, "name", "--name") { configuration.name = $0 }
        set(dataDir, "dataDir", "--data-dir") { configuration.dataDirectory = $0 }
        set(bindAddress, "bindAddress", "--bind-address") { configuration.bindAddress = $0 }
        set(gossipPort, "gossipPort", "--gossip-port") { configuration.gossipPort = $0 }
        set(raftPort, "raftPort", "--raft-port") { configuration.raftPort = $0 }
        set(apiPort, "apiPort", "--api-port") { configuration.apiPort = $0 }
        set(join.isEmpty ? nil : join, "join", "--join") { configuration.join = $0 }
        set(insecureHTTP ? true : nil, "insecureHTTP", "--insecure-http") { configuration.insecureHTTP = $0 }
        set(allowInsecureRemote ? true : nil, "allowInsecureRemote", "--allow-insecure-remote") { configuration.allowInsecureRemote = $0 }
        set(gossipKeyFile, "gossipKeyFile", "--gossip-key-file") { configuration.gossipKeyFile = $0 }
        set(voters, "voters", "--voters") { configuration.voters = $0 }
        set(runPods, "runPods", "--run-pods") { configuration.runPods = $0 }
        set(podSubnet, "podSubnet", "--pod-subnet") { configuration.podSubnet = $0 }
        set(podBridge, "podBridge", "--pod-bridge") { configuration.podBridge = $0 }
        if let logLevel {
            guard let level = Logger.Level(rawValue: logLevel.lowercased()) else {
                throw ConfigurationError(source: "command line", key: "--log-level",
                    message: "'\(logLevel)' is not a log level (trace, debug, info, notice, warning, error, critical)")
            }
            configuration.logLevel = level
        }
        do {
            try configuration.validate(source: config ?? "defaults")
        } catch {
            guard let key = error.key, let flag = flagged[key] else { throw error }
            throw ConfigurationError(source: "command line", key: flag, message: error.message)
        }
        return configuration
    }

    func run() async throws {
        let configuration: PeerConfiguration
        do {
            configuration = try resolvedConfiguration()
        } catch {
            throw fail(error.description)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "peer")
        logger[metadataKey: "node"] = "\(configuration.name)"
        do {
            try await Peer(configuration: configuration, logger: logger).run()
        } catch let error as Peer.StartError {
            throw fail(error.description)
        } catch {
            throw fail("\(error)")
        }
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new key and print it.",
        discussion: """
            peer keygen gossip > gossip.key   # a key for --gossip-key-file (keep it secret)
            peer keygen signing --out signing.key   # signs images; prints the public key for the trust policy
            """)

    @Argument(help: "What the key is for: gossip or signing.")
    var kind: String

    @Option(help: "For 'signing': the private key file to write (its public key goes to FILE.pub; default: signing.key).")
    var out: String?

    func run() throws {
        switch kind {
        case "gossip":
            do {
                print(try Keys.newGossipKey())
            } catch {
                throw fail("cannot generate a key: \(error)")
            }
        case "signing":
            try SigningKeygen.run(out: out)
        default:
            throw fail("unknown key kind '\(kind)'; expected: gossip, signing")
        }
    }
}

struct Members: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the cluster's members as this peer sees them.")

    @Option(help: "A peer's API address (default: the one the peer owning --data-dir serves on; http:// for --insecure-http).")
    var server: String?

    @Option(name: .customLong("data-dir"), help: "Data directory whose cluster CA and admin token to use for https (default: ./peer-data).")
    var dataDir = "peer-data"

    func run() async throws {
        let members: [MemberView]
        do {
            members = try await PeerClient.local(server: server, dataDirectory: dataDir).members()
        } catch {
            throw fail("\(error)")
        }
        let rows = [["NAME", "ADDRESS", "STATE", "INCARNATION", "API", "RAFT"]] + members.map {
            [$0.name, $0.address, $0.state, "\($0.incarnation)", $0.meta["api"] ?? "", $0.meta["raft"] ?? ""]
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0.0 + String(repeating: " ", count: $0.1 + 3 - $0.0.count) }.joined().trimmingTrailingSpaces())
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        String(self.reversed().drop { $0 == " " }.reversed())
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the peer's version.")

    func run() {
        print("peer \(PeerVersion.current)")
    }
}

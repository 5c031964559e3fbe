import Logging

/// Everything a peer needs to start. Built from embedded defaults, then a YAML file, then flags — later wins.
public struct PeerConfiguration: Sendable, Equatable {
    public var name: String
    public var dataDirectory: String
    public var bindAddress: String
    public var gossipPort: Int
    public var raftPort: Int
    public var apiPort: Int
    /// Seeds to join through: any existing peer, as `host` or `host:port` (port defaults to the gossip port).
    public var join: [String]
    public var insecureHTTP: Bool
    /// Lets `insecureHTTP` bind a non-loopback address: a testing escape hatch for network-namespace tests only.
    public var allowInsecureRemote: Bool = false
    public var logLevel: Logger.Level
    /// File holding the cluster's gossip key (base64). Needed to join; the first peer generates one when absent.
    public var gossipKeyFile: String?
    /// How many Raft voters the cluster keeps (1, 3 or 5); the other peers are learners that stand by.
    public var voters: Int
    /// How long a node may stay not ready (gossip says its peer is dead) before its pods are evicted and replaced elsewhere.
    public var nodeGracePeriodSeconds = 40
    /// Pods this node takes at most (kubelet's maxPods).
    public var maxPods = 110
    /// Pod sandboxes the node agent keeps ready (network set up ahead) so pods start sooner; 0 disables the pool.
    public var podSandboxPool = 3
    /// Whether this peer's node agent runs the pods bound to it (needs root and runc). A peer that does not
    /// is still a full member: it stores, schedules and answers the API.
    public var runPods: Bool = true
    /// The pods' network on this node: a CNI bridge and the subnet its pods take addresses from. Two peers on
    /// one machine need different ones.
    public var podBridge: String = "orch0"
    public var podSubnet: String = "10.88.0.0/16"
    /// OCI registries to pull images from (`http://host:port`), tried before other peers.
    public var imageRegistries: [String] = []
    /// Which keys must have signed the images pods run, per image prefix and namespace.
    public var imageTrust: [ImageTrustRule] = []

    public static let defaultGossipPort = 7946
    public static let defaultRaftPort = 7947
    public static let defaultAPIPort = 6443

    public init(
        name: String = PeerConfiguration.defaultName(),
        dataDirectory: String = "peer-data",
        bindAddress: String = "127.0.0.1",
        gossipPort: Int = PeerConfiguration.defaultGossipPort,
        raftPort: Int = PeerConfiguration.defaultRaftPort,
        apiPort: Int = PeerConfiguration.defaultAPIPort,
        join: [String] = [],
        insecureHTTP: Bool = false,
        logLevel: Logger.Level = .info,
        gossipKeyFile: String? = nil,
        voters: Int = 3
    ) {
        self.name = name
        self.dataDirectory = dataDirectory
        self.bindAddress = bindAddress
        self.gossipPort = gossipPort
        self.raftPort = raftPort
        self.apiPort = apiPort
        self.join = join
        self.insecureHTTP = insecureHTTP
        self.logLevel = logLevel
        self.gossipKeyFile = gossipKeyFile
        self.voters = voters
    }

    /// The host name is what an operator recognises a node by, as kubelet does.
    public static func defaultName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "peer" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "peer" : name.lowercased()
    }

    /// Seeds as (host, port), with the gossip port filled in where a seed names none.
    public func joinAddresses() throws(ConfigurationError) -> [(host: String, port: Int)] {
        var seeds: [(host: String, port: Int)] = []
        for seed in join { seeds.append(try Self.parseSeed(seed, defaultPort: gossipPort, source: "join")) }
        return seeds
    }

    /// Checks what cannot be checked key by key: value ranges and combinations.
    public func validate(source: String) throws(ConfigurationError) {
        guard ResourceName.isValidDNSSubdomain(name) else {
            throw ConfigurationError(source: source, key: "name",
                message: "'\(name)' is not a valid node name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters")
        }
        guard !dataDirectory.isEmpty else {
            throw ConfigurationError(source: source, key: "dataDir", message: "must not be empty")
        }
        guard IPAddress.isValid(bindAddress) else {
            throw ConfigurationError(source: source, key: "bindAddress", message: "'\(bindAddress)' is not an IPv4 or IPv6 address")
        }
        for (key, port) in [("gossipPort", gossipPort), ("raftPort", raftPort), ("apiPort", apiPort)] {
            guard (1...65535).contains(port) else {
                throw ConfigurationError(source: source, key: key, message: "\(port) is out of range (1-65535)")
            }
        }
        let ports = [gossipPort, raftPort, apiPort]
        guard Set(ports).count == ports.count else {
            throw ConfigurationError(source: source, key: "apiPort",
                message: "gossipPort, raftPort and apiPort must differ (got \(gossipPort), \(raftPort), \(apiPort))")
        }
        for seed in join { _ = try Self.parseSeed(seed, defaultPort: gossipPort, source: source) }
        guard [1, 3, 5].contains(voters) else {
            throw ConfigurationError(source: source, key: "voters", message: "\(voters) is not 1, 3 or 5 (an even number of voters tolerates no more failures than one fewer)")
        }
        guard IPv4Subnet(podSubnet) != nil else {
            throw ConfigurationError(source: source, key: "podSubnet", message: "'\(podSubnet)' is not an IPv4 subnet like 10.88.0.0/16")
        }
        guard (1...15).contains(podBridge.utf8.count), podBridge.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
            throw ConfigurationError(source: source, key: "podBridge", message: "'\(podBridge)' is not a network interface name (1-15 letters, digits, '-' or '_')")
        }
        for registry in imageRegistries where !(registry.hasPrefix("http://") || registry.hasPrefix("https://")) {
            throw ConfigurationError(source: source, key: "imageRegistries", message: "'\(registry)' must start with http:// or https://")
        }
        for (i, rule) in imageTrust.enumerated() where !["enforce", "warn"].contains(rule.mode) {
            throw ConfigurationError(source: source, key: "imageTrust[\(i)].mode", message: "'\(rule.mode)' is not enforce or warn")
        }
        if insecureHTTP && !allowInsecureRemote && !IPAddress.isLoopback(bindAddress) {
            throw ConfigurationError(source: source, key: "insecureHTTP",
                message: "plain HTTP without authentication is only allowed on a loopback address, not \(bindAddress) (allowInsecureRemote overrides this for tests)")
        }
    }

    static func parseSeed(_ seed: String, defaultPort: Int, source: String) throws(ConfigurationError) -> (host: String, port: Int) {
        let invalid = ConfigurationError(source: source, key: "join", message: "'\(seed)' is not HOST or HOST:PORT")
        var host = seed
        var port = defaultPort
        if seed.hasPrefix("[") {
            // [v6]:port
            guard let close = seed.firstIndex(of: "]") else { throw invalid }
            host = String(seed[seed.index(after: seed.startIndex)..<close])
            let rest = seed[seed.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { throw invalid }
                port = p
            }
        } else if seed.filter({ $0 == ":" }).count == 1, let colon = seed.lastIndex(of: ":") {
            host = String(seed[..<colon])
            guard let p = Int(seed[seed.index(after: colon)...]) else { throw invalid }
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw invalid }
        return (host, port)
    }
}

/// One entry of the image trust policy as configured: images under `prefix` (all when empty) in `namespaces`
/// (all when empty) must be signed by one of `keys` (base64 Ed25519 public keys from `peer keygen signing`);
/// `mode` is `enforce` (refuse to run) or `warn` (run, and log why it would have been refused).
public struct ImageTrustRule: Sendable, Equatable {
    public var prefix: String = ""
    public var namespaces: [String] = []
    public var keys: [String] = []
    public var mode: String = "enforce"
    public init() {}
}

/// One line an operator can act on: which file (or flag), which key, what is wrong.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var source: String
    public var key: String?
    public var message: String

    public init(source: String, key: String?, message: String) {
        self.source = source
        self.key = key
        self.message = message
    }

    public var description: String {
        if let key { return "\(source): \(key): \(message)" }
        return "\(source): \(message)"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum IPAddress {
    static func isValid(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    static func isLoopback(_ text: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return text.hasPrefix("127.")
        }
        return text == "::1"
    }
}

enum ResourceName {
    /// RFC 1123 subdomain, as Kubernetes requires of node names.
    static func isValidDNSSubdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard let first = label.first, let last = label.last else { return false }
            let alnum: (Character) -> Bool = { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }
            return alnum(first) && alnum(last) && label.allSatisfy { alnum($0) || $0 == "-" }
        }
    }
}

/// An IPv4 network in CIDR notation.
struct IPv4Subnet: Equatable {
    var address: UInt32
    var prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let length = Int(parts[1]), (8...30).contains(length) else { return nil }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 <= 255 }) else { return nil }
        address = octets.reduce(0) { $0 << 8 | $1 }
        prefixLength = length
        guard address & ~(UInt32.max << UInt32(32 - length)) == 0 else { return nil }  // host bits set
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel

/// CNI for pods: one bridge per node (`bridge` + `host-local` IPAM) and `loopback`, called as the CNI spec says
/// (config on stdin, `CNI_*` in the environment).
public struct PodNetwork: Sendable {
    public struct Settings: Sendable, Equatable {
        public var bridge = "orch0"
        public var subnet = "10.88.0.0/16"
        public var pluginDirectory = "/usr/lib/cni"
        /// Masquerade pod traffic leaving the node (adds iptables rules; off by default).
        public var ipMasquerade = false
        public init() {}
        public init(bridge: String, subnet: String, pluginDirectory: String = "/usr/lib/cni", ipMasquerade: Bool = false) {
            self.bridge = bridge; self.subnet = subnet; self.pluginDirectory = pluginDirectory; self.ipMasquerade = ipMasquerade
        }
    }

    public var settings: Settings
    /// host-local keeps its leases here (not in /var/lib/cni).
    public var ipamDirectory: String

    func bridgeConfig() -> JSONValue {
        [
            "cniVersion": "1.0.0", "name": "orch", "type": "bridge", "bridge": .string(settings.bridge),
            "isGateway": true, "isDefaultGateway": true, "ipMasq": .bool(settings.ipMasquerade), "hairpinMode": true,
            "ipam": [
                "type": "host-local",
                "ranges": [[["subnet": .string(settings.subnet)]]],
                "dataDir": .string(ipamDirectory),
            ],
        ]
    }

    func environment(_ command: String, containerID: String, netns: String, interface: String) -> [String: String] {
        [
            "CNI_COMMAND": command, "CNI_CONTAINERID": containerID, "CNI_NETNS": netns, "CNI_IFNAME": interface,
            "CNI_PATH": settings.pluginDirectory, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        ]
    }

    /// Attaches the pod's network namespace; returns its IPv4 address.
    func add(podUID: String, netns: String) async throws -> String {
        let lo: JSONValue = ["cniVersion": "1.0.0", "name": "lo", "type": "loopback"]
        // The two plugins touch different interfaces, so they run side by side.
        async let loopback = Command.check(settings.pluginDirectory + "/loopback", [], input: Array(lo.serialized().utf8),
                                           environment: environment("ADD", containerID: podUID, netns: netns, interface: "lo"))
        let result = try await Command.check(settings.pluginDirectory + "/bridge", [], input: Array(bridgeConfig().serialized().utf8),
                                             environment: environment("ADD", containerID: podUID, netns: netns, interface: "eth0"))
        _ = try await loopback
        guard let parsed = try? JSONValue.parse(result.output),
              let address = parsed["ips"]?.arrayValue?.first?["address"]?.stringValue,
              let ip = address.split(separator: "/").first else {
            throw Command.Failure(description: "CNI bridge gave no address: \(result.text)")
        }
        return String(ip)
    }

    /// Frees the lease and the veth. Safe to repeat, and safe after the namespace is gone.
    func delete(podUID: String, netns: String) async throws {
        try await Command.check(settings.pluginDirectory + "/bridge", [], input: Array(bridgeConfig().serialized().utf8),
                                environment: environment("DEL", containerID: podUID, netns: netns, interface: "eth0"))
    }
}

import ArgumentParser
import PeerDaemon

struct Kubeconfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a kubeconfig for this cluster (CA, server address, admin token) that kubectl uses as is.",
        discussion: """
        Reads the cluster CA and admin token from a peer's data directory; every peer that has joined holds them.
          peer kubeconfig > ~/.kube/config
          peer kubeconfig --data-dir /var/lib/peer --server https://10.0.0.5:6443
        """)

    @Option(name: .customLong("data-dir"), help: "The peer's data directory (default: ./peer-data).")
    var dataDir = "peer-data"

    @Option(help: "The API address to put in the kubeconfig (default: the address the peer serves on, from its data directory).")
    var server: String?

    @Option(name: .customLong("cluster-name"), help: "Name of the cluster, user and context entries.")
    var clusterName = "peer"

    func run() throws {
        let server = self.server ?? PeerClient.recordedServer(dataDirectory: dataDir) ?? "https://127.0.0.1:6443"
        guard server.hasPrefix("https://") else {
            throw fail("the server must be an https:// URL (kubectl sends no token over plain HTTP); got \(server)")
        }
        do {
            let credentials = try LocalCredentials.load(dataDirectory: dataDir)
            print(credentials.kubeconfig(server: server, clusterName: clusterName), terminator: "")
        } catch {
            throw fail(error.description)
        }
    }
}

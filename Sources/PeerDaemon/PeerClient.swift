#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NodeAgent
import ResourceModel

/// What the `peer` CLI asks a running peer, over its API: HTTPS with the cluster CA and the admin token
/// from the peer's data directory, or plain HTTP when the peer runs with `--insecure-http`.
public struct PeerClient: Sendable {
    public let server: String
    let http: HTTPClient

    public init(server: String, trustedCAPEM: String? = nil, token: String? = nil) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        http = HTTPClient(trustedCAPEM: trustedCAPEM, bearerToken: token)
    }

    /// The API address the peer owning this data directory recorded when it started serving, if any.
    public static func recordedServer(dataDirectory: String) -> String? {
        guard let text = try? SmallFile.read(ClusterSecurity.apiURLPath(dataDirectory)) else { return nil }
        let url = text.trimmingWhitespace()
        return url.isEmpty ? nil : url
    }

    /// A client for the peer whose data directory this is: its CA and admin token, when it has them.
    /// `server` nil means the address that peer recorded (default https://127.0.0.1:6443).
    public static func local(server: String?, dataDirectory: String) throws(RequestError) -> PeerClient {
        let server = server ?? recordedServer(dataDirectory: dataDirectory) ?? "https://127.0.0.1:6443"
        guard server.hasPrefix("https://") else { return PeerClient(server: server) }
        let credentials = try LocalCredentials.load(dataDirectory: dataDirectory)
        return PeerClient(server: server, trustedCAPEM: credentials.caPEM, token: credentials.token)
    }

    public struct RequestError: Error, CustomStringConvertible {
        public let description: String
    }

    public func members() async throws -> [MemberView] {
        try await getJSON("/v1/members")
    }

    func getJSON<T: Decodable>(_ path: String) async throws -> T {
        let response = try await http.request("GET", server + path)
        guard response.status == 200 else {
            throw RequestError(description: "\(server)\(path) answered \(response.status): \(response.text.prefix(200))")
        }
        do {
            return try JSONValue.decode(T.self, from: response.body)
        } catch {
            throw RequestError(description: "\(server)\(path) answered something that is not the expected JSON: \(error)")
        }
    }
}

/// The cluster CA and admin token a peer keeps in its data directory for the local CLI.
public struct LocalCredentials: Sendable {
    public var caPEM: String
    public var token: String

    public static func load(dataDirectory: String) throws(PeerClient.RequestError) -> LocalCredentials {
        let caPath = ClusterSecurity.caPath(dataDirectory)
        let tokenPath = ClusterSecurity.tokenPath(dataDirectory)
        guard SmallFile.exists(caPath), SmallFile.exists(tokenPath) else {
            throw PeerClient.RequestError(description: "\(dataDirectory) holds no cluster CA and token (\(caPath), \(tokenPath)); give --data-dir of a peer that has joined the cluster, or use an http:// --server for a peer started with --insecure-http")
        }
        do {
            return LocalCredentials(caPEM: try SmallFile.read(caPath), token: try SmallFile.read(tokenPath).trimmingWhitespace())
        } catch {
            throw PeerClient.RequestError(description: "cannot read the credentials in \(dataDirectory): \(error)")
        }
    }

    /// A kubeconfig for kubectl and the client libraries: this cluster's CA, `server`, the admin token.
    public func kubeconfig(server: String, clusterName: String = "peer") -> String {
        let ca = Data(caPEM.utf8).base64EncodedString()
        return """
        apiVersion: v1
        kind: Config
        clusters:
        - name: \(clusterName)
          cluster:
            server: \(server)
            certificate-authority-data: \(ca)
        users:
        - name: \(clusterName)-admin
          user:
            token: \(token)
        contexts:
        - name: \(clusterName)
          context:
            cluster: \(clusterName)
            user: \(clusterName)-admin
            namespace: default
        current-context: \(clusterName)

        """
    }
}

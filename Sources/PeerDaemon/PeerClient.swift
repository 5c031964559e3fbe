import Foundation
import NodeAgent

/// What the `peer` CLI asks a running peer, over its HTTP API.
public struct PeerClient: Sendable {
    public let server: String
    let http = HTTPClient()

    public init(server: String) {
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
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
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw RequestError(description: "\(server)\(path) answered something that is not the expected JSON: \(error)")
        }
    }
}

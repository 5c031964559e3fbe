import Gossip
import NodeAgent
import ResourceModel

/// `pods/log` from whichever peer is asked: this node's agent reads its own containers' log files; a pod on
/// another node is fetched from that node's peer, found through gossip metadata (its API address).
struct PodLogs: Sendable {
    let nodeName: String
    let agent: NodeAgent?
    let gossip: GossipNode
    /// `http` or `https`, as every peer of the cluster serves its API.
    let scheme: String
    /// Talks to other peers (the cluster CA and token when the API is HTTPS).
    let client: @Sendable () -> HTTPClient

    func respond(pod: JSONValue, query: [String: String]) async -> KubeResponse {
        let name = pod["metadata"]?["name"]?.stringValue ?? ""
        let namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        guard let node = pod["spec"]?["nodeName"]?.stringValue, !node.isEmpty else {
            return .status(APIError.badRequest("pod \(goQuoted(name)) is not bound to a node yet, so it has no logs").status)
        }
        var tail: Int?
        if let text = query["tailLines"] {
            guard let lines = Int(text), lines >= 0 else { return .status(APIError.badRequest("tailLines: must be a non-negative integer").status) }
            tail = lines
        }
        let follow = query["follow"] == "true"
        let previous = query["previous"] == "true"
        if node == nodeName {
            guard let agent else {
                return .status(APIError.unavailable("node \(node) runs no pods (its peer has runPods: false or cannot run containers)").status)
            }
            let stream: AsyncThrowingStream<[UInt8], any Error>
            do {
                stream = try await agent.logs(namespace: namespace, pod: name, container: query["container"], tailLines: tail,
                                              follow: follow, previous: previous)
            } catch {
                return .status(APIError.badRequest("\(error)").status)
            }
            let headers = ["Content-Type": "text/plain"]
            guard follow else {
                var bytes: [UInt8] = []
                do { for try await chunk in stream { bytes += chunk } } catch {
                    return .status(APIError.internalError("reading the log: \(error)").status)
                }
                return KubeResponse(status: 200, headers: headers, body: .bytes(bytes))
            }
            return KubeResponse(status: 200, headers: headers, body: .stream { emit in
                for try await chunk in stream { try await emit(chunk) }
            })
        }
        guard let member = gossip.members.first(where: { $0.metadata.entries["name"] == node && $0.status == .alive }),
              let address = member.metadata.entries["api"] else {
            return .status(APIError.unavailable("node \(node) that runs pod \(goQuoted(name)) is not reachable: its peer is not alive in gossip").status)
        }
        // A peer answers for its own pods only, so the request cannot bounce between peers.
        var forwarded = query
        forwarded["follow"] = nil  // whole bodies between peers; a follower re-asks
        let queryText = forwarded.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.percentEncoded($0.value))" }.joined(separator: "&")
        let url = "\(scheme)://\(address)/api/v1/namespaces/\(namespace)/pods/\(name)/log" + (queryText.isEmpty ? "" : "?" + queryText)
        do {
            let response = try await client().request("GET", url)
            var headers: [String: String] = [:]
            for (field, value) in response.headers where field.lowercased() == "content-type" { headers["Content-Type"] = value }
            return KubeResponse(status: response.status, headers: headers, body: .bytes(response.body))
        } catch {
            return .status(APIError.unavailable("cannot fetch the log from node \(node) at \(address): \(error)").status)
        }
    }

    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

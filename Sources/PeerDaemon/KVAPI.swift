import Consensus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import HTTPTypes
import Hummingbird
import ResourceModel

/// The KV API every peer serves, for users and benchmarks. Keys live under `/kv/` in the cluster store,
/// apart from the Kubernetes objects. Writes go through Raft (any peer forwards to the leader); reads are
/// linearizable unless `?stale` (or `?consistency=stale`) is given. A stale read answers from this peer's
/// replica even when it is cut off from the leader, and says so (`X-Stale: true`, `"stale": true`); a
/// linearizable read that cannot reach a leader answers 503 at once.
///
///     PUT    /v1/kv/{key}[?cas=REV]   body = value           → {"revision": N}
///     GET    /v1/kv/{key}[?stale]                            → the value; X-Revision, X-Mod-Revision[, X-Stale]
///     GET    /v1/kv/{prefix}?recurse[&stale]                 → {"revision": N, "items": [...][, "stale": true]}
///     DELETE /v1/kv/{key}[?cas=REV]                          → {"revision": N}
///     GET    /v1/raft                                        → this peer's view of Raft
struct KVAPI: Sendable {
    static let storePrefix = "/kv/"
    static let maximumValueBytes = 1 << 20

    let consensus: ConsensusNode

    func register(on router: Router<BasicRequestContext>) {
        router.get("v1/raft") { _, _ in
            JSONResponse(value: consensus.status())
        }
        router.put("v1/kv/**") { request, context in
            let key = try Self.key(context)
            let cas = try Self.casRevision(request)
            var request = request
            let body = try await request.collectBody(upTo: Self.maximumValueBytes)
            let value = Array(body.readableBytesView)
            let result = try await propose(.put(key: Self.storePrefix + key, value: value, expectedModRevision: cas), key: key)
            return JSONResponse(value: ["revision": result])
        }
        router.delete("v1/kv/**") { request, context in
            let key = try Self.key(context)
            let cas = try Self.casRevision(request)
            let result = try await propose(.delete(key: Self.storePrefix + key, expectedModRevision: cas), key: key)
            return JSONResponse(value: ["revision": result])
        }
        router.get("v1/kv/**") { request, context in
            let key = try Self.key(context, allowEmpty: request.uri.queryParameters["recurse"] != nil)
            let consistency = try Self.consistency(request)
            if request.uri.queryParameters["recurse"] != nil {
                let prefix = Self.storePrefix + key
                let listing: KVListing = try await read(consistency) { store in
                    KVListing(revision: store.revision, items: (try? store.range(prefix: prefix).items.map { KVItem($0) }) ?? [],
                              stale: consistency == .stale ? true : nil)
                }
                var response = try JSONResponse(value: listing).response(from: request, context: context)
                if consistency == .stale { response.headers[Self.staleHeader] = "true" }
                return response
            }
            let found = try await read(consistency) { store in (store.get(Self.storePrefix + key), store.revision) }
            guard let kv = found.0 else {
                throw StatusError(Status(message: "key \"\(key)\" not found", reason: "NotFound", code: 404))
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[HTTPField.Name("X-Revision")!] = "\(found.1)" // justified: a constant, valid field name
            headers[HTTPField.Name("X-Mod-Revision")!] = "\(kv.modRevision)" // justified: as above
            headers[HTTPField.Name("X-Create-Revision")!] = "\(kv.createRevision)" // justified: as above
            if consistency == .stale { headers[Self.staleHeader] = "true" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: kv.value)))
        }
    }

    private func propose(_ command: StoreCommand, key: String) async throws -> UInt64 {
        let result: StoreApplyResult
        do {
            result = try await consensus.propose(command)
        } catch {
            throw StatusError.unavailable(error)
        }
        switch result {
        case .applied(let revision):
            return revision
        case .conflict(_, let current):
            throw StatusError(Status(
                message: current == 0 ? "key \"\(key)\" does not exist" : "key \"\(key)\" was modified: its revision is \(current)",
                reason: "Conflict", code: 409))
        case .notFound:
            throw StatusError(Status(message: "key \"\(key)\" not found", reason: "NotFound", code: 404))
        case .invalid(let reason):
            throw StatusError(Status(message: reason, reason: "BadRequest", code: 400))
        }
    }

    private func read<T: Sendable>(_ consistency: ReadConsistency, _ body: (borrowing ClusterStore) -> T) async throws -> T {
        do {
            return try await consensus.read(consistency, body)
        } catch .timeout {
            // Unlike a write's, a read's timeout leaves nothing in doubt: the cluster is simply unavailable here.
            throw StatusError(Status(
                message: "could not confirm a linearizable read with the Raft leader in time; retry, or read with ?stale from this peer's replica",
                reason: "ServiceUnavailable", code: 503))
        } catch {
            throw StatusError.unavailable(error)
        }
    }

    /// Marks answers served from this peer's replica without asking the leader.
    static let staleHeader = HTTPField.Name("X-Stale")! // justified: a constant, valid field name

    static func consistency(_ request: Request) throws -> ReadConsistency {
        let parameters = request.uri.queryParameters
        switch parameters["consistency"].map(String.init) {
        case nil: return parameters["stale"] != nil ? .stale : .linearizable
        case "stale": return .stale
        case "linearizable": return .linearizable
        case let other?:
            throw StatusError(Status(message: "consistency must be \"linearizable\" or \"stale\", not \"\(other)\"", reason: "BadRequest", code: 400))
        }
    }

    static func key(_ context: BasicRequestContext, allowEmpty: Bool = false) throws -> String {
        let key = context.parameters.getCatchAll().joined(separator: "/")
        guard allowEmpty || !key.isEmpty else {
            throw StatusError(Status(message: "a key is required: /v1/kv/{key}", reason: "BadRequest", code: 400))
        }
        return key
    }

    static func casRevision(_ request: Request) throws -> UInt64? {
        guard let text = request.uri.queryParameters["cas"] else { return nil }
        guard let revision = UInt64(text) else {
            throw StatusError(Status(message: "cas must be a revision number (0: the key must not exist), not \"\(text)\"", reason: "BadRequest", code: 400))
        }
        return revision
    }
}

struct KVItem: Codable, Sendable {
    var key: String
    /// Base64, since values are arbitrary bytes.
    var value: String
    var createRevision: UInt64
    var modRevision: UInt64
    var version: UInt64

    init(_ kv: StoreKeyValue) {
        key = String(kv.key.dropFirst(KVAPI.storePrefix.count))
        value = Data(kv.value).base64EncodedString()
        createRevision = kv.createRevision
        modRevision = kv.modRevision
        version = kv.version
    }
}

struct KVListing: Codable, Sendable {
    var revision: UInt64
    var items: [KVItem]
    /// True when served from this peer's replica without asking the leader; absent otherwise.
    var stale: Bool?
}

/// Any Encodable as a JSON response, in one write.
struct JSONResponse<Value: Encodable & Sendable>: ResponseGenerator {
    var value: Value
    var status: HTTPResponse.Status = .ok

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONValue.encodeJSON(value, options: [.sortedKeys, .withoutEscapingSlashes])
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// An error the API answers with a Kubernetes `Status` object.
struct StatusError: Error, HTTPResponseError {
    let statusObject: Status

    init(_ status: Status) {
        self.statusObject = status
    }

    /// The cluster cannot answer right now: no leader, or no answer in time (a write's outcome is unknown).
    static func unavailable(_ error: any Error) -> StatusError {
        if let error = error as? ConsensusError, error == .timeout {
            return StatusError(Status(message: error.description, reason: "Timeout", code: 504))
        }
        return StatusError(Status(message: "\(error)", reason: "ServiceUnavailable", code: 503))
    }

    var status: HTTPResponse.Status { .init(code: Int(statusObject.code ?? 500)) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONResponse(value: statusObject, status: status).response(from: request, context: context)
    }
}

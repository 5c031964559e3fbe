#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel

/// One Kubernetes API request, independent of the HTTP server that received it.
public struct KubeRequest: Sendable {
    public var method: String
    /// The path without the query, e.g. `/api/v1/namespaces/default/pods`.
    public var path: String
    /// Query parameters, percent-decoded; the first value of a repeated name wins.
    public var query: [String: String]
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: [UInt8] = []) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        self.body = body
    }

    /// Splits `/a/b?x=1&y=%2F` into path and decoded query.
    public init(method: String, target: String, headers: [String: String] = [:], body: [UInt8] = []) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        self.init(method: method, path: String(parts.first ?? ""),
                  query: parts.count > 1 ? Self.parseQuery(String(parts[1])) : [:], headers: headers, body: body)
    }

    public static func parseQuery(_ raw: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in raw.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = String(s.replacing("+", with: " "))
                return Self.percentDecoded(spaced) ?? spaced
            }
            let key = decode(kv[0])
            if out[key] == nil { out[key] = kv.count > 1 ? decode(kv[1]) : "" }
        }
        return out
    }

    /// `%2F` → `/`; nil for a malformed escape or bytes that are not UTF-8 (as Foundation's `removingPercentEncoding`).
    static func percentDecoded(_ s: String) -> String? {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return s }
        var bytes: [UInt8] = []
        var rest = s.utf8[...]
        while let byte = rest.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            let digits = String(decoding: rest.prefix(2), as: UTF8.self)
            guard digits.count == 2, digits.allSatisfy(\.isHexDigit), let value = UInt8(digits, radix: 16) else { return nil }
            bytes.append(value)
            rest = rest.dropFirst(2)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// Go's `strconv.ParseBool` truthy spellings: clients send `true`, `1` and `True`.
    func flag(_ name: String) -> Bool {
        guard let v = query[name] else { return false }
        return ["1", "t", "T", "TRUE", "true", "True"].contains(v)
    }

    var isDryRun: Bool { query["dryRun"] == "All" }

    /// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`: kubectl's human-readable output.
    var wantsTable: Bool {
        guard let accept = header("accept") else { return false }
        return accept.split(separator: ",").contains { part in
            let params = part.split(separator: ";").map { $0.trimmed { $0.isWhitespace && !$0.isNewline } }
            return params.contains("as=Table")
        }
    }

    /// The media type without parameters, lower-cased.
    var contentType: String {
        let raw = header("content-type") ?? ""
        return (raw.split(separator: ";").first.map(String.init) ?? "").trimmed { $0.isWhitespace && !$0.isNewline }.lowercased()
    }
}

/// The answer to a `KubeRequest`: a finished body, or a stream (watch) written chunk by chunk.
public struct KubeResponse: Sendable {
    public typealias Emit = @Sendable ([UInt8]) async throws -> Void

    public enum Body: Sendable {
        case bytes([UInt8])
        /// Runs until the watch ends; each call of `emit` is one chunk.
        case stream(@Sendable (_ emit: Emit) async throws -> Void)
    }

    public var status: Int
    public var headers: [String: String]
    public var body: Body

    public init(status: Int, headers: [String: String] = [:], body: Body) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func json(_ value: JSONValue, status: Int = 200, contentType: String = "application/json", warnings: [String] = []) -> KubeResponse {
        var headers = ["Content-Type": contentType]
        if !warnings.isEmpty { headers["Warning"] = warnings.map { "299 - \(goQuoted($0))" }.joined(separator: ", ") }
        return KubeResponse(status: status, headers: headers, body: .bytes(Array(value.serialized().utf8)))
    }

    static func status(_ s: Status) -> KubeResponse {
        json(s.json, status: Int(s.code ?? 500))
    }

    /// The whole body, for finished responses (tests).
    public var bodyBytes: [UInt8] {
        if case .bytes(let b) = body { return b }
        return []
    }
}

/// A failure that becomes a `Status` response.
struct APIError: Error {
    var status: Status
    init(_ status: Status) { self.status = status }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest(message)) }
    static func methodNotAllowed(_ method: String) -> APIError {
        APIError(Status(message: "the server does not allow this method on the requested resource", reason: "MethodNotAllowed",
                        details: StatusDetails(), code: 405))
    }
    static func unsupportedMediaType(_ type: String, accepted: [String], detail: String? = nil) -> APIError {
        let suffix = detail.map { " (\(type): \($0))" } ?? ""
        return APIError(Status(message: "the body of the request was in an unknown format - accepted media types include: " + accepted.joined(separator: ", ") + suffix,
                        reason: "UnsupportedMediaType", details: StatusDetails(), code: 415))
    }
    static func tooLarge(limit: Int) -> APIError {
        APIError(Status(message: "Request entity too large: limit is \(limit)", reason: "RequestEntityTooLarge", code: 413))
    }
    static func unavailable(_ message: String) -> APIError {
        APIError(Status(message: message, reason: "ServiceUnavailable", code: 503))
    }
    static func internalError(_ message: String) -> APIError {
        APIError(Status(message: "Internal error occurred: \(message)", reason: "InternalError", code: 500))
    }
    static func unprocessable(_ message: String) -> APIError {
        APIError(Status(message: message, reason: "Invalid", code: 422))
    }
}

/// Go's `%q` for the messages kube-apiserver builds with it.
func goQuoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}

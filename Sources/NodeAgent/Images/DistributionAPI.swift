#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel

/// A read-only view of a store for serving: the index as it was when taken, and the blob directory.
public struct DistributionContent: Sendable {
    let layout: OCILayout
    let index: [OCIDescriptor]

    var repositories: [String] {
        Array(Set(index.compactMap { ImageStore.repository(of: $0) })).sorted()
    }

    func tags(of repository: String) -> [String] {
        index.compactMap { entry -> String? in
            guard let name = entry.annotations[OCIAnnotation.refName], name.hasPrefix(repository + ":") else { return nil }
            let tag = String(name.dropFirst(repository.count + 1))
            return tag.contains("/") ? nil : tag
        }.sorted()
    }
}

/// The OCI distribution API, read-only, over a store: what every peer serves under `/v2/` so other peers (and
/// skopeo) can pull what it holds. A function of the request and a store snapshot; the adapter does the HTTP.
public enum DistributionAPI {
    public struct Request: Sendable {
        public var method: String
        /// The request target: `/v2/<name>/manifests/<ref>`, possibly with a query.
        public var path: String
        public var headers: [(String, String)]

        public init(method: String, path: String, headers: [(String, String)] = []) {
            self.method = method
            self.path = path
            self.headers = headers
        }
    }

    public struct Response: Sendable {
        public enum Body: Sendable, Equatable {
            case bytes([UInt8])
            /// A blob file to stream (its bytes are the client's to verify against the digest).
            case file(path: String, size: Int64)
        }

        public var status: Int
        public var headers: [(String, String)]
        public var body: Body

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The body in memory (small bodies and tests).
        public func bodyBytes() -> [UInt8] {
            switch body {
            case .bytes(let bytes): return bytes
            case .file(let path, _): return (try? ImageFiles.readFile(path, limit: Int.max)) ?? []
            }
        }
    }

    public static func respond(to request: Request, content: DistributionContent) -> Response {
        let method = request.method.uppercased()
        let head = method == "HEAD"
        guard method == "GET" || head else {
            return error(405, "UNSUPPORTED", "this peer serves images read-only", head: false)
        }
        let path = String(request.path.prefix { $0 != "?" })
        guard path.hasPrefix("/v2/") || path == "/v2" else { return error(404, "NOT_FOUND", "not a distribution API path", head: head) }
        let rest = String(path.dropFirst(path == "/v2" ? 3 : 4))
        if rest.isEmpty { return json(.object(JSONObject()), head: head) }
        if rest == "_catalog" {
            return json(["repositories": .array(content.repositories.map { .string($0) })], head: head)
        }
        if rest.hasSuffix("/tags/list") {
            let name = String(rest.dropLast("/tags/list".count))
            let tags = content.tags(of: name)
            guard ImageReference.isValidRepository(name), !tags.isEmpty else {
                return error(404, "NAME_UNKNOWN", "repository name not known to registry", head: head)
            }
            return json(["name": .string(name), "tags": .array(tags.map { .string($0) })], head: head)
        }
        for kind in ["/manifests/", "/blobs/"] {
            guard let range = rest.ranges(of: kind).last else { continue }
            let name = String(rest[..<range.lowerBound])
            let reference = String(rest[range.upperBound...])
            guard ImageReference.isValidRepository(name) else {
                return error(400, "NAME_INVALID", "invalid repository name", head: head)
            }
            guard content.repositories.contains(name) else {
                return error(404, "NAME_UNKNOWN", "repository name not known to registry", head: head)
            }
            return kind == "/manifests/"
                ? manifest(name: name, reference: reference, content: content, head: head)
                : blob(reference: reference, content: content, head: head)
        }
        return error(404, "NOT_FOUND", "not a distribution API path", head: head)
    }

    private static func manifest(name: String, reference: String, content: DistributionContent, head: Bool) -> Response {
        let entry: OCIDescriptor?
        if let digest = Digest(reference) {
            entry = content.index.first { $0.digest == digest }
                ?? (content.layout.hasBlob(digest) ? OCIDescriptor(mediaType: "", digest: digest, size: 0) : nil)
        } else {
            guard ImageReference.isValidTag(reference) else { return error(400, "TAG_INVALID", "invalid tag", head: head) }
            entry = content.index.first { $0.annotations[OCIAnnotation.refName] == "\(name):\(reference)" }
        }
        // Only bytes that still match their digest leave this peer.
        guard let entry, let bytes = try? content.layout.readBlob(entry.digest, limit: OCILayout.manifestLimit),
            Digest.of(bytes) == entry.digest
        else { return error(404, "MANIFEST_UNKNOWN", "manifest unknown", head: head) }
        let mediaType = (try? JSONValue.parse(bytes))?["mediaType"]?.stringValue ?? OCIMediaType.ociManifest
        return Response(status: 200, headers: [
            ("Content-Type", mediaType), ("Docker-Content-Digest", entry.digest.description),
            ("Content-Length", "\(bytes.count)"), ("Docker-Distribution-API-Version", "registry/2.0"),
        ], body: .bytes(head ? [] : bytes))
    }

    private static func blob(reference: String, content: DistributionContent, head: Bool) -> Response {
        guard let digest = Digest(reference) else { return error(400, "DIGEST_INVALID", "invalid digest", head: head) }
        let path = content.layout.blobPath(digest)
        guard let stamp = ImageFiles.stamp(path) else { return error(404, "BLOB_UNKNOWN", "blob unknown to registry", head: head) }
        return Response(status: 200, headers: [
            ("Content-Type", "application/octet-stream"), ("Docker-Content-Digest", digest.description),
            ("Content-Length", "\(stamp.size)"), ("Docker-Distribution-API-Version", "registry/2.0"),
        ], body: head ? .bytes([]) : .file(path: path, size: stamp.size))
    }

    private static func json(_ value: JSONValue, head: Bool) -> Response {
        let bytes = Array(value.serialized().utf8)
        return Response(status: 200, headers: [
            ("Content-Type", "application/json"), ("Content-Length", "\(bytes.count)"),
            ("Docker-Distribution-API-Version", "registry/2.0"),
        ], body: .bytes(head ? [] : bytes))
    }

    private static func error(_ status: Int, _ code: String, _ message: String, head: Bool) -> Response {
        let value: JSONValue = ["errors": [["code": .string(code), "message": .string(message)]]]
        let bytes = Array(value.serialized().utf8)
        return Response(status: status, headers: [
            ("Content-Type", "application/json"), ("Content-Length", "\(bytes.count)"),
            ("Docker-Distribution-API-Version", "registry/2.0"),
        ], body: .bytes(head ? [] : bytes))
    }
}

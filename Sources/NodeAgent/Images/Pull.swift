import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ResourceModel
import Sodium

#if canImport(Glibc)
import Glibc
#endif

/// Where images can be fetched from: an OCI distribution registry, or another peer serving its store under
/// the same API. Both are tried the same way, in the order given.
public struct PullSource: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case registry, peer
    }

    public var kind: Kind
    /// `http://host:port`, without a path.
    public var baseURL: String

    public init(kind: Kind, baseURL: String) {
        self.kind = kind
        self.baseURL = baseURL.imageTrimmingSuffix("/")
    }

    public var description: String { "\(kind.rawValue) \(baseURL)" }

    /// `host:port` of the base URL.
    var authority: String {
        String(baseURL.drop { $0 != "/" }.drop { $0 == "/" })
    }

    /// The registry a reference names (`127.0.0.1:5000/demo/web:1`): as configured if a source has that host,
    /// else HTTPS, or plain HTTP on loopback (digests and signatures protect the content either way).
    static func registry(named host: String, configured: [PullSource]) -> PullSource {
        if let known = configured.first(where: { $0.authority == host }) { return known }
        let name = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }.dropFirst()) : String(host.prefix { $0 != ":" })
        let loopback = name == "localhost" || name.hasPrefix("127.") || name == "::1"
        return PullSource(kind: .registry, baseURL: (loopback ? "http://" : "https://") + host)
    }
}

/// An answer from a distribution endpoint.
public struct DistributionReply: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// How pulls reach a source: HTTP normally; an in-process call in tests, or a TLS client the daemon supplies.
public protocol DistributionTransport: Sendable {
    /// A small answer (manifests, errors), whole.
    func get(_ url: String, headers: [(String, String)]) async throws -> DistributionReply
    /// A blob, written to `path` (a new file) as it arrives; returns the status and the sha256 and size of what
    /// was written (nothing is written unless the status is 200).
    func download(_ url: String, to path: String) async throws -> (status: Int, digest: Digest, size: Int64)
}

extension DistributionTransport {
    /// For transports that hold bodies in memory anyway.
    public func download(_ url: String, to path: String) async throws -> (status: Int, digest: Digest, size: Int64) {
        let reply = try await get(url, headers: [])
        guard reply.status == 200 else { return (reply.status, Digest.of([]), 0) }
        try ImageFiles.writeAtomically(path, reply.body)
        return (200, Digest.of(reply.body), Int64(reply.body.count))
    }
}

/// Plain HTTP through the node agent's HTTPClient, with room for image-sized bodies.
public struct HTTPDistributionTransport: DistributionTransport {
    var client: HTTPClient

    /// `client` carries TLS trust and the bearer token for `https://` peers; its timeout bounds each blob.
    public init(client: HTTPClient = HTTPClient(), timeout: Duration = .seconds(300)) {
        self.client = client
        self.client.timeout = timeout
    }

    public func get(_ url: String, headers: [(String, String)]) async throws -> DistributionReply {
        var small = client
        small.maximumBodyBytes = OCILayout.manifestLimit
        let response = try await small.request("GET", url, headers: headers)
        return DistributionReply(status: response.status, headers: response.headers, body: response.body)
    }

    /// Streams the body to disk while hashing it, so a layer never sits whole in memory.
    public func download(_ url: String, to path: String) async throws -> (status: Int, digest: Digest, size: Int64) {
        guard let target = HTTPClient.Target(url) else { throw HTTPClient.ClientError(description: "'\(url)' is not an http:// or https:// URL") }
        let group = client.group
        let tls = target.secure ? try client.tlsContext() : nil
        let serverName = ClientRequestTarget.isIPAddress(target.host) ? nil : target.host
        let token = client.bearerToken
        return try await withDeadline(client.timeout, what: "GET \(url)") {
            let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
            do {
                channel = try await ClientBootstrap(group: group)
                    .connect(host: target.host, port: target.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let tls {
                                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                            }
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                        }
                    }
            } catch {
                throw HTTPClient.ClientError(description: "cannot reach \(target.host):\(target.port): \(error)")
            }
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path)
                head.headers.add(name: "Host", value: "\(target.host):\(target.port)")
                head.headers.add(name: "Connection", value: "close")
                if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
                try await outbound.write(contentsOf: HTTPClient.requestParts(head, body: nil))
                var status = 0
                var fd: Int32 = -1
                var completed = false
                defer {
                    if fd >= 0 { close(fd) }
                    if !completed { unlink(path) }
                }
                let hasher = SHA256Stream()
                var size: Int64 = 0
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead):
                        status = Int(responseHead.status.code)
                        if status == 200 {
                            fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                            guard fd >= 0 else { throw ImageFiles.Failure(description: "cannot create \(path): \(ImageFiles.errnoText())") }
                        }
                    case .body(let chunk):
                        guard fd >= 0 else { continue }
                        try chunk.withUnsafeReadableBytes { piece in
                            hasher.update(piece)
                            guard ImageFiles.writeAll(fd, piece) else {
                                throw ImageFiles.Failure(description: "cannot write \(path): \(ImageFiles.errnoText())")
                            }
                        }
                        size += Int64(chunk.readableBytes)
                    case .end:
                        if fd >= 0 {
                            guard fsync(fd) == 0 else { throw ImageFiles.Failure(description: "cannot sync \(path)") }
                            completed = true
                        }
                        return (status, hasher.finalize(), size)
                    }
                }
                throw HTTPClient.ClientError(description: "\(target.host):\(target.port) closed the connection before answering")
            }
        }
    }
}

extension ImageStore {
    /// Fetches `reference` from the first source that has it (the registry the reference names, then
    /// `sources`, else the store's configured sources), with its signatures, and records it.
    @discardableResult
    public func pull(_ text: String, sources explicit: [PullSource]? = nil) async throws(ImageStoreError) -> Digest {
        try await pull(try parse(text), sources: explicit)
    }

    /// Pods asking for the same image at once share one pull.
    func pull(_ reference: ImageReference, sources explicit: [PullSource]? = nil) async throws(ImageStoreError) -> Digest {
        let key = reference.description + " " + (explicit ?? []).map(\.description).joined(separator: ",")
        let task: Task<Digest, any Error>
        if let running = inflightPulls[key] {
            task = running
        } else {
            task = Task { try await self.pullOnce(reference, sources: explicit) }
            inflightPulls[key] = task
        }
        defer { if inflightPulls[key] == task { inflightPulls[key] = nil } }
        do {
            return try await task.value
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.pull, "cannot pull \(reference): \(error)")
        }
    }

    /// The registry the reference names first, then the configured sources.
    func orderedSources(for reference: ImageReference, explicit: [PullSource]?) -> [PullSource] {
        let configured = explicit ?? currentSources()
        var ordered: [PullSource] = []
        if let registry = reference.registry { ordered.append(PullSource.registry(named: registry, configured: configured)) }
        for source in configured where !ordered.contains(source) { ordered.append(source) }
        return ordered
    }

    private func pullOnce(_ reference: ImageReference, sources explicit: [PullSource]?) async throws(ImageStoreError) -> Digest {
        let ordered = orderedSources(for: reference, explicit: explicit)
        guard !ordered.isEmpty else {
            throw ImageStoreError(.pull, "image \(reference) is not on this node and no registry or peer is configured to pull it from")
        }
        var failures: [String] = []
        var tampered: ImageStoreError?
        for (position, source) in ordered.enumerated() {
            do {
                let digest = try await pull(reference, from: source)
                let others = ordered.enumerated().filter { $0.offset != position }.map(\.element)
                await fetchSignatures(repository: reference.repository, digest: digest, from: [source] + others)
                try record(storedDescriptor(digest), repository: reference.repository,
                           tag: reference.digest == nil ? reference.tag : nil)
                logger.info("pulled image", metadata: ["image": "\(reference)", "digest": "\(digest)", "source": "\(source)"])
                return digest
            } catch {
                // A source serving altered bytes is reported, but the next one may be honest: nothing it sent was kept.
                if error.kind == .tampered { tampered = error }
                failures.append("\(source): \(error.message)")
            }
        }
        if let tampered { throw tampered }
        throw ImageStoreError(.pull, "cannot pull \(reference): " + failures.joined(separator: "; "))
    }

    private func fetch(_ url: String, accept: String? = nil) async throws(ImageStoreError) -> DistributionReply? {
        do {
            let reply = try await transport.get(url, headers: accept.map { [("Accept", $0)] } ?? [])
            if reply.status == 404 { return nil }
            guard reply.status == 200 else {
                throw ImageStoreError(.pull, "GET \(url) answered \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))")
            }
            return reply
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.pull, "\(error)")
        }
    }

    /// A manifest by tag or digest: stored only if it hashes to the digest asked for (or the one the source claims).
    private func fetchManifest(repository: String, reference: String, from source: PullSource) async throws(ImageStoreError) -> (Digest, ManifestDocument)? {
        let url = "\(source.baseURL)/v2/\(repository)/manifests/\(reference)"
        guard let reply = try await fetch(url, accept: OCIMediaType.manifestAccept) else { return nil }
        let digest = Digest.of(reply.body)
        if let asked = Digest(reference), asked != digest {
            throw ImageStoreError(.tampered, "\(source) served manifest \(asked) with content hashing to \(digest)")
        }
        if let claimed = reply.header("Docker-Content-Digest").flatMap({ Digest($0) }), claimed != digest {
            throw ImageStoreError(.tampered, "\(source) served manifest \(claimed) with content hashing to \(digest)")
        }
        let document: ManifestDocument
        do {
            document = try ManifestDocument.parse(reply.body)
        } catch {
            throw ImageStoreError(.invalidImage, "\(source): manifest \(digest): \(error)")
        }
        do {
            try layout.putBlob(reply.body, expected: digest)
        } catch {
            throw ImageStoreError(.io, "cannot store manifest \(digest): \(error)")
        }
        return (digest, document)
    }

    /// A blob, streamed into a temporary file and renamed into place only if it hashes to its digest.
    private func fetchBlob(repository: String, _ descriptor: OCIDescriptor, from source: PullSource) async throws(ImageStoreError) {
        if layout.hasBlob(descriptor.digest) { return }
        let url = "\(source.baseURL)/v2/\(repository)/blobs/\(descriptor.digest)"
        let temporary = layout.temporaryDirectory + "/" + ImageFiles.randomName()
        defer { unlink(temporary) }
        let result: (status: Int, digest: Digest, size: Int64)
        do {
            result = try await transport.download(url, to: temporary)
        } catch {
            throw ImageStoreError(.pull, "GET \(url): \(error)")
        }
        if result.status == 404 { throw ImageStoreError(.pull, "\(source) does not have blob \(descriptor.digest)") }
        guard result.status == 200 else { throw ImageStoreError(.pull, "GET \(url) answered \(result.status)") }
        guard result.digest == descriptor.digest else {
            throw ImageStoreError(.tampered, "\(source) served blob \(descriptor.digest) with content hashing to \(result.digest)")
        }
        guard rename(temporary, layout.blobPath(descriptor.digest)) == 0 else {
            throw ImageStoreError(.io, "cannot store blob \(descriptor.digest): \(ImageFiles.errnoText())")
        }
    }

    private func pull(_ reference: ImageReference, from source: PullSource) async throws(ImageStoreError) -> Digest {
        let repository = reference.repository
        guard let (top, document) = try await fetchManifest(repository: repository,
                                                             reference: reference.digest?.description ?? reference.tag ?? "latest", from: source)
        else { throw ImageStoreError(.pull, "not found") }
        var manifest: ImageManifest
        switch document {
        case .manifest(let found):
            manifest = found
        case .index(let entries):
            guard let chosen = OCIPlatform.choose(from: entries) else {
                throw ImageStoreError(.invalidImage, "index \(top) has no manifest for linux/\(OCIPlatform.architecture)")
            }
            guard let (_, child) = try await fetchManifest(repository: repository, reference: chosen.digest.description, from: source),
                case .manifest(let found) = child
            else { throw ImageStoreError(.pull, "\(source) lacks manifest \(chosen.digest) its index names") }
            manifest = found
        }
        for blob in [manifest.config] + manifest.layers {
            try await fetchBlob(repository: repository, blob, from: source)
        }
        return top
    }

    /// Merges the signatures the first source that has any holds for `repository@digest` into the local ones.
    /// A missing signature shows up later as a provenance refusal, with the policy's words; a source that could
    /// not be asked is remembered in `signatureFetchFailures`, so the refusal can say so.
    func fetchSignatures(repository: String, digest: Digest, from sources: [PullSource]) async {
        var records = signatureRecords(repository: repository, digest: digest)
        let before = records.count
        var failures: [String] = []
        for source in sources {
            let fetched: (Digest, ManifestDocument)?
            do {
                fetched = try await fetchManifest(repository: repository, reference: digest.signatureTag, from: source)
            } catch {
                failures.append("\(source): \(error.message)")
                continue
            }
            guard let fetched, case .manifest(let manifest) = fetched.1 else { continue }
            failures = []
            for layer in manifest.layers where layer.mediaType == OCIMediaType.simpleSigning && layer.size <= 64 << 10 {
                guard let encoded = layer.annotations[OCIAnnotation.cosignSignature], let signature = try? Sodium.base64Decode(encoded),
                    (try? await fetchBlob(repository: repository, layer, from: source)) != nil,
                    let payload = try? readVerified(layer.digest, what: "signature payload", limit: 64 << 10)
                else { continue }
                let record = SignatureRecord(payload: payload, signature: signature, publicKeyHint: layer.annotations[OCIAnnotation.publicKey])
                if !records.contains(record) { records.append(record) }
            }
            break
        }
        signatureFetchFailures[digest] = failures.isEmpty ? nil : failures.joined(separator: "; ")
        if !failures.isEmpty {
            logger.warning("cannot fetch image signatures", metadata: ["image": "\(repository)@\(digest)", "why": "\(failures.joined(separator: "; "))"])
        }
        if records.count != before {
            do {
                try writeSignatures(records, repository: repository, digest: digest)
            } catch {
                logger.warning("cannot store pulled signatures", metadata: ["image": "\(repository)@\(digest)", "why": "\(error.message)"])
            }
        }
    }

    private func currentSources() -> [PullSource] { sources() }

    /// An index entry for a stored manifest: its media type and size as stored.
    func storedDescriptor(_ digest: Digest) -> OCIDescriptor {
        let bytes = (try? layout.readBlob(digest, limit: OCILayout.manifestLimit)) ?? []
        let mediaType = (try? JSONValue.parse(bytes))?["mediaType"]?.stringValue ?? OCIMediaType.ociManifest
        return OCIDescriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }
}

import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
@testable import NodeAgent
import Sodium
import Synchronization
import Testing

/// Peers reached by function call: each base URL maps to a store's DistributionAPI.
struct InProcessPeers: DistributionTransport {
    var peers: [String: ImageStore]
    /// Lets a test play a peer that alters what it serves.
    var alter: @Sendable (String, [UInt8]) -> [UInt8] = { _, body in body }

    func get(_ url: String, headers: [(String, String)]) async throws -> DistributionReply {
        guard let base = peers.keys.first(where: { url.hasPrefix($0 + "/") }), let store = peers[base] else {
            throw ImageFixtureError("no peer at \(url)")
        }
        let response = DistributionAPI.respond(to: DistributionAPI.Request(method: "GET", path: String(url.dropFirst(base.count)), headers: headers),
                                               content: await store.distributionContent())
        return DistributionReply(status: response.status, headers: response.headers, body: alter(url, response.bodyBytes()))
    }
}

/// Another transport whose requests to some URLs fail as a dropped connection does.
struct FailingTransport: DistributionTransport {
    var inner: any DistributionTransport
    var fails: @Sendable (String) -> Bool

    func get(_ url: String, headers: [(String, String)]) async throws -> DistributionReply {
        if fails(url) { throw ImageFixtureError("connection reset by peer") }
        return try await inner.get(url, headers: headers)
    }
}

/// The distribution API behind a tiny NIO HTTP/1.1 server on 127.0.0.1, as a peer would serve it.
final class DistributionServer: Sendable {
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    let port: Int
    let task: Task<Void, Never>

    init(store: ImageStore) async throws {
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
                }
            }
        port = channel.channel.localAddress?.port ?? 0
        let server = channel
        task = Task {
            try? await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        group.addTask { try? await DistributionServer.serve(connection, store: store) }
                    }
                }
            }
        }
    }

    static func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, store: ImageStore) async throws {
        try await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let requestHead): head = requestHead
                case .body: continue
                case .end:
                    guard let head else { return }
                    let response = DistributionAPI.respond(
                        to: DistributionAPI.Request(method: head.method.rawValue, path: head.uri, headers: head.headers.map { ($0.name, $0.value) }),
                        content: await store.distributionContent())
                    var headers = HTTPHeaders(response.headers)
                    headers.replaceOrAdd(name: "Connection", value: "close")
                    try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: response.status), headers: headers)))
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: response.bodyBytes()))))
                    try await outbound.write(.end(nil))
                    return
                }
            }
        }
    }

    func stop() async {
        try? await channel.channel.close()
        task.cancel()
        _ = await task.value
    }
}

/// Debian's docker-registry on a free loopback port, with its own config and storage in `directory`.
final class LocalRegistry: Sendable {
    let process: Process
    let port: Int

    init(directory: String) async throws {
        port = try LocalRegistry.freePort()
        let config = """
            version: 0.1
            log: {level: error}
            storage:
              filesystem: {rootdirectory: \(directory)/data}
              delete: {enabled: true}
            http: {addr: 127.0.0.1:\(port)}
            """
        try writeImageBytes("\(directory)/config.yml", Array(config.utf8))
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
        process.arguments = ["serve", "\(directory)/config.yml"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let client = HTTPClient()
        for _ in 0..<100 {
            if (try? await client.request("GET", "http://127.0.0.1:\(port)/v2/"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        stop()
        throw ImageFixtureError("docker-registry did not answer on port \(port)")
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ImageFixtureError("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

@Suite struct ImagePullTests {
    @Test func distributionAPIServesWhatTheStoreHolds() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let store = try makeImageStore(scratch.path)
        _ = try await store.importArchive(path: image.archive)
        try await store.sign(reference: "demo/web:1", key: try ImageFixture.key(1))
        let content = await store.distributionContent()
        func get(_ path: String, _ method: String = "GET") -> DistributionAPI.Response {
            DistributionAPI.respond(to: DistributionAPI.Request(method: method, path: path), content: content)
        }
        #expect(get("/v2/").status == 200)
        #expect(get("/v2/").bodyBytes() == Array("{}".utf8))

        let manifest = get("/v2/demo/web/manifests/1")
        #expect(manifest.status == 200)
        #expect(Digest.of(manifest.bodyBytes()) == image.manifestDigest)
        #expect(manifest.header("Docker-Content-Digest") == image.manifestDigest.description)
        #expect(manifest.header("Content-Type") == "application/vnd.oci.image.manifest.v1+json")
        #expect(get("/v2/demo/web/manifests/\(image.manifestDigest)").bodyBytes() == manifest.bodyBytes())
        let head = get("/v2/demo/web/manifests/1", "HEAD")
        #expect(head.status == 200 && head.bodyBytes().isEmpty && head.header("Content-Length") == "\(manifest.bodyBytes().count)")

        let layer = get("/v2/demo/web/blobs/\(image.layerDigests[0])")
        #expect(layer.status == 200)
        #expect(Digest.of(layer.bodyBytes()) == image.layerDigests[0])
        #expect(get("/v2/demo/web/blobs/\(image.layerDigests[0])", "HEAD").header("Content-Length") == "\(layer.bodyBytes().count)")

        let tags = get("/v2/demo/web/tags/list")
        #expect(String(decoding: tags.bodyBytes(), as: UTF8.self) == #"{"name":"demo/web","tags":["1","\#(image.manifestDigest.signatureTag)"]}"#)
        #expect(get("/v2/demo/web/manifests/\(image.manifestDigest.signatureTag)").status == 200)
        #expect(String(decoding: get("/v2/_catalog").bodyBytes(), as: UTF8.self) == #"{"repositories":["demo/web"]}"#)

        #expect(get("/v2/demo/web/manifests/2").status == 404)
        #expect(String(decoding: get("/v2/demo/web/manifests/2").bodyBytes(), as: UTF8.self).contains("MANIFEST_UNKNOWN"))
        #expect(get("/v2/demo/other/manifests/1").status == 404)
        #expect(get("/v2/demo/web/blobs/sha256:\(String(repeating: "0", count: 64))").status == 404)
        #expect(get("/v2/demo/web/blobs/md5:abc").status == 400)
        #expect(get("/v2/Demo/web/manifests/1").status == 400)
        #expect(get("/v2/demo/web/manifests/1", "PUT").status == 405)
        #expect(get("/v2/demo/web/blobs/uploads/", "POST").status == 405)
        #expect(get("/other").status == 404)
    }

    @Test func peersShareImagesAndSignatures() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(1)
        let policy = ImageFixture.policy(trusting: [key])
        let origin = try makeImageStore(scratch.path, "a", policy: policy)
        _ = try await origin.importArchive(path: image.archive)
        try await origin.sign(reference: "demo/web:1", key: key)

        // b pulls from a; c pulls from b (an edge site that never saw a registry).
        let b = try makeImageStore(scratch.path, "b", policy: policy, sources: [PullSource(kind: .peer, baseURL: "http://peer-a")],
                                   transport: InProcessPeers(peers: ["http://peer-a": origin]))
        let fromA = await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? fromA.get())?.manifestDigest == image.manifestDigest.description)
        let c = try makeImageStore(scratch.path, "c", policy: policy,
                                   sources: [PullSource(kind: .peer, baseURL: "http://peer-x"), PullSource(kind: .peer, baseURL: "http://peer-b")],
                                   transport: InProcessPeers(peers: ["http://peer-x": try makeImageStore(scratch.path, "x"), "http://peer-b": b]))
        let fromB = await c.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? fromB.get())?.manifestDigest == image.manifestDigest.description)
        #expect(await c.images().first?.signatures == 1)
        // By digest too.
        let byDigest = await c.ensureImage(reference: "demo/web@\(image.manifestDigest)", namespace: "default", pullPolicy: "Always")
        #expect((try? byDigest.get()) != nil)
    }

    /// A signature that could not be fetched with the image (or was pushed after it) is looked for again on the
    /// next try, even with IfNotPresent: the image is already here, but its refusal must not be permanent.
    @Test func aSignatureMissedAtPullIsFetchedOnTheNextTry() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(1)
        let policy = ImageFixture.policy(trusting: [key])
        let origin = try makeImageStore(scratch.path, "a", policy: TrustPolicy(defaultMode: .warn))
        _ = try await origin.importArchive(path: image.archive)
        let signaturesFail = Mutex(true)
        let peers = InProcessPeers(peers: ["http://peer-a": origin])
        let b = try makeImageStore(scratch.path, "b", policy: policy, sources: [PullSource(kind: .peer, baseURL: "http://peer-a")],
                                   transport: FailingTransport(inner: peers) { url in
                                       url.hasSuffix(".sig") && signaturesFail.withLock { $0 }
                                   })

        // The signature fetch fails: refused, and the refusal says why there was nothing to check.
        let first = await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(first.imageRefusal?.reason == .signature)
        #expect(first.imageRefusal?.message.contains("is not signed (fetching its signatures failed: ") == true, "\(String(describing: first.imageRefusal))")
        #expect(first.imageRefusal?.message.contains("connection reset by peer") == true)

        // Reachable again, but the origin has no signature yet: a plain refusal, no stale failure in it.
        signaturesFail.withLock { $0 = false }
        let second = await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(second.imageRefusal?.message == "image demo/web@\(image.manifestDigest) is not signed")

        // A peer's API holding the image unsigned refuses pods using it at admission, until it has a signature.
        let api = try makeImageStore(scratch.path, "api", policy: policy, sources: [PullSource(kind: .peer, baseURL: "http://peer-a")],
                                     transport: peers)
        #expect(await api.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent").imageRefusal?.reason == .signature)

        // Signed at the origin after b pulled: the next try of the node finds the signature and runs the image.
        try await origin.sign(reference: "demo/web:1", key: key)
        let third = await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? third.get())?.manifestDigest == image.manifestDigest.description, "\(String(describing: third.imageRefusal))")
        #expect(await b.images().first?.signatures == 1)

        // Admission refuses at once but asks the sources in the background (never on the request's path), so a
        // later admission passes.
        #expect(await api.admissionCheck(reference: "demo/web:1", namespace: "default")?.reason == .signature)
        var admitted = false
        for _ in 0..<200 where !admitted {
            admitted = await api.admissionCheck(reference: "demo/web:1", namespace: "default") == nil
            if !admitted { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(admitted)

        // Never means no network at all: a store holding the image with no signature does not ask again.
        let signatureRequests = Mutex(0)
        let c = try makeImageStore(scratch.path, "c", policy: policy, sources: [PullSource(kind: .peer, baseURL: "http://peer-a")],
                                   transport: FailingTransport(inner: peers) { url in
                                       if url.hasSuffix(".sig") { signatureRequests.withLock { $0 += 1 } }
                                       return url.hasSuffix(".sig")
                                   })
        #expect(await c.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent").imageRefusal?.reason == .signature)
        #expect(signatureRequests.withLock { $0 } == 1)
        let never = await c.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "Never")
        #expect(never.imageRefusal?.reason == .signature)
        #expect(signatureRequests.withLock { $0 } == 1)
        _ = await c.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(signatureRequests.withLock { $0 } == 2)
    }

    @Test func podsAskingAtOnceShareOnePull() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(1)
        let origin = try makeImageStore(scratch.path, "a")
        _ = try await origin.importArchive(path: image.archive)
        try await origin.sign(reference: "demo/web:1", key: key)
        let requests = Mutex<[String]>([])
        let counting = InProcessPeers(peers: ["http://peer-a": origin]) { url, body in
            requests.withLock { $0.append(url) }
            return body
        }
        let b = try makeImageStore(scratch.path, "b", policy: ImageFixture.policy(trusting: [key]),
                                   sources: [PullSource(kind: .peer, baseURL: "http://peer-a")], transport: counting)
        let results = await withTaskGroup(of: Result<ResolvedImage, ImageRefusal>.self) { group in
            for _ in 0..<4 {
                group.addTask { await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent") }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.allSatisfy { (try? $0.get())?.layerDirectories.count == 1 })
        let layerFetches = requests.withLock { $0 }.filter { $0.hasSuffix(image.layerDigests[0].description) }
        #expect(layerFetches.count == 1)
    }

    @Test func aPeerServingAlteredBytesIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(1)
        let origin = try makeImageStore(scratch.path, "a")
        _ = try await origin.importArchive(path: image.archive)
        try await origin.sign(reference: "demo/web:1", key: key)
        let layer = image.layerDigests[0]
        let liar = InProcessPeers(peers: ["http://peer-a": origin]) { url, body in
            url.hasSuffix(layer.description) ? body.reversed() : body
        }
        let b = try makeImageStore(scratch.path, "b", policy: ImageFixture.policy(trusting: [key]),
                                   sources: [PullSource(kind: .peer, baseURL: "http://peer-a")], transport: liar)
        let result = await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .tampered)
        #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/b/images/blobs/sha256/\(layer.hex)"))
        #expect(await b.images().isEmpty)

        // With an honest peer behind the liar, the pull goes on to it.
        let mixed = InProcessPeers(peers: ["http://peer-liar": origin, "http://peer-a": origin]) { url, body in
            url.hasPrefix("http://peer-liar/") && url.hasSuffix(layer.description) ? body.reversed() : body
        }
        let c = try makeImageStore(scratch.path, "c", policy: ImageFixture.policy(trusting: [key]),
                                   sources: [PullSource(kind: .peer, baseURL: "http://peer-liar"), PullSource(kind: .peer, baseURL: "http://peer-a")],
                                   transport: mixed)
        let recovered = await c.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? recovered.get())?.manifestDigest == image.manifestDigest.description)
    }

    @Test func pullsFromAPeerOverHTTP() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(1)
        let origin = try makeImageStore(scratch.path, "a")
        _ = try await origin.importArchive(path: image.archive)
        try await origin.sign(reference: "demo/web:1", key: key)
        let server = try await DistributionServer(store: origin)
        let b = try makeImageStore(scratch.path, "b", policy: ImageFixture.policy(trusting: [key]),
                                   sources: [PullSource(kind: .peer, baseURL: "http://127.0.0.1:\(server.port)")])
        let result = await b.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        await server.stop()
        #expect((try? result.get())?.manifestDigest == image.manifestDigest.description)
    }

    @Test func pullsImageAndSignatureFromARegistry() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(1)
        let origin = try makeImageStore(scratch.path, "a")
        _ = try await origin.importArchive(path: image.archive)
        try await origin.sign(reference: "demo/web:1", key: key)

        try FileManager.default.createDirectory(atPath: "\(scratch.path)/registry", withIntermediateDirectories: true)
        let registry = try await LocalRegistry(directory: "\(scratch.path)/registry")
        defer { registry.stop() }
        let host = "127.0.0.1:\(registry.port)"
        // The store's directory is an OCI layout skopeo pushes from, signature tag included.
        for tag in ["1", image.manifestDigest.signatureTag] {
            try await imageShell("skopeo copy --dest-tls-verify=false 'oci:\(scratch.path)/a/images:demo/web:\(tag)' 'docker://\(host)/demo/web:\(tag)' 2>&1")
        }
        let b = try makeImageStore(scratch.path, "b", policy: ImageFixture.policy(trusting: [key]))
        let result = await b.ensureImage(reference: "\(host)/demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? result.get())?.manifestDigest == image.manifestDigest.description, "\(String(describing: result.imageRefusal))")
        #expect(await b.images().first?.signatures == 1)

        // Without the signature in the registry, the pulled image is refused as unsigned.
        let unsigned = try await ImageFixture.busybox(in: scratch.path, name: "unsigned", refName: "demo/plain:1", page: "plain")
        try await imageShell("skopeo copy --dest-tls-verify=false 'oci:\(unsigned.layout):demo/plain:1' 'docker://\(host)/demo/plain:1' 2>&1")
        let c = try makeImageStore(scratch.path, "c", policy: ImageFixture.policy(trusting: [key]),
                                   sources: [PullSource(kind: .registry, baseURL: "http://\(host)")])
        let refused = await c.ensureImage(reference: "demo/plain:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(refused.imageRefusal?.reason == .signature, "\(String(describing: refused.imageRefusal))")
        let missing = await c.ensureImage(reference: "demo/absent:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(missing.imageRefusal?.reason == .pull)

        // Docker schema 2 media types (what many registries hold) unpack the same way.
        try await imageShell("skopeo copy --format v2s2 --dest-tls-verify=false 'oci:\(unsigned.layout):demo/plain:1' 'docker://\(host)/demo/docker:1' 2>&1")
        let d = try makeImageStore(scratch.path, "d", policy: TrustPolicy(defaultMode: .warn))
        let docker = try await d.resolve(reference: "\(host)/demo/docker:1", namespace: "default")
        #expect(docker.layerDirectories.count == 1)
        #expect(FileManager.default.fileExists(atPath: docker.layerDirectories[0] + "/www/index.html"))
        let dockerManifest = try readImageBytes("\(scratch.path)/d/images/blobs/sha256/\(Digest(docker.manifestDigest)!.hex)")  // justified: the store returns sha256 digests
        #expect(String(decoding: dockerManifest, as: UTF8.self).contains("application/vnd.docker.distribution.manifest.v2+json"))
    }
}

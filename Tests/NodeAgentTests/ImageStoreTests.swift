import Foundation
@testable import NodeAgent
import Sodium
import Testing

@Suite struct ImageStoreTests {
    @Test func importSignAndResolveUnpacksVerifiedLayers() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let key = try ImageFixture.key(7)
        let store = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: [key]))

        let imported = try await store.importArchive(path: image.archive)
        #expect(imported == [ImportedImage(reference: "demo/web:1", digest: image.manifestDigest)])
        #expect(try await store.sign(reference: "demo/web:1", key: key) == image.manifestDigest)

        let resolved = try await store.resolve(reference: "demo/web:1", namespace: "default")
        #expect(resolved.manifestDigest == image.manifestDigest.description)
        #expect(resolved.cmd == ["httpd", "-f", "-p", "8080", "-h", "/www"])
        #expect(resolved.env == ["PATH=/bin"])
        #expect(resolved.workingDir == "/www")
        #expect(resolved.layerDirectories == ["\(scratch.path)/store/images/layers/sha256/\(image.diffIDs[0].hex)"])
        let layer = resolved.layerDirectories[0]
        #expect(try await imageSHA256Sum("\(layer)/bin/busybox") == (try await imageSHA256Sum("/bin/busybox")))
        #expect(try String(contentsOfFile: "\(layer)/www/index.html", encoding: .utf8) == "hello from image\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(layer)/bin/sh") == "busybox")

        // The layout is one skopeo and umoci read: umoci's own unpacking of it gives the same tree.
        try await imageShell("umoci raw unpack --image '\(scratch.path)/store/images:demo/web:1' '\(scratch.path)/umoci-rootfs'")
        try await imageShell("diff -r --no-dereference '\(layer)' '\(scratch.path)/umoci-rootfs'")

        // Resolving again reuses the unpacked layer.
        let inode = try FileManager.default.attributesOfItem(atPath: layer)[.systemFileNumber] as? Int
        let again = try await store.resolve(reference: "demo/web:1", namespace: "default")
        #expect(again == resolved)
        #expect(try FileManager.default.attributesOfItem(atPath: layer)[.systemFileNumber] as? Int == inode)

        let list = await store.images()
        #expect(list.map(\.reference) == ["demo/web:1"])
        #expect(list.first?.signatures == 1)
    }

    @Test func importsWhatSkopeoWrites() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path, refName: "1")
        try await imageShell("skopeo copy 'oci:\(image.layout):1' 'oci-archive:\(scratch.path)/skopeo.tar:demo/tools:2' 2>&1")
        let store = try makeImageStore(scratch.path)
        let imported = try await store.importArchive(path: "\(scratch.path)/skopeo.tar")
        #expect(imported == [ImportedImage(reference: "demo/tools:2", digest: image.manifestDigest)])

        // An archive that names only a tag needs a name.
        await #expect(throws: ImageStoreError.self) { _ = try await store.importArchive(path: image.archive) }
        let named = try await store.importArchive(path: image.archive, as: "demo/bare")
        #expect(named == [ImportedImage(reference: "demo/bare:1", digest: image.manifestDigest)])
    }

    @Test func multiPlatformIndexResolvesToThisHost() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path, refName: "1")
        let manifestSize = try readImageBytes("\(image.layout)/blobs/sha256/\(image.manifestDigest.hex)").count
        let absent = String(repeating: "0", count: 64)
        let index = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(absent)","size":10,"platform":{"os":"linux","architecture":"riscv64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(image.manifestDigest)","size":\#(manifestSize),"platform":{"os":"linux","architecture":"\#(OCIPlatform.architecture)"}}]}"#
        let indexDigest = Digest.of(Array(index.utf8))
        try writeImageBytes("\(image.layout)/blobs/sha256/\(indexDigest.hex)", Array(index.utf8))
        try writeImageBytes("\(image.layout)/index.json", Array(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"\#(indexDigest)","size":\#(index.utf8.count),"annotations":{"org.opencontainers.image.ref.name":"demo/multi:1"}}]}"#.utf8))
        try await imageShell("tar -C '\(image.layout)' -cf '\(scratch.path)/multi.tar' .")
        let key = try ImageFixture.key(4)
        let store = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: [key]))
        #expect(try await store.importArchive(path: "\(scratch.path)/multi.tar") == [ImportedImage(reference: "demo/multi:1", digest: indexDigest)])
        // The signature covers the index, as cosign signs a multi-platform tag.
        #expect(try await store.sign(reference: "demo/multi:1", key: key) == indexDigest)
        let resolved = try await store.resolve(reference: "demo/multi:1", namespace: "default")
        #expect(resolved.manifestDigest == indexDigest.description)
        #expect(resolved.layerDirectories == ["\(scratch.path)/store/images/layers/sha256/\(image.diffIDs[0].hex)"])
    }

    @Test func garbageArchivesAreErrorsNotCrashes() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let store = try makeImageStore(scratch.path)

        func expectImportFails(_ path: String, _ kind: ImageStoreError.Kind, _ fragment: String) async {
            do {
                _ = try await store.importArchive(path: path)
                Issue.record("importing \(path) succeeded")
            } catch {
                #expect(error.kind == kind)
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
        await expectImportFails("\(scratch.path)/missing.tar", .io, "cannot open")
        try writeImageBytes("\(scratch.path)/random.tar", (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })
        await expectImportFails("\(scratch.path)/random.tar", .invalidImage, "not a valid oci-archive")

        let whole = try readImageBytes(image.archive)
        try writeImageBytes("\(scratch.path)/truncated.tar", Array(whole.prefix(whole.count / 2)))
        await expectImportFails("\(scratch.path)/truncated.tar", .invalidImage, "truncated")

        try await imageShell("gzip -c '\(image.archive)' > '\(scratch.path)/gz.tar'")
        await expectImportFails("\(scratch.path)/gz.tar", .invalidImage, "gzip")

        // index.json that is not JSON.
        try await imageShell("cp -r '\(image.layout)' '\(scratch.path)/badjson' && echo '{not json' > '\(scratch.path)/badjson/index.json' && tar -C '\(scratch.path)/badjson' -cf '\(scratch.path)/badjson.tar' .")
        await expectImportFails("\(scratch.path)/badjson.tar", .invalidImage, "not valid JSON")

        // A manifest blob that is not JSON (its name matches its bytes, so only parsing can refuse it).
        let garbage = Array("{\"schemaVersion\":2,\"layers\":".utf8)
        let garbageDigest = Digest.of(garbage)
        try await imageShell("cp -r '\(image.layout)' '\(scratch.path)/badmanifest'")
        try writeImageBytes("\(scratch.path)/badmanifest/blobs/sha256/\(garbageDigest.hex)", garbage)
        try writeImageBytes("\(scratch.path)/badmanifest/index.json", Array(#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(garbageDigest)","size":\#(garbage.count),"annotations":{"org.opencontainers.image.ref.name":"demo/x:1"}}]}"#.utf8))
        try await imageShell("tar -C '\(scratch.path)/badmanifest' -cf '\(scratch.path)/badmanifest.tar' .")
        await expectImportFails("\(scratch.path)/badmanifest.tar", .invalidImage, "not valid JSON")

        // A blob whose bytes do not match its name.
        try await imageShell("cp -r '\(image.layout)' '\(scratch.path)/badblob' && echo tampered >> '\(scratch.path)/badblob/blobs/sha256/\(image.configDigest.hex)' && tar -C '\(scratch.path)/badblob' -cf '\(scratch.path)/badblob.tar' .")
        let fresh = try makeImageStore(scratch.path, "fresh")
        do {
            _ = try await fresh.importArchive(path: "\(scratch.path)/badblob.tar")
            Issue.record("a tampered blob was imported")
        } catch {
            #expect(error.kind == .tampered)
            #expect(!FileManager.default.fileExists(atPath: "\(scratch.path)/fresh/images/blobs/sha256/\(image.configDigest.hex)"))
        }
        #expect(await store.images().isEmpty)
        #expect(await fresh.images().isEmpty)
    }

    @Test func aSecondProcessSeesImportsIntoTheSameDirectory() async throws {
        // The CLI imports into the data directory of a running peer: two stores on one directory stand in for both.
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let other = try await ImageFixture.busybox(in: scratch.path, name: "other", refName: "demo/other:1", page: "other")
        let key = try ImageFixture.key(5)
        let peer = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: [key]))
        let cli = try makeImageStore(scratch.path)
        #expect(await peer.admissionCheck(reference: "demo/web:1", namespace: "default") == nil)
        async let first = cli.importArchive(path: image.archive)
        async let second = peer.importArchive(path: other.archive)
        _ = try await (first, second)
        try await cli.sign(reference: "demo/web:1", key: key)
        #expect(await peer.images().map(\.reference) == ["demo/other:1", "demo/web:1"])
        #expect((try? await peer.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "Never").get()) != nil)
        #expect(await peer.admissionCheck(reference: "demo/other:1", namespace: "default")?.reason == .signature)
    }

    @Test func neverPolicyAndUnknownImages() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let store = try makeImageStore(scratch.path)
        let never = await store.ensureImage(reference: "demo/none:1", namespace: "default", pullPolicy: "Never")
        #expect(never.imageRefusal?.reason == .pull)
        let noSource = await store.ensureImage(reference: "demo/none:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(noSource.imageRefusal?.reason == .pull)
        let invalid = await store.ensureImage(reference: "Demo/UPPER:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(invalid.imageRefusal?.reason == .invalidName)
        #expect(await store.admissionCheck(reference: "demo/none:1", namespace: "default") == nil)
    }
}

extension Result {
    var imageRefusal: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}

@Suite struct ImageReferenceTests {
    @Test func parsesTheDistributionGrammar() throws {
        let full = try ImageReference(parsing: "127.0.0.1:5000/demo/web:1")
        #expect(full.registry == "127.0.0.1:5000" && full.repository == "demo/web" && full.tag == "1" && full.digest == nil)
        #expect(full.name == "demo/web:1")
        let plain = try ImageReference(parsing: "busybox")
        #expect(plain.registry == nil && plain.repository == "busybox" && plain.tag == "latest")
        let hub = try ImageReference(parsing: "docker.io/library/busybox:1.36")
        #expect(hub.registry == nil && hub.repository == "busybox" && hub.tag == "1.36")
        let hex = String(repeating: "a", count: 64)
        let pinned = try ImageReference(parsing: "localhost:5000/x@sha256:\(hex)")
        #expect(pinned.registry == "localhost:5000" && pinned.tag == nil && pinned.digest?.hex == hex)
        for bad in ["", "UPPER/case", "demo//web", "demo/web:", "demo/web:-x", "x@sha256:abc", "x@md5:\(hex)", "-x", "a/b:c:d"] {
            #expect(throws: ImageReference.ParseError.self, "\(bad)") { _ = try ImageReference(parsing: bad) }
        }
    }

    @Test func registryHostsPickTheirScheme() {
        let configured = [PullSource(kind: .registry, baseURL: "http://registry.site:5000/")]
        #expect(PullSource.registry(named: "registry.site:5000", configured: configured).baseURL == "http://registry.site:5000")
        #expect(PullSource.registry(named: "ghcr.io", configured: configured).baseURL == "https://ghcr.io")
        #expect(PullSource.registry(named: "127.0.0.1:5000", configured: []).baseURL == "http://127.0.0.1:5000")
        #expect(PullSource.registry(named: "localhost:5000", configured: []).baseURL == "http://localhost:5000")
        #expect(PullSource.registry(named: "[::1]:5000", configured: []).baseURL == "http://[::1]:5000")
    }
}

import Foundation
@testable import NodeAgent
import Sodium
import Testing

@Suite struct ImageProvenanceTests {
    /// A store holding the signed busybox image `demo/web:1` (and, unsigned, `demo/other:1`), trusting `trusted`.
    func signedStore(_ scratch: ImageScratch, signer: SigningKeyPair, trusted: [SigningKeyPair], mode: TrustPolicy.Mode = .enforce)
        async throws -> (ImageStore, ImageFixtureImage) {
        let image = try await ImageFixture.busybox(in: scratch.path)
        let store = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: trusted, mode: mode))
        _ = try await store.importArchive(path: image.archive)
        try await store.sign(reference: "demo/web:1", key: signer)
        return (store, image)
    }

    @Test func payloadIsCanonicalSimpleSigning() throws {
        let digest = Digest(hex: String(repeating: "ab", count: 32))!  // justified: 64 hex digits
        let payload = String(decoding: SimpleSigning.payload(repository: "demo/web", manifestDigest: digest), as: UTF8.self)
        #expect(payload == #"{"critical":{"identity":{"docker-reference":"demo/web"},"image":{"docker-manifest-digest":"sha256:\#(digest.hex)"},"type":"cosign container image signature"},"optional":null}"#)
        #expect(SimpleSigning.parse(Array(payload.utf8))?.repository == "demo/web")
        #expect(SimpleSigning.parse(Array("{}".utf8)) == nil)
        #expect(SimpleSigning.parse(Array("not json".utf8)) == nil)
    }

    @Test func trustedSignatureRuns() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let (store, image) = try await signedStore(scratch, signer: key, trusted: [key])
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? result.get())?.manifestDigest == image.manifestDigest.description)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "default") == nil)
    }

    @Test func unsignedIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let store = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: [try ImageFixture.key(1)]))
        _ = try await store.importArchive(path: image.archive)
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .signature)
        #expect(result.imageRefusal?.message.contains("is not signed") == true)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "default")?.reason == .signature)
        // Nothing was unpacked for an image that must not run.
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/store/images/layers/sha256").isEmpty)
    }

    @Test func untrustedKeyIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let (store, _) = try await signedStore(scratch, signer: try ImageFixture.key(2), trusted: [try ImageFixture.key(1)])
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .signature)
        #expect(result.imageRefusal?.message.contains("not signed by a trusted key") == true)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "default")?.reason == .signature)
    }

    @Test func signatureForAnotherDigestIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let (store, image) = try await signedStore(scratch, signer: key, trusted: [key])
        // A second image under the same name, carrying the first image's signature (moved to its tag).
        let other = try await ImageFixture.busybox(in: scratch.path, name: "other", refName: "demo/web:2", page: "other page")
        _ = try await store.importArchive(path: other.archive)
        let records = await store.signatureRecords(repository: "demo/web", digest: image.manifestDigest)
        #expect(records.count == 1)
        try await store.writeSignatures(records, repository: "demo/web", digest: other.manifestDigest)
        let result = await store.ensureImage(reference: "demo/web:2", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .signature)
        #expect(result.imageRefusal?.message.contains("is for digest \(image.manifestDigest)") == true, "\(String(describing: result.imageRefusal))")
    }

    @Test func signatureForAnotherImageNameIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let (store, image) = try await signedStore(scratch, signer: key, trusted: [key])
        _ = try await store.importArchive(path: image.archive, as: "evil/web:1")
        let records = await store.signatureRecords(repository: "demo/web", digest: image.manifestDigest)
        try await store.writeSignatures(records, repository: "evil/web", digest: image.manifestDigest)
        let result = await store.ensureImage(reference: "evil/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .signature)
        #expect(result.imageRefusal?.message.contains("names image demo/web") == true)
    }

    @Test func tamperedManifestIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let (store, image) = try await signedStore(scratch, signer: key, trusted: [key])
        let path = "\(scratch.path)/store/images/blobs/sha256/\(image.manifestDigest.hex)"
        var bytes = try readImageBytes(path)
        bytes[bytes.count - 2] = UInt8(ascii: " ")
        try writeImageBytes(path, bytes)
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .tampered)
        #expect(result.imageRefusal?.message.contains("manifest \(image.manifestDigest) was tampered with") == true)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "default")?.reason == .tampered)
    }

    @Test func tamperedConfigIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let (store, image) = try await signedStore(scratch, signer: key, trusted: [key])
        let path = "\(scratch.path)/store/images/blobs/sha256/\(image.configDigest.hex)"
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "httpd", with: "rm")
        try writeImageBytes(path, Array(text.utf8))
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .tampered)
        #expect(result.imageRefusal?.message.contains("config \(image.configDigest) was tampered with") == true)
    }

    @Test func tamperedLayerIsRefusedEvenAfterUnpacking() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let (store, image) = try await signedStore(scratch, signer: key, trusted: [key])
        #expect((try? await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent").get()) != nil)
        let path = "\(scratch.path)/store/images/blobs/sha256/\(image.layerDigests[0].hex)"
        var bytes = try readImageBytes(path)
        bytes[bytes.count / 2] ^= 0xFF
        try writeImageBytes(path, bytes)
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .tampered)
        #expect(result.imageRefusal?.message.contains("layer \(image.layerDigests[0]) was tampered with") == true)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "default")?.reason == .tampered)
    }

    @Test func wrongDiffIDIsRefused() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let root = "\(scratch.path)/root"
        try await ImageFixture.busyboxRoot(at: root)
        try await ImageFixture.tarDirectory(root, to: "\(scratch.path)/a.tar")
        var image = try await ImageFixture.image(in: scratch.path, layerTars: ["\(scratch.path)/a.tar"])
        // Rewrite the config with a diff_id of other content (and the manifest and index to match).
        let configPath = "\(image.layout)/blobs/sha256/\(image.configDigest.hex)"
        let wrong = Digest.of(Array("other".utf8))
        let config = try String(contentsOfFile: configPath, encoding: .utf8).replacingOccurrences(of: image.diffIDs[0].description, with: wrong.description)
        let configDigest = Digest.of(Array(config.utf8))
        try writeImageBytes("\(image.layout)/blobs/sha256/\(configDigest.hex)", Array(config.utf8))
        let manifestPath = "\(image.layout)/blobs/sha256/\(image.manifestDigest.hex)"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
            .replacingOccurrences(of: image.configDigest.description, with: configDigest.description)
        let manifestDigest = Digest.of(Array(manifest.utf8))
        try writeImageBytes("\(image.layout)/blobs/sha256/\(manifestDigest.hex)", Array(manifest.utf8))
        let index = try String(contentsOfFile: "\(image.layout)/index.json", encoding: .utf8)
            .replacingOccurrences(of: image.manifestDigest.description, with: manifestDigest.description)
        try writeImageBytes("\(image.layout)/index.json", Array(index.utf8))
        try await imageShell("tar -C '\(image.layout)' -cf '\(scratch.path)/wrong.tar' .")
        image.manifestDigest = manifestDigest
        let key = try ImageFixture.key(1)
        let store = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: [key]))
        _ = try await store.importArchive(path: "\(scratch.path)/wrong.tar")
        try await store.sign(reference: "demo/web:1", key: key)
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .tampered)
        #expect(result.imageRefusal?.message.contains("not to its diff_id \(wrong)") == true)
    }

    @Test func warnModeRunsWhatEnforceWouldRefuse() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let image = try await ImageFixture.busybox(in: scratch.path)
        let log = CapturedLog()
        let store = try ImageStore(directory: "\(scratch.path)/store/images", policy: ImageFixture.policy(trusting: [try ImageFixture.key(1)], mode: .warn),
                                   logger: log.logger)
        _ = try await store.importArchive(path: image.archive)
        try await store.sign(reference: "demo/web:1", key: try ImageFixture.key(2))
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect((try? result.get())?.manifestDigest == image.manifestDigest.description)
        #expect(log.lines.contains { $0.contains("warning") && $0.contains("would refuse") && $0.contains("not signed by a trusted key") })
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "default") == nil)
        // Warn never covers tampering.
        let path = "\(scratch.path)/store/images/blobs/sha256/\(image.configDigest.hex)"
        try writeImageBytes(path, Array("{}".utf8))
        let tampered = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(tampered.imageRefusal?.reason == .tampered)
    }

    @Test func policyPicksTheMostSpecificEntry() throws {
        let a = try ImageFixture.key(1).publicKey
        let b = try ImageFixture.key(2).publicKey
        let policy = TrustPolicy(entries: [
            TrustPolicy.Entry(prefix: "", keys: [a]),
            TrustPolicy.Entry(prefix: "demo", keys: [b], mode: .warn),
            TrustPolicy.Entry(prefix: "demo", namespaces: ["prod"], keys: [a, b]),
            TrustPolicy.Entry(prefix: "team/", keys: []),
        ])
        #expect(policy.rule(repository: "busybox", namespace: "default").keys == [a])
        #expect(policy.rule(repository: "demo/web", namespace: "default").mode == .warn)
        #expect(policy.rule(repository: "demo", namespace: "default").keys == [b])
        #expect(policy.rule(repository: "demox/web", namespace: "default").keys == [a])
        #expect(policy.rule(repository: "demo/web", namespace: "prod").keys == [a, b])
        #expect(policy.rule(repository: "demo/web", namespace: "prod").mode == .enforce)
        #expect(policy.rule(repository: "team/x", namespace: "default").keys.isEmpty)
        #expect(TrustPolicy().rule(repository: "x", namespace: "y").mode == .enforce)
        #expect(TrustPolicy().rule(repository: "x", namespace: "y").keys.isEmpty)
    }

    @Test func policyEntriesFromConfigurationValues() throws {
        let key = try ImageFixture.key(3).publicKey
        let entry = try TrustPolicy.Entry(prefix: "demo/", namespaces: ["prod"], base64Keys: [key.base64EncodedString], mode: "")
        #expect(entry == TrustPolicy.Entry(prefix: "demo/", namespaces: ["prod"], keys: [key], mode: .enforce))
        #expect(throws: TrustPolicy.ConfigurationError.self) {
            _ = try TrustPolicy.Entry(prefix: "", namespaces: [], base64Keys: ["bm90IGEga2V5"], mode: "warn")
        }
        #expect(throws: TrustPolicy.ConfigurationError.self) {
            _ = try TrustPolicy.Entry(prefix: "", namespaces: [], base64Keys: [], mode: "audit")
        }
        #expect(throws: TrustPolicy.ConfigurationError.self) {
            _ = try TrustPolicy.Entry(prefix: "Bad Prefix", namespaces: [], base64Keys: [], mode: "warn")
        }
    }

    @Test func namespaceSelectsTheKeys() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let key = try ImageFixture.key(1)
        let image = try await ImageFixture.busybox(in: scratch.path)
        let policy = TrustPolicy(entries: [TrustPolicy.Entry(prefix: "demo", namespaces: ["team-a"], keys: [key.publicKey])])
        let store = try makeImageStore(scratch.path, policy: policy)
        _ = try await store.importArchive(path: image.archive)
        try await store.sign(reference: "demo/web:1", key: key)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "team-a") == nil)
        #expect(await store.admissionCheck(reference: "demo/web:1", namespace: "team-b")?.reason == .signature)
    }
}

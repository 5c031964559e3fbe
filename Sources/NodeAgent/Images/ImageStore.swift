#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ResourceModel
import Sodium

#if canImport(Glibc)
import Glibc
#endif

/// One image as `peer image list` shows it.
public struct ImageSummary: Sendable, Equatable {
    public var reference: String
    public var digest: Digest
    /// Manifest, config and layers, compressed, as stored.
    public var size: Int64
    public var signatures: Int
}

/// The peer's content-addressed image store (`<dataDir>/images`): imports, pulls from registries and peers,
/// signs, and hands the runtime verified, unpacked layers. Every blob is checked against its digest on arrival
/// and again (when its file changed) before anything runs from it.
public actor ImageStore: ImageProvider {
    public nonisolated let directory: String
    let layout: OCILayout
    private var policy: TrustPolicy
    let sources: @Sendable () -> [PullSource]
    let transport: any DistributionTransport
    let logger: Logger

    private var index: [OCIDescriptor] = []
    private var indexStamp: ImageFiles.Stamp?
    /// Blobs whose bytes were hashed, and the file version that was hashed: a changed file is hashed again.
    private var verifiedBlobs: [Digest: ImageFiles.Stamp] = [:]
    /// Images found tampered, so admission can refuse them without re-reading anything.
    private var knownTampered: [Digest: String] = [:]
    var inflightPulls: [String: Task<Digest, any Error>] = [:]
    /// Why the last try to fetch an image's signatures failed (not a 404: a source that could not be asked).
    var signatureFetchFailures: [Digest: String] = [:]
    /// Images whose signatures an admission refusal is looking for again, one fetch at a time.
    private var signatureRefreshes: Set<Digest> = []
    private var inflightUnpacks: [Digest: Task<String, any Error>] = [:]

    /// `directory` is `<dataDir>/images`; `sources` is asked at each pull (registries first, then peers' API
    /// addresses), since peers come and go.
    public init(directory: String, policy: TrustPolicy = TrustPolicy(), sources: @escaping @Sendable () -> [PullSource] = { [] },
                transport: (any DistributionTransport)? = nil, logger: Logger = Logger(label: "images")) throws(ImageStoreError) {
        self.directory = directory
        layout = OCILayout(root: directory)
        self.policy = policy
        self.sources = sources
        self.transport = transport ?? HTTPDistributionTransport()
        self.logger = logger
        do {
            try layout.create()
            index = try layout.readIndex()
        } catch {
            throw ImageStoreError(.io, "image store \(directory): \(error)")
        }
        indexStamp = ImageFiles.stamp(layout.indexPath)
    }

    public func setPolicy(_ policy: TrustPolicy) {
        self.policy = policy
    }

    // MARK: - Index

    /// Picks up changes another process (the CLI) made.
    private func refreshIndex() {
        let stamp = ImageFiles.stamp(layout.indexPath)
        guard stamp != indexStamp, let entries = try? layout.readIndex() else { return }
        index = entries
        indexStamp = stamp
    }

    func updateIndex(_ change: (inout [OCIDescriptor]) -> Void) throws(ImageStoreError) {
        do {
            try layout.withIndexLock {
                var entries = try layout.readIndex()
                change(&entries)
                try layout.writeIndex(entries)
                index = entries
            }
        } catch {
            throw ImageStoreError(.io, "cannot update \(layout.indexPath): \(error)")
        }
        indexStamp = ImageFiles.stamp(layout.indexPath)
    }

    static func repository(of entry: OCIDescriptor) -> String? {
        if let name = entry.annotations[OCIAnnotation.refName], let colon = name.lastIndex(of: ":") {
            return String(name[..<colon])
        }
        return entry.annotations[OCIAnnotation.repository]
    }

    /// Points `repository:tag` at `descriptor` (replacing what it pointed at), or records an untagged entry.
    func record(_ descriptor: OCIDescriptor, repository: String, tag: String?) throws(ImageStoreError) {
        var entry = OCIDescriptor(mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size)
        if let tag {
            entry.annotations[OCIAnnotation.refName] = "\(repository):\(tag)"
        } else {
            entry.annotations[OCIAnnotation.repository] = repository
        }
        knownTampered[descriptor.digest] = nil  // fresh, verified bytes under this digest
        try updateIndex { entries in
            if let tag {
                entries.removeAll { $0.annotations[OCIAnnotation.refName] == "\(repository):\(tag)" }
            } else if entries.contains(where: { $0.digest == entry.digest && ImageStore.repository(of: $0) == repository }) {
                return
            }
            entries.append(entry)
        }
    }

    /// The local descriptor a reference names, if any.
    func lookup(_ reference: ImageReference) -> OCIDescriptor? {
        refreshIndex()
        if let digest = reference.digest {
            if let entry = index.first(where: { $0.digest == digest }) { return entry }
            guard layout.hasBlob(digest) else { return nil }
            return OCIDescriptor(mediaType: "", digest: digest, size: 0)
        }
        let name = "\(reference.repository):\(reference.tag ?? "latest")"
        return index.first { $0.annotations[OCIAnnotation.refName] == name }
    }

    // MARK: - Verified reads

    /// A small blob (manifest, config, signature payload), hashed on every read.
    func readVerified(_ digest: Digest, what: String, limit: Int = OCILayout.manifestLimit) throws(ImageStoreError) -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try layout.readBlob(digest, limit: limit)
        } catch {
            throw ImageStoreError(.tampered, "\(what) \(digest) is missing or unreadable in the image store: \(error)")
        }
        let actual = Digest.of(bytes)
        guard actual == digest else {
            throw ImageStoreError(.tampered, "\(what) \(digest) was tampered with: its content hashes to \(actual)")
        }
        return bytes
    }

    /// A layer blob: hashed again only when its file changed since the last check.
    private func verifyLayerBlob(_ digest: Digest) async throws(ImageStoreError) {
        let path = layout.blobPath(digest)
        guard let stamp = ImageFiles.stamp(path) else {
            throw ImageStoreError(.tampered, "layer \(digest) is missing from the image store")
        }
        if verifiedBlobs[digest] == stamp { return }
        let actual: Digest
        do {
            actual = try await offloadedImageWork { try ImageFiles.hashFile(path).digest }
        } catch {
            throw ImageStoreError(.io, "cannot read layer \(digest): \(error)")
        }
        guard actual == digest else {
            verifiedBlobs[digest] = nil
            throw ImageStoreError(.tampered, "layer \(digest) was tampered with: its content hashes to \(actual)")
        }
        verifiedBlobs[digest] = stamp
    }

    /// The image manifest behind a top-level digest, narrowing an index to this host's platform.
    func manifest(top: Digest) throws(ImageStoreError) -> ImageManifest {
        let bytes = try readVerified(top, what: "manifest")
        do {
            switch try ManifestDocument.parse(bytes) {
            case .manifest(let manifest):
                return manifest
            case .index(let entries):
                guard let chosen = OCIPlatform.choose(from: entries) else {
                    throw ImageStoreError(.invalidImage, "image index \(top) has no manifest for linux/\(OCIPlatform.architecture)")
                }
                guard case .manifest(let manifest) = try ManifestDocument.parse(try readVerified(chosen.digest, what: "manifest")) else {
                    throw ImageStoreError(.invalidImage, "image index \(top) nests another index")
                }
                return manifest
            }
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.invalidImage, "manifest \(top): \(error)")
        }
    }

    // MARK: - Signatures

    /// The signatures stored for `repository@digest` (the cosign tag `sha256-<hex>.sig`).
    func signatureRecords(repository: String, digest: Digest) -> [SignatureRecord] {
        refreshIndex()
        let name = "\(repository):\(digest.signatureTag)"
        guard let entry = index.first(where: { $0.annotations[OCIAnnotation.refName] == name }),
            let bytes = try? readVerified(entry.digest, what: "signature manifest"),
            case .manifest(let manifest)? = try? ManifestDocument.parse(bytes)
        else { return [] }
        return manifest.layers.compactMap { layer in
            guard layer.mediaType == OCIMediaType.simpleSigning, let encoded = layer.annotations[OCIAnnotation.cosignSignature],
                let signature = try? Sodium.base64Decode(encoded),
                let payload = try? readVerified(layer.digest, what: "signature payload", limit: 64 << 10)
            else { return nil }
            return SignatureRecord(payload: payload, signature: signature, publicKeyHint: layer.annotations[OCIAnnotation.publicKey])
        }
    }

    /// Stores `records` as the signature manifest of `repository@digest`, replacing the previous one.
    func writeSignatures(_ records: [SignatureRecord], repository: String, digest: Digest) throws(ImageStoreError) {
        var unique: [SignatureRecord] = []
        for record in records where !unique.contains(where: { $0.payload == record.payload && $0.signature == record.signature }) {
            unique.append(record)
        }
        do {
            var layers: [OCIDescriptor] = []
            for record in unique {
                let payloadDigest = try layout.putBlob(record.payload)
                var annotations = [OCIAnnotation.cosignSignature: Sodium.base64Encode(record.signature)]
                if let hint = record.publicKeyHint { annotations[OCIAnnotation.publicKey] = hint }
                layers.append(OCIDescriptor(mediaType: OCIMediaType.simpleSigning, digest: payloadDigest,
                                         size: Int64(record.payload.count), annotations: annotations))
            }
            let config: JSONValue = [
                "architecture": "", "os": "", "config": .object(JSONObject()),
                "rootfs": ["type": "layers", "diff_ids": .array(layers.map { .string($0.digest.description) })],
            ]
            let configBytes = Array(config.serialized(sortedKeys: true).utf8)
            let configDigest = try layout.putBlob(configBytes)
            let manifest = ImageManifest(
                mediaType: OCIMediaType.ociManifest,
                config: OCIDescriptor(mediaType: OCIMediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                layers: layers)
            let manifestBytes = Array(manifest.json.serialized().utf8)
            let manifestDigest = try layout.putBlob(manifestBytes)
            try record(OCIDescriptor(mediaType: OCIMediaType.ociManifest, digest: manifestDigest, size: Int64(manifestBytes.count)),
                       repository: repository, tag: digest.signatureTag)
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.io, "cannot store the signature of \(repository)@\(digest): \(error)")
        }
    }

    /// Signs the image `reference` names with `key` and stores the signature beside it.
    @discardableResult
    public func sign(reference text: String, key: SigningKeyPair) throws(ImageStoreError) -> Digest {
        let reference = try parse(text)
        guard let entry = lookup(reference) else { throw ImageStoreError(.notFound, "image \(text) is not in the store") }
        _ = try manifest(top: entry.digest)  // never sign bytes that do not match their digest
        let payload = SimpleSigning.payload(repository: reference.repository, manifestDigest: entry.digest)
        let record = SignatureRecord(payload: payload, signature: key.sign(payload).bytes,
                                     publicKeyHint: key.publicKey.base64EncodedString)
        let existing = signatureRecords(repository: reference.repository, digest: entry.digest)
            .filter { $0.publicKeyHint != record.publicKeyHint || SimpleSigning.parse($0.payload)?.repository != reference.repository }
        try writeSignatures(existing + [record], repository: reference.repository, digest: entry.digest)
        logger.info("signed image", metadata: ["image": "\(reference.name)", "digest": "\(entry.digest)",
                                               "key": "\(key.publicKey.base64EncodedString)"])
        return entry.digest
    }

    /// Applies the trust policy; nil when the image may run (possibly with a warning logged).
    private func provenanceRefusal(repository: String, digest: Digest, namespace: String) -> ImageRefusal? {
        let rule = policy.rule(repository: repository, namespace: namespace)
        let verdict = SignatureCheck.verify(signatures: signatureRecords(repository: repository, digest: digest),
                                            repository: repository, manifestDigest: digest, trustedKeys: rule.keys)
        guard case .refused(let why) = verdict else { return nil }
        if rule.mode == .warn {
            logger.warning("running an image the trust policy would refuse (mode warn)",
                           metadata: ["image": "\(repository)@\(digest)", "namespace": "\(namespace)", "reason": "\(why)"])
            return nil
        }
        return ImageRefusal(reason: .signature, message: why)
    }

    // MARK: - ImageProvider

    func parse(_ text: String) throws(ImageStoreError) -> ImageReference {
        do {
            return try ImageReference(parsing: text)
        } catch {
            throw ImageStoreError(.invalidReference, error.description)
        }
    }

    /// The admission pre-check: a refusal only when this store already holds the image and knows it must not
    /// run here; nil when the image is unknown (the node decides later) or fine. Reads only small blobs.
    /// Without a signature the policy accepts, the sources are asked again in the background.
    public func admissionCheck(reference text: String, namespace: String) -> ImageRefusal? {
        let reference: ImageReference
        do {
            reference = try parse(text)
        } catch {
            return error.refusal
        }
        guard let entry = lookup(reference) else { return nil }
        if let message = knownTampered[entry.digest] { return ImageRefusal(reason: .tampered, message: message) }
        do {
            _ = try readVerified(entry.digest, what: "manifest")
        } catch {
            return error.refusal
        }
        guard let refusal = provenanceRefusal(repository: reference.repository, digest: entry.digest, namespace: namespace) else { return nil }
        // A signature pushed after this store pulled the image is looked for, but never on the request's path:
        // a later admission sees what the background fetch found.
        refreshSignaturesInBackground(reference, digest: entry.digest)
        return refusal
    }

    private func refreshSignaturesInBackground(_ reference: ImageReference, digest: Digest) {
        let sources = orderedSources(for: reference, explicit: nil)
        guard !sources.isEmpty, signatureRefreshes.insert(digest).inserted else { return }
        Task {
            await fetchSignatures(repository: reference.repository, digest: digest, from: sources)
            signatureRefreshes.remove(digest)
        }
    }

    public func ensureImage(reference text: String, namespace: String, pullPolicy: String) async -> Result<ResolvedImage, ImageRefusal> {
        do {
            return .success(try await resolve(reference: text, namespace: namespace, pullPolicy: pullPolicy))
        } catch {
            if error.kind == .tampered, let reference = try? ImageReference(parsing: text), let entry = lookup(reference) {
                knownTampered[entry.digest] = error.message
            }
            if error.kind == .signature { return .failure(ImageRefusal(reason: .signature, message: error.message)) }
            logger.warning("image refused", metadata: ["image": "\(text)", "reason": "\(error.refusal.reason.rawValue)", "why": "\(error.message)"])
            return .failure(error.refusal)
        }
    }

    /// Present, verified and unpacked; throws why not.
    public func resolve(reference text: String, namespace: String, pullPolicy: String = "IfNotPresent") async throws(ImageStoreError) -> ResolvedImage {
        let reference = try parse(text)
        var entry = lookup(reference)
        var pulledNow = false
        switch pullPolicy {
        case "Never":
            guard entry != nil else {
                throw ImageStoreError(.notFound, "image \(text) is not present on this node and its pull policy is Never")
            }
        case "Always":
            do {
                _ = try await pull(reference)
                pulledNow = true
            } catch {
                // A peer cut off from every source still runs what it holds; Kubernetes would fail here.
                guard entry != nil else { throw error }
                logger.warning("pull failed; using the local copy", metadata: ["image": "\(text)", "why": "\(error.message)"])
            }
            entry = lookup(reference)
        default:
            if entry == nil {
                _ = try await pull(reference)
                entry = lookup(reference)
                pulledNow = true
            }
        }
        guard let entry else { throw ImageStoreError(.notFound, "image \(text) is not in the store") }
        let top = entry.digest
        let manifest = try manifest(top: top)
        if provenanceRefusal(repository: reference.repository, digest: top, namespace: namespace) != nil {
            // A signature pushed after the image, or one a failed fetch missed, is looked for again on each retry.
            let sources = pulledNow || pullPolicy == "Never" ? [] : orderedSources(for: reference, explicit: nil)
            if !sources.isEmpty { await fetchSignatures(repository: reference.repository, digest: top, from: sources) }
            if let refusal = provenanceRefusal(repository: reference.repository, digest: top, namespace: namespace) {
                let failure = signatureFetchFailures[top].map { " (fetching its signatures failed: \($0))" } ?? ""
                throw ImageStoreError(.signature, refusal.message + failure)
            }
        }
        let configuration: ImageConfiguration
        do {
            configuration = try ImageConfiguration.parse(try readVerified(manifest.config.digest, what: "config", limit: 8 << 20))
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.invalidImage, "image \(text): \(error)")
        }
        guard configuration.diffIDs.count == manifest.layers.count else {
            throw ImageStoreError(.invalidImage, "image \(text): the config lists \(configuration.diffIDs.count) diff_ids for \(manifest.layers.count) layers")
        }
        var directories: [String] = []
        for (layer, diffID) in zip(manifest.layers, configuration.diffIDs) {
            try await verifyLayerBlob(layer.digest)
            directories.append(try await unpack(layer, diffID: diffID))
        }
        knownTampered[top] = nil
        return ResolvedImage(reference: text, manifestDigest: top.description, entrypoint: configuration.entrypoint,
                             cmd: configuration.cmd, env: configuration.env, workingDir: configuration.workingDir,
                             user: configuration.user, layerDirectories: directories)
    }

    /// The layer's unpacked directory, unpacking it the first time (once, however many pods ask at once).
    private func unpack(_ layer: OCIDescriptor, diffID: Digest) async throws(ImageStoreError) -> String {
        let target = layout.layerDirectory(diffID)
        if ImageFiles.exists(target) { return target }
        let task: Task<String, any Error>
        if let running = inflightUnpacks[diffID] {
            task = running
        } else {
            task = Task { try await self.unpackOnce(layer, diffID: diffID) }
            inflightUnpacks[diffID] = task
        }
        defer { if inflightUnpacks[diffID] == task { inflightUnpacks[diffID] = nil } }
        do {
            return try await task.value
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.io, "layer \(layer.digest): \(error)")
        }
    }

    private func unpackOnce(_ layer: OCIDescriptor, diffID: Digest) async throws(ImageStoreError) -> String {
        let target = layout.layerDirectory(diffID)
        if ImageFiles.exists(target) { return target }
        guard let compression = OCIMediaType.layerCompression(layer.mediaType) else {
            throw ImageStoreError(.invalidImage, "layer \(layer.digest) has unsupported media type '\(layer.mediaType)'")
        }
        let layout = self.layout
        let started = ContinuousClock.now
        do {
            try await offloadedImageWork {
                let scratch = layout.temporaryDirectory + "/" + ImageFiles.randomName() + ".tar"
                let staging = layout.layersDirectory + "/." + ImageFiles.randomName()
                defer {
                    unlink(scratch)
                    ImageFiles.removeTree(staging)
                }
                let tarPath = compression == .gzip ? scratch : layout.blobPath(layer.digest)
                let actual = try LayerUnpacker.decompress(blob: layout.blobPath(layer.digest), compression: compression, output: scratch)
                guard actual == diffID else {
                    throw LayerUnpacker.Failure(kind: .tampered,
                        description: "layer \(layer.digest) unpacks to \(actual), not to its diff_id \(diffID)")
                }
                let plan = try LayerUnpacker.inspect(tarPath: tarPath)
                guard mkdir(staging, 0o755) == 0 else {
                    throw LayerUnpacker.Failure(kind: .io, description: "cannot create \(staging): \(ImageFiles.errnoText())")
                }
                try LayerUnpacker.extract(tarPath: tarPath, into: staging, plan: plan)
                if rename(staging, target) != 0 && !ImageFiles.exists(target) {
                    throw LayerUnpacker.Failure(kind: .io, description: "cannot move the layer into place: \(ImageFiles.errnoText())")
                }
            }
        } catch let failure as LayerUnpacker.Failure {
            switch failure.kind {
            case .tampered: throw ImageStoreError(.tampered, failure.description)
            case .unsafe: throw ImageStoreError(.unsafeLayer, "layer \(layer.digest) is unsafe: \(failure.description)")
            case .invalid: throw ImageStoreError(.invalidImage, "layer \(layer.digest): \(failure.description)")
            case .io: throw ImageStoreError(.io, "layer \(layer.digest): \(failure.description)")
            }
        } catch {
            throw ImageStoreError(.io, "layer \(layer.digest): \(error)")
        }
        logger.info("unpacked layer", metadata: ["diffID": "\(diffID)", "took": "\(ContinuousClock.now - started)"])
        return target
    }

    // MARK: - Listing

    public func images() -> [ImageSummary] {
        refreshIndex()
        return index.compactMap { entry -> ImageSummary? in
            guard let name = entry.annotations[OCIAnnotation.refName] ?? entry.annotations[OCIAnnotation.repository].map({ "\($0)@\(entry.digest)" }),
                !name.hasSuffix(".sig"), let repository = ImageStore.repository(of: entry)
            else { return nil }
            var size = entry.size
            if let manifest = try? manifest(top: entry.digest) {
                size = manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size }
            }
            return ImageSummary(reference: name, digest: entry.digest, size: size,
                                signatures: signatureRecords(repository: repository, digest: entry.digest).count)
        }.sorted { $0.reference < $1.reference }
    }

    // MARK: - Serving

    /// What the distribution API serves: the current index, read-only.
    public func distributionContent() -> DistributionContent {
        refreshIndex()
        return DistributionContent(layout: layout, index: index)
    }
}

import ResourceModel

/// The OCI (and Docker schema 2) shapes the store reads; parsing never trusts a field.
enum OCIMediaType {
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let ociConfig = "application/vnd.oci.image.config.v1+json"
    static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let ociLayerTar = "application/vnd.oci.image.layer.v1.tar"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    static let simpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"

    static let manifestAccept = [ociManifest, ociIndex, dockerManifest, dockerManifestList].joined(separator: ", ")

    static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerManifestList }

    enum LayerCompression { case gzip, uncompressed }

    static func layerCompression(_ type: String) -> LayerCompression? {
        switch type {
        case ociLayerGzip, dockerLayerGzip, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
             "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip":
            return .gzip
        case ociLayerTar, "application/vnd.oci.image.layer.nondistributable.v1.tar":
            return .uncompressed
        default:
            return nil
        }
    }
}

enum OCIAnnotation {
    static let refName = "org.opencontainers.image.ref.name"
    /// Which repository an index entry belongs to when it has no tag (pulled by digest).
    static let repository = "io.peer.image.repository"
    static let cosignSignature = "dev.cosignproject.cosign/signature"
    /// Which key made a signature: a hint; verification still tries every trusted key.
    static let publicKey = "io.peer.signature.public-key"
}

struct OCIError: Error, Sendable, CustomStringConvertible {
    let description: String
}

struct OCIDescriptor: Sendable, Equatable {
    var mediaType: String
    var digest: Digest
    var size: Int64
    var annotations: [String: String] = [:]
    var platform: (os: String, architecture: String)?

    static func == (a: OCIDescriptor, b: OCIDescriptor) -> Bool {
        a.mediaType == b.mediaType && a.digest == b.digest && a.size == b.size && a.annotations == b.annotations
            && a.platform?.os == b.platform?.os && a.platform?.architecture == b.platform?.architecture
    }

    init(mediaType: String, digest: Digest, size: Int64, annotations: [String: String] = [:]) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
    }

    init(json: JSONValue, what: String) throws(OCIError) {
        guard let object = json.objectValue else { throw OCIError(description: "\(what) is not an object") }
        guard let digestText = object["digest"]?.stringValue, let digest = Digest(digestText) else {
            throw OCIError(description: "\(what) has no sha256 digest")
        }
        guard let size = object["size"]?.intValue, size >= 0 else { throw OCIError(description: "\(what) has no valid size") }
        self.digest = digest
        self.size = size
        mediaType = object["mediaType"]?.stringValue ?? ""
        if let values = object["annotations"]?.objectValue {
            for (key, value) in values { if let text = value.stringValue { annotations[key] = text } }
        }
        if let platform = object["platform"]?.objectValue {
            self.platform = (platform["os"]?.stringValue ?? "", platform["architecture"]?.stringValue ?? "")
        }
    }

    var json: JSONValue {
        var object: JSONObject = ["mediaType": .string(mediaType), "digest": .string(digest.description), "size": .int(size)]
        if !annotations.isEmpty {
            object["annotations"] = .object(JSONObject(annotations.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
        }
        if let platform {
            object["platform"] = ["os": .string(platform.os), "architecture": .string(platform.architecture)]
        }
        return .object(object)
    }
}

/// A manifest or an index, told apart by its media type or, failing that, its shape.
enum ManifestDocument: Sendable {
    case manifest(ImageManifest)
    case index([OCIDescriptor])

    static func parse(_ bytes: [UInt8]) throws(OCIError) -> ManifestDocument {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes, limits: JSONParseLimits(maxDepth: 32, maxBytes: 4 << 20))
        } catch {
            throw OCIError(description: "the manifest is not valid JSON (\(error))")
        }
        guard let object = json.objectValue else { throw OCIError(description: "the manifest is not a JSON object") }
        guard object["schemaVersion"]?.intValue == 2 else { throw OCIError(description: "the manifest's schemaVersion is not 2") }
        let mediaType = object["mediaType"]?.stringValue ?? ""
        if OCIMediaType.isIndex(mediaType) || (mediaType.isEmpty && object["manifests"] != nil) {
            guard let list = object["manifests"]?.arrayValue else { throw OCIError(description: "the index has no manifests") }
            var descriptors: [OCIDescriptor] = []
            for (i, item) in list.enumerated() { descriptors.append(try OCIDescriptor(json: item, what: "index entry \(i)")) }
            return .index(descriptors)
        }
        guard let config = object["config"] else { throw OCIError(description: "the manifest has no config") }
        guard let layerList = object["layers"]?.arrayValue else { throw OCIError(description: "the manifest has no layers") }
        var layers: [OCIDescriptor] = []
        for (i, item) in layerList.enumerated() { layers.append(try OCIDescriptor(json: item, what: "layer \(i)")) }
        return .manifest(ImageManifest(mediaType: mediaType.isEmpty ? OCIMediaType.ociManifest : mediaType,
                                       config: try OCIDescriptor(json: config, what: "the config descriptor"), layers: layers))
    }
}

struct ImageManifest: Sendable, Equatable {
    var mediaType: String
    var config: OCIDescriptor
    var layers: [OCIDescriptor]
    var annotations: [String: String] = [:]

    var json: JSONValue {
        var object: JSONObject = [
            "schemaVersion": 2, "mediaType": .string(mediaType), "config": config.json,
            "layers": .array(layers.map(\.json)),
        ]
        if !annotations.isEmpty {
            object["annotations"] = .object(JSONObject(annotations.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) }))
        }
        return .object(object)
    }
}

/// What the runtime needs from an image config.
struct ImageConfiguration: Sendable, Equatable {
    var entrypoint: [String] = []
    var cmd: [String] = []
    var env: [String] = []
    var workingDir = ""
    var user = ""
    var diffIDs: [Digest] = []

    static func parse(_ bytes: [UInt8]) throws(OCIError) -> ImageConfiguration {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes, limits: JSONParseLimits(maxDepth: 64, maxBytes: 8 << 20))
        } catch {
            throw OCIError(description: "the image config is not valid JSON (\(error))")
        }
        guard let object = json.objectValue else { throw OCIError(description: "the image config is not a JSON object") }
        var result = ImageConfiguration()
        guard let rootfs = object["rootfs"]?.objectValue, let ids = rootfs["diff_ids"]?.arrayValue else {
            throw OCIError(description: "the image config has no rootfs.diff_ids")
        }
        for id in ids {
            guard let text = id.stringValue, let digest = Digest(text) else {
                throw OCIError(description: "the image config has a diff_id that is not a sha256 digest")
            }
            result.diffIDs.append(digest)
        }
        if let config = object["config"]?.objectValue {
            func strings(_ key: String) -> [String] { config[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
            result.entrypoint = strings("Entrypoint")
            result.cmd = strings("Cmd")
            result.env = strings("Env")
            result.workingDir = config["WorkingDir"]?.stringValue ?? ""
            result.user = config["User"]?.stringValue ?? ""
        }
        return result
    }
}

/// The platform a multi-architecture index is narrowed to.
enum OCIPlatform {
    static var architecture: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    static func choose(from entries: [OCIDescriptor]) -> OCIDescriptor? {
        entries.first { $0.platform?.os == "linux" && $0.platform?.architecture == architecture }
            ?? (entries.count == 1 && entries[0].platform == nil ? entries[0] : nil)
    }
}

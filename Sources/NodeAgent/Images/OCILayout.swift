#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel
import Sodium

#if canImport(Glibc)
import Glibc
#endif

/// The store's directory: an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) that skopeo and
/// umoci can read as is, plus `layers/sha256/<diffID hex>` (unpacked layers) and `tmp/` (blobs in flight).
///
/// Only paths, no state: safe to use from any thread. Writers of `index.json` hold `index.lock` (flock), so the
/// CLI can import into the data directory of a running peer.
struct OCILayout: Sendable {
    let root: String

    var blobsDirectory: String { root + "/blobs/sha256" }
    var temporaryDirectory: String { root + "/tmp" }
    var layersDirectory: String { root + "/layers/sha256" }
    var indexPath: String { root + "/index.json" }

    func blobPath(_ digest: Digest) -> String { blobsDirectory + "/" + digest.hex }
    func layerDirectory(_ diffID: Digest) -> String { layersDirectory + "/" + diffID.hex }

    static let manifestLimit = 4 << 20

    func create() throws(ImageFiles.Failure) {
        for directory in [blobsDirectory, temporaryDirectory, layersDirectory] { try ImageFiles.makeDirectory(directory) }
        if !ImageFiles.exists(root + "/oci-layout") {
            try ImageFiles.writeAtomically(root + "/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        }
        if !ImageFiles.exists(indexPath) { try writeIndex([]) }
        // Leftovers of an interrupted import or unpack.
        if let names = ImageFiles.list(temporaryDirectory) {
            for name in names { ImageFiles.removeTree(temporaryDirectory + "/" + name) }
        }
        if let names = ImageFiles.list(layersDirectory) {
            for name in names where name.hasPrefix(".") { ImageFiles.removeTree(layersDirectory + "/" + name) }
        }
    }

    func readIndex() throws(OCIError) -> [OCIDescriptor] {
        let bytes: [UInt8]
        do {
            bytes = try ImageFiles.readFile(indexPath, limit: 16 << 20)
        } catch {
            throw OCIError(description: error.description)
        }
        return try OCILayout.parseIndex(bytes, what: indexPath)
    }

    static func parseIndex(_ bytes: [UInt8], what: String) throws(OCIError) -> [OCIDescriptor] {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes, limits: JSONParseLimits(maxDepth: 32, maxBytes: 16 << 20))
        } catch {
            throw OCIError(description: "\(what) is not valid JSON (\(error))")
        }
        guard json["schemaVersion"]?.intValue == 2, let list = json["manifests"]?.arrayValue else {
            throw OCIError(description: "\(what) is not an OCI image index")
        }
        var result: [OCIDescriptor] = []
        for (i, item) in list.enumerated() { result.append(try OCIDescriptor(json: item, what: "\(what) entry \(i)")) }
        return result
    }

    func writeIndex(_ entries: [OCIDescriptor]) throws(ImageFiles.Failure) {
        let json: JSONValue = ["schemaVersion": 2, "mediaType": .string(OCIMediaType.ociIndex), "manifests": .array(entries.map(\.json))]
        try ImageFiles.writeAtomically(indexPath, Array(json.serialized().utf8))
    }

    /// Runs `body` holding the index lock; the body reads, changes and writes the index.
    func withIndexLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(root + "/index.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageFiles.Failure(description: "cannot open \(root)/index.lock: \(ImageFiles.errnoText())") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ImageFiles.Failure(description: "cannot lock \(root)/index.lock: \(ImageFiles.errnoText())") }
        }
        defer { _ = flock(fd, LOCK_UN) }
        return try body()
    }

    func hasBlob(_ digest: Digest) -> Bool { ImageFiles.exists(blobPath(digest)) }

    /// Stores bytes under their digest; refuses them if `expected` is given and differs.
    @discardableResult
    func putBlob(_ bytes: [UInt8], expected: Digest? = nil) throws -> Digest {
        let digest = Digest.of(bytes)
        if let expected, expected != digest {
            throw OCIError(description: "content does not match its digest: expected \(expected), got \(digest)")
        }
        if hasBlob(digest) { return digest }
        let temporary = temporaryDirectory + "/" + ImageFiles.randomName()
        try ImageFiles.writeAtomically(temporary, bytes)
        guard rename(temporary, blobPath(digest)) == 0 else {
            unlink(temporary)
            throw ImageFiles.Failure(description: "cannot store blob \(digest): \(ImageFiles.errnoText())")
        }
        return digest
    }

    /// Streams a blob of known digest into the store: hashed while written to a temporary file, renamed into
    /// place only on a match.
    func ingest(expected: Digest, _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let temporary = temporaryDirectory + "/" + ImageFiles.randomName()
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ImageFiles.Failure(description: "cannot create \(temporary): \(ImageFiles.errnoText())") }
        var closed = false
        defer {
            if !closed { close(fd) }
            unlink(temporary)
        }
        let hasher = SHA256Stream()
        try produce { piece in
            hasher.update(piece)
            guard ImageFiles.writeAll(fd, piece) else { throw ImageFiles.Failure(description: "cannot write \(temporary): \(ImageFiles.errnoText())") }
        }
        let digest = hasher.finalize()
        guard digest == expected else {
            throw OCIError(description: "blob \(expected) does not match its digest (its content hashes to \(digest))")
        }
        guard fsync(fd) == 0 else { throw ImageFiles.Failure(description: "cannot sync \(temporary): \(ImageFiles.errnoText())") }
        close(fd)
        closed = true
        guard rename(temporary, blobPath(expected)) == 0 else {
            throw ImageFiles.Failure(description: "cannot store blob \(expected): \(ImageFiles.errnoText())")
        }
    }

    func readBlob(_ digest: Digest, limit: Int) throws(ImageFiles.Failure) -> [UInt8] {
        try ImageFiles.readFile(blobPath(digest), limit: limit)
    }
}

/// A SHA-256 hasher that yields a `Digest`.
final class SHA256Stream {
    private let hasher = SHA256.Hasher()
    func update(_ piece: UnsafeRawBufferPointer) { hasher.update(piece) }
    func finalize() -> Digest { Digest(bytes: hasher.finalize()) }
}

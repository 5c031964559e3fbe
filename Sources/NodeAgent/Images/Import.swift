#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// One image an import or pull recorded.
public struct ImportedImage: Sendable, Equatable {
    public var reference: String
    public var digest: Digest
}

extension ImageStore {
    /// Imports an oci-archive (a tar of an OCI image layout, as `skopeo copy … oci-archive:FILE:NAME` writes).
    /// Every blob is hashed as it is copied in; nothing is recorded unless every blob the archive's images need
    /// is present and matches. `name` (`repo` or `repo:tag`) names an archive whose index gives only a tag.
    public func importArchive(path: String, as name: String? = nil) async throws(ImageStoreError) -> [ImportedImage] {
        let layout = self.layout
        let indexBytes: [UInt8]
        do {
            indexBytes = try await offloadedImageWork { try ImageStore.copyBlobs(fromArchive: path, into: layout) }
        } catch let error as ImageStoreError {
            throw error
        } catch {
            throw ImageStoreError(.io, "\(path): \(error)")
        }
        let entries: [OCIDescriptor]
        do {
            entries = try OCILayout.parseIndex(indexBytes, what: "\(path): index.json")
        } catch {
            throw ImageStoreError(.invalidImage, error.description)
        }
        let images = entries.filter { !($0.annotations[OCIAnnotation.refName] ?? "").hasSuffix(".sig") }
        let signatures = entries.filter { ($0.annotations[OCIAnnotation.refName] ?? "").hasSuffix(".sig") }
        guard !images.isEmpty else { throw ImageStoreError(.invalidImage, "\(path) holds no image") }
        if name != nil && images.count > 1 {
            throw ImageStoreError(.invalidImage, "\(path) holds \(images.count) images; --as names only one")
        }
        var plan: [(OCIDescriptor, ImageReference)] = []
        for entry in images {
            let reference = try Self.importName(entry.annotations[OCIAnnotation.refName], as: name, archive: path)
            try checkComplete(entry.digest, archive: path)
            plan.append((entry, reference))
        }
        for entry in signatures {
            // Signatures under the archive's own repository names follow their images.
            guard let refName = entry.annotations[OCIAnnotation.refName], let colon = refName.lastIndex(of: ":") else { continue }
            let tag = String(refName[refName.index(after: colon)...])
            var repository = String(refName[..<colon])
            if let name, let renamed = try? ImageReference(parsing: name) { repository = renamed.repository }
            guard ImageReference.isValidRepository(repository), tag.hasPrefix("sha256-") else { continue }
            try checkComplete(entry.digest, archive: path)
            try recordEntry(entry, repository: repository, tag: tag)
        }
        var result: [ImportedImage] = []
        for (entry, reference) in plan {
            try recordEntry(entry, repository: reference.repository, tag: reference.tag)
            result.append(ImportedImage(reference: reference.name, digest: entry.digest))
        }
        return result
    }

    private func recordEntry(_ entry: OCIDescriptor, repository: String, tag: String?) throws(ImageStoreError) {
        var plain = entry
        plain.annotations = [:]
        plain.platform = nil
        if plain.mediaType.isEmpty { plain.mediaType = OCIMediaType.ociManifest }
        try record(plain, repository: repository, tag: tag)
    }

    static func importName(_ refName: String?, as name: String?, archive: String) throws(ImageStoreError) -> ImageReference {
        func parse(_ text: String) throws(ImageStoreError) -> ImageReference {
            do {
                return try ImageReference(parsing: text)
            } catch {
                throw ImageStoreError(.invalidReference, error.description)
            }
        }
        // A ref.name without '/' or ':' is a bare tag (OCI allows either).
        let bareTag = refName.flatMap { $0.contains("/") || $0.contains(":") ? nil : $0 }
        if let name {
            var reference = try parse(name)
            if !name.contains("@"), !(name.split(separator: "/").last ?? "").contains(":"), let bareTag {
                guard ImageReference.isValidTag(bareTag) else { throw ImageStoreError(.invalidReference, "'\(bareTag)' is not a valid tag") }
                reference.tag = bareTag
            }
            reference.digest = nil
            return reference
        }
        guard let refName else {
            throw ImageStoreError(.invalidImage, "\(archive) does not name its image; give it a name with --as NAME[:TAG]")
        }
        if let bareTag {
            throw ImageStoreError(.invalidImage, "\(archive) names its image only by the tag '\(bareTag)'; give it a name with --as NAME")
        }
        var reference = try parse(refName)
        reference.digest = nil
        return reference
    }

    /// Fails unless the manifest (or index) and everything it references are stored and well-formed.
    private func checkComplete(_ digest: Digest, archive: String) throws(ImageStoreError) {
        let bytes = try readVerified(digest, what: "manifest")
        let document: ManifestDocument
        do {
            document = try ManifestDocument.parse(bytes)
        } catch {
            throw ImageStoreError(.invalidImage, "\(archive): manifest \(digest): \(error)")
        }
        switch document {
        case .index(let children):
            guard let chosen = OCIPlatform.choose(from: children) else {
                throw ImageStoreError(.invalidImage, "\(archive): index \(digest) has no manifest for linux/\(OCIPlatform.architecture)")
            }
            try checkComplete(chosen.digest, archive: archive)
        case .manifest(let manifest):
            for blob in [manifest.config] + manifest.layers where !layout.hasBlob(blob.digest) {
                throw ImageStoreError(.invalidImage, "\(archive) lacks blob \(blob.digest) that manifest \(digest) needs")
            }
        }
    }

    /// Streams every `blobs/sha256/<hex>` member into the store (refusing mismatches) and returns index.json.
    static func copyBlobs(fromArchive path: String, into layout: OCILayout) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageStoreError(.io, "cannot open \(path): \(ImageFiles.errnoText())") }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 2)
        if pread(fd, &magic, 2, 0) == 2, magic == [0x1F, 0x8B] {
            throw ImageStoreError(.invalidImage, "\(path) is gzip-compressed; an oci-archive is a plain tar (gunzip it first)")
        }
        let reader = TarReader(fd: fd)
        var indexBytes: [UInt8]?
        var sawLayout = false
        do {
            while let entry = try reader.next() {
                guard entry.kind == .file else { continue }
                let name = (try? LayerUnpacker.safePath(entry.path)) ?? ""
                if name == "index.json" {
                    indexBytes = try reader.readAllData(limit: 16 << 20)
                } else if name == "oci-layout" {
                    let text = String(decoding: try reader.readAllData(limit: 4096), as: UTF8.self)
                    guard text.contains("\"imageLayoutVersion\"") else {
                        throw ImageStoreError(.invalidImage, "\(path): oci-layout is not an OCI layout marker")
                    }
                    sawLayout = true
                } else if name.hasPrefix("blobs/sha256/"), let digest = Digest(hex: String(name.dropFirst("blobs/sha256/".count))) {
                    if layout.hasBlob(digest) { continue }
                    do {
                        try layout.ingest(expected: digest) { sink in try reader.readData(sink) }
                    } catch let error as OCIError {
                        throw ImageStoreError(.tampered, "\(path): \(error.description)")
                    }
                }
            }
        } catch let error as ImageStoreError {
            throw error
        } catch let error as TarReader.Malformed {
            throw ImageStoreError(.invalidImage, "\(path) is not a valid oci-archive: \(error.description)")
        }
        guard sawLayout, let indexBytes else {
            throw ImageStoreError(.invalidImage, "\(path) is not an oci-archive (no oci-layout and index.json at its top)")
        }
        return indexBytes
    }
}

import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NodeAgent
import Sodium
#if canImport(Glibc)
import Glibc
#endif

/// `peer image …`: the image store in a peer's data directory, usable while the peer runs (the store locks its
/// index for each change).
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Import, sign and list the images in a peer's data directory.",
        subcommands: [ImageImport.self, ImageSign.self, ImageList.self])
}

struct ImageStoreOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The peer's data directory (default: ./peer-data).")
    var dataDir = "./peer-data"

    func openStore(creating: Bool) throws -> ImageStore {
        var info = stat()
        if !creating, stat(dataDir, &info) != 0 || info.st_mode & S_IFMT != S_IFDIR {
            throw fail("no data directory at \(dataDir) (give --data-dir)")
        }
        var logger = Logger(label: "peer.image")
        logger.logLevel = .warning
        do {
            return try ImageStore(directory: dataDir + "/images", logger: logger)
        } catch {
            throw fail(error.description)
        }
    }
}

struct ImageImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an oci-archive, checking every blob against its digest.",
        discussion: "skopeo copy oci:layout:1 oci-archive:web.tar:demo/web:1 && peer image import web.tar")

    @Argument(help: "The oci-archive (a tar of an OCI image layout).")
    var file: String

    @Option(name: .customLong("as"), help: "The image's name, NAME[:TAG], when the archive names it only by tag (or not at all).")
    var name: String?

    @OptionGroup var store: ImageStoreOptions

    func run() async throws {
        let images = try store.openStore(creating: true)
        do {
            for image in try await images.importArchive(path: file, as: name) {
                print("imported \(image.reference) \(image.digest)")
            }
        } catch {
            throw fail(error.description)
        }
    }
}

struct ImageSign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign an image with an Ed25519 key; the signature is stored with the image and travels with it.",
        discussion: "peer keygen signing --out signing.key && peer image sign --key signing.key demo/web:1")

    @Option(help: "Private key file written by 'peer keygen signing'.")
    var key: String

    @Argument(help: "The image, NAME:TAG or NAME@sha256:….")
    var reference: String

    @OptionGroup var store: ImageStoreOptions

    func run() async throws {
        guard let text = try? String(contentsOfFile: key, encoding: .utf8) else {
            throw fail("cannot read the key file \(key)")
        }
        let lines = text.split(separator: "\n").map { trimmingBlanks($0) }
        guard lines.first == SigningKeygen.header, lines.count >= 2, let pair = try? SigningKeyPair(seedBase64: lines[1]) else {
            throw fail("\(key) is not a private key written by 'peer keygen signing'")
        }
        let images = try store.openStore(creating: false)
        do {
            let digest = try await images.sign(reference: reference, key: pair)
            print("signed \(reference) \(digest) with key \(pair.publicKey.base64EncodedString)")
        } catch {
            throw fail(error.description)
        }
    }
}

struct ImageList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the images in the store.")

    @OptionGroup var store: ImageStoreOptions

    func run() async throws {
        let images = try store.openStore(creating: false)
        let rows = [["REFERENCE", "DIGEST", "SIZE", "SIGNATURES"]] + (await images.images()).map {
            [$0.reference, "sha256:" + $0.digest.short, ImageList.humanSize($0.size), "\($0.signatures)"]
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0.0 + String(repeating: " ", count: $0.1 + 3 - $0.0.count) }.joined().trimmingTrailingBlanks())
        }
    }

    static func humanSize(_ bytes: Int64) -> String {
        if bytes < 1024 { return "\(bytes) B" }
        if bytes < 1 << 20 { return "\((bytes + 512) / 1024) KiB" }
        // One decimal, rounded half up (as "%.1f").
        let tenths = (bytes * 10 + (1 << 19)) >> 20
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}

/// `peer keygen signing`: an Ed25519 key pair for `peer image sign`; the public half goes into the trust policy.
enum SigningKeygen {
    /// Marks the private half, so a public key file is never mistaken for it (both are 32 bytes of base64).
    static let header = "# peer signing key (Ed25519 seed): keep it secret"

    static func run(out: String?) throws {
        let path = out ?? "signing.key"
        let pair: SigningKeyPair
        do {
            pair = try SigningKeyPair.generate()
        } catch {
            throw fail("cannot generate a key: \(error)")
        }
        let publicKey = pair.publicKey.base64EncodedString
        try writeNew(path, header + "\n" + pair.seedBase64EncodedString() + "\n", mode: 0o600)
        try writeNew(path + ".pub", publicKey + "\n", mode: 0o644)
        print(publicKey)
    }

    /// Never overwrites: a lost signing key cannot be recovered.
    private static func writeNew(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw fail("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0, close(fd) == 0 else {
            throw fail("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// Without leading and trailing spaces and tabs.
private func trimmingBlanks(_ line: Substring) -> String {
    String(line.drop { $0 == " " || $0 == "\t" }).trimmingTrailingBlanks()
}

extension String {
    /// Without trailing whitespace.
    fileprivate func trimmingTrailingBlanks() -> String {
        guard let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[...last])
    }
}

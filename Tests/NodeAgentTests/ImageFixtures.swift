import Foundation
import Logging
import Synchronization
@testable import NodeAgent
import Sodium
import Testing

/// Builds small OCI images from Debian's busybox-static in a scratch directory, with the system tar, gzip
/// and imageSHA256Sum (so the digests the store checks are computed by other code than the store's).
struct ImageScratch {
    let path: String

    init() throws {
        var template = Array("/tmp/peer-images-test-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {  // justified: a non-empty array has a base
            throw ImageFixtureError("mkdtemp failed")
        }
        path = String(cString: made)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

struct ImageFixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a shell command; throws with its output when it fails. The wait happens on a thread of its own: a
/// test that blocked a thread of the shared concurrency pool (two on a two-core CI machine) stalled every other
/// suite running beside it — a single-node store there missed its 10 s election deadline.
@discardableResult
func imageShell(_ command: String) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output: Data = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: output)
        }
    }
    let text = String(decoding: output, as: UTF8.self)
    guard process.terminationStatus == 0 else { throw ImageFixtureError("`\(command)` exited \(process.terminationStatus): \(text)") }
    return text
}

func imageSHA256Sum(_ path: String) async throws -> String {
    String(try await imageShell("sha256sum '\(path)'").prefix(64))
}

func readImageBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeImageBytes(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

struct ImageFixtureImage {
    var layout: String
    var archive: String
    var refName: String
    var manifestDigest: Digest
    var configDigest: Digest
    var layerDigests: [Digest]
    var diffIDs: [Digest]
}

enum ImageFixture {
    /// A root file system: busybox, a few applet links, /etc/passwd and a web page.
    static func busyboxRoot(at root: String, page: String = "hello from image") async throws {
        try await imageShell("""
            set -e; mkdir -p '\(root)/bin' '\(root)/etc' '\(root)/www' '\(root)/tmp'
            cp /bin/busybox '\(root)/bin/busybox'
            for a in sh echo cat ls id httpd; do ln -s busybox '\(root)/bin/'$a; done
            echo 'root:x:0:0:root:/root:/bin/sh' > '\(root)/etc/passwd'
            printf '%s\\n' '\(page)' > '\(root)/www/index.html'
            """)
    }

    /// A deterministic uncompressed layer tar of a directory.
    static func tarDirectory(_ directory: String, to tarPath: String) async throws {
        try await imageShell("tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --xattrs -C '\(directory)' -cf '\(tarPath)' .")
    }

    /// An OCI layout (and an oci-archive of it) from uncompressed layer tars, lowest first.
    static func image(in scratch: String, name: String = "image", layerTars: [String], refName: String = "demo/web:1",
                      cmd: [String] = ["httpd", "-f", "-p", "8080", "-h", "/www"], env: [String] = ["PATH=/bin"]) async throws -> ImageFixtureImage {
        let layout = "\(scratch)/\(name)-layout"
        try await imageShell("mkdir -p '\(layout)/blobs/sha256'")
        var layerDigests: [Digest] = []
        var diffIDs: [Digest] = []
        var layerJSON: [String] = []
        for tar in layerTars {
            let diffID = try await imageSHA256Sum(tar)
            try await imageShell("gzip -n -c '\(tar)' > '\(tar).gz'")
            let digest = try await imageSHA256Sum("\(tar).gz")
            let size = try FileManager.default.attributesOfItem(atPath: "\(tar).gz")[.size] as? Int ?? 0
            try await imageShell("cp '\(tar).gz' '\(layout)/blobs/sha256/\(digest)'")
            layerDigests.append(Digest(hex: digest)!)  // justified: imageSHA256Sum prints 64 hex digits
            diffIDs.append(Digest(hex: diffID)!)  // justified: as above
            layerJSON.append(#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\#(digest)","size":\#(size)}"#)
        }
        func quoted(_ items: [String]) -> String { "[" + items.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
        let config = #"{"architecture":"amd64","os":"linux","config":{"Env":\#(quoted(env)),"Cmd":\#(quoted(cmd)),"WorkingDir":"/www"},"rootfs":{"type":"layers","diff_ids":\#(quoted(diffIDs.map(\.description)))}}"#
        let configDigest = Digest.of(Array(config.utf8))
        try writeImageBytes("\(layout)/blobs/sha256/\(configDigest.hex)", Array(config.utf8))
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.utf8.count)},"layers":[\#(layerJSON.joined(separator: ","))]}"#
        try writeImageBytes("\(scratch)/\(name)-manifest.json", Array(manifest.utf8))
        let manifestHex = try await imageSHA256Sum("\(scratch)/\(name)-manifest.json")
        try await imageShell("cp '\(scratch)/\(name)-manifest.json' '\(layout)/blobs/sha256/\(manifestHex)'")
        let index = #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:\#(manifestHex)","size":\#(manifest.utf8.count),"annotations":{"org.opencontainers.image.ref.name":"\#(refName)"}}]}"#
        try writeImageBytes("\(layout)/index.json", Array(index.utf8))
        try writeImageBytes("\(layout)/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        let archive = "\(scratch)/\(name).tar"
        try await imageShell("tar -C '\(layout)' -cf '\(archive)' oci-layout index.json blobs")
        return ImageFixtureImage(layout: layout, archive: archive, refName: refName, manifestDigest: Digest(hex: manifestHex)!,  // justified: imageSHA256Sum output
                         configDigest: configDigest, layerDigests: layerDigests, diffIDs: diffIDs)
    }

    /// The usual one-layer busybox image.
    static func busybox(in scratch: String, name: String = "busybox", refName: String = "demo/web:1", page: String = "hello from image") async throws -> ImageFixtureImage {
        let root = "\(scratch)/\(name)-root"
        try await busyboxRoot(at: root, page: page)
        try await tarDirectory(root, to: "\(scratch)/\(name)-layer.tar")
        return try await image(in: scratch, name: name, layerTars: ["\(scratch)/\(name)-layer.tar"], refName: refName)
    }

    static func key(_ byte: UInt8) throws -> SigningKeyPair {
        try SigningKeyPair(seed: [UInt8](repeating: byte, count: 32))
    }

    static func policy(trusting keys: [SigningKeyPair], mode: TrustPolicy.Mode = .enforce) -> TrustPolicy {
        TrustPolicy(entries: [TrustPolicy.Entry(prefix: "", keys: keys.map(\.publicKey), mode: mode)])
    }
}

/// A ustar writer for layers system tar will not make (escaping paths, devices).
struct ImageTarWriter {
    private(set) var bytes: [UInt8] = []

    mutating func add(_ name: String, type: Character = "0", content: [UInt8] = [], link: String = "", mode: Int = 0o644,
                      major: Int = 0, minor: Int = 0) {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ offset: Int, _ length: Int) {
            for (i, b) in text.utf8.prefix(length).enumerated() { header[offset + i] = b }
        }
        func octal(_ value: Int, _ offset: Int, _ length: Int) {
            put(String(repeating: "0", count: max(0, length - 1 - String(value, radix: 8).count)) + String(value, radix: 8), offset, length - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(content.count, 124, 12)
        octal(0, 136, 12)
        put("        ", 148, 8)
        header[156] = type.asciiValue ?? 0x30
        put(link, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        octal(major, 329, 8)
        octal(minor, 337, 8)
        let sum = header.reduce(0) { $0 + Int($1) }
        octal(sum, 148, 7)
        header[155] = 0x20
        bytes += header
        bytes += content
        bytes += [UInt8](repeating: 0, count: (512 - content.count % 512) % 512)
    }

    func finished() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}

/// A store in its own directory, with a logger that stays quiet.
func makeImageStore(_ scratch: String, _ name: String = "store", policy: TrustPolicy = TrustPolicy(),
               sources: [PullSource] = [], transport: (any DistributionTransport)? = nil) throws -> ImageStore {
    var quiet = Logger(label: "images-test")
    quiet.logLevel = .critical
    return try ImageStore(directory: "\(scratch)/\(name)/images", policy: policy, sources: { sources }, transport: transport, logger: quiet)
}

/// A logger whose lines a test can read back (level, message and metadata).
final class CapturedLog: Sendable {
    private let storage = Mutex<[String]>([])

    var lines: [String] { storage.withLock { $0 } }

    var logger: Logger {
        Logger(label: "images-test") { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(event.level) \(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            log.storage.withLock { $0.append(text) }
        }
    }
}

import Foundation
@testable import NodeAgent
import Sodium
import Testing

@Suite struct ImageLayerTests {
    /// Imports an image of the given uncompressed layers, signed and trusted, and resolves it.
    func resolve(_ scratch: ImageScratch, layers: [[UInt8]]) async throws -> Result<ResolvedImage, ImageRefusal> {
        var tars: [String] = []
        for (i, layer) in layers.enumerated() {
            tars.append("\(scratch.path)/layer\(i).tar")
            try writeImageBytes(tars[i], layer)
        }
        let image = try await ImageFixture.image(in: scratch.path, layerTars: tars)
        let key = try ImageFixture.key(1)
        let store = try makeImageStore(scratch.path, policy: ImageFixture.policy(trusting: [key]))
        _ = try await store.importArchive(path: image.archive)
        try await store.sign(reference: "demo/web:1", key: key)
        return await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
    }

    @Test func whiteoutsBecomeOverlayWhiteoutsAndHideLowerFiles() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        var lower = ImageTarWriter()
        lower.add("etc/", type: "5", mode: 0o755)
        lower.add("etc/a", content: Array("a\n".utf8))
        lower.add("etc/b", content: Array("b\n".utf8))
        lower.add("opt/", type: "5", mode: 0o755)
        lower.add("opt/x/", type: "5", mode: 0o755)
        lower.add("opt/x/1", content: Array("1\n".utf8))
        var upper = ImageTarWriter()
        upper.add("./etc/", type: "5", mode: 0o755)
        upper.add("./etc/.wh.a")
        upper.add("./opt/", type: "5", mode: 0o755)
        upper.add("./opt/x/", type: "5", mode: 0o755)
        upper.add("./opt/x/.wh..wh..opq")
        upper.add("./opt/x/2", content: Array("2\n".utf8))
        let resolved = try await resolve(scratch, layers: [lower.finished(), upper.finished()]).get()
        #expect(resolved.layerDirectories.count == 2)
        let top = resolved.layerDirectories[1]
        var info = stat()
        #expect(lstat("\(top)/etc/a", &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(top)/etc/.wh.a"))
        #expect(!FileManager.default.fileExists(atPath: "\(top)/opt/x/.wh..wh..opq"))
        #expect(ImageXattr.get("\(top)/opt/x", name: "trusted.overlay.opaque") == "y")

        // The kernel agrees: stacked as overlayfs lowerdirs (top first), the whiteouts hide the lower files.
        let merged = "\(scratch.path)/merged"
        try FileManager.default.createDirectory(atPath: merged, withIntermediateDirectories: true)
        try await imageShell("mount -t overlay overlay -o 'lowerdir=\(resolved.layerDirectories.reversed().joined(separator: ":"))' '\(merged)'")
        defer { _ = umount(merged) }
        #expect(!FileManager.default.fileExists(atPath: "\(merged)/etc/a"))
        #expect(try String(contentsOfFile: "\(merged)/etc/b", encoding: .utf8) == "b\n")
        #expect(!FileManager.default.fileExists(atPath: "\(merged)/opt/x/1"))
        #expect(try String(contentsOfFile: "\(merged)/opt/x/2", encoding: .utf8) == "2\n")
    }

    @Test(arguments: [
        ("absolute path", [("/tmp/peer-images-escape-abs", "0", "")], "absolute path"),
        ("dot-dot", [("../../../../tmp/peer-images-escape-dots", "0", "")], "escapes the layer"),
        ("inner dot-dot", [("a/../../peer-images-escape", "0", "")], "escapes the layer"),
        ("through a symlink", [("ln", "2", "/tmp"), ("ln/peer-images-escape-link", "0", "")], "goes through the symbolic link"),
        ("hard link outside", [("passwd", "1", "../../../../etc/passwd")], "escapes the layer"),
        ("hard link through a symlink", [("ln", "2", "/etc"), ("pw", "1", "ln/passwd")], "goes through the symbolic link"),
        ("block device", [("dev/sda", "4", "")], "block device"),
    ])
    func escapingLayersAreRefused(_ testCase: (String, [(String, String, String)], String)) async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        var tar = ImageTarWriter()
        tar.add("ok", content: Array("fine\n".utf8))
        for (name, type, link) in testCase.1 {
            tar.add(name, type: Character(type), content: type == "0" ? Array("escaped\n".utf8) : [], link: link)
        }
        let result = try await resolve(scratch, layers: [tar.finished()])
        #expect(result.imageRefusal?.reason == .tampered, "\(testCase.0)")
        #expect(result.imageRefusal?.message.contains(testCase.2) == true, "\(testCase.0): \(String(describing: result.imageRefusal))")
        for leaked in ["/tmp/peer-images-escape-abs", "/tmp/peer-images-escape-dots", "/tmp/peer-images-escape-link"] {
            #expect(!FileManager.default.fileExists(atPath: leaked))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/store/images/layers/sha256").isEmpty)
    }

    @Test func truncatedAndNonGzipLayersAreErrors() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        var tar = ImageTarWriter()
        tar.add("big", content: [UInt8](repeating: 0x41, count: 4096))
        let whole = tar.finished()
        let truncated = try await resolve(scratch, layers: [Array(whole.prefix(1024))])
        #expect(truncated.imageRefusal?.reason == .pull)
        #expect(truncated.imageRefusal?.message.contains("truncated") == true, "\(String(describing: truncated.imageRefusal))")

        // A layer blob that is not gzip at all, named by its real digest.
        let other = try ImageScratch()
        defer { other.remove() }
        let image = try await ImageFixture.busybox(in: other.path)
        let junk = Array("this is not gzip".utf8)
        let junkDigest = Digest.of(junk)
        let manifestPath = "\(image.layout)/blobs/sha256/\(image.manifestDigest.hex)"
        let manifest = try String(contentsOfFile: manifestPath, encoding: .utf8)
            .replacingOccurrences(of: image.layerDigests[0].description, with: junkDigest.description)
        try writeImageBytes("\(image.layout)/blobs/sha256/\(junkDigest.hex)", junk)
        let manifestDigest = Digest.of(Array(manifest.utf8))
        try writeImageBytes("\(image.layout)/blobs/sha256/\(manifestDigest.hex)", Array(manifest.utf8))
        let index = try String(contentsOfFile: "\(image.layout)/index.json", encoding: .utf8)
            .replacingOccurrences(of: image.manifestDigest.description, with: manifestDigest.description)
        try writeImageBytes("\(image.layout)/index.json", Array(index.utf8))
        try await imageShell("tar -C '\(image.layout)' -cf '\(other.path)/junk.tar' .")
        let store = try makeImageStore(other.path, policy: TrustPolicy(defaultMode: .warn))
        _ = try await store.importArchive(path: "\(other.path)/junk.tar")
        let result = await store.ensureImage(reference: "demo/web:1", namespace: "default", pullPolicy: "IfNotPresent")
        #expect(result.imageRefusal?.reason == .pull)
        #expect(result.imageRefusal?.message.contains("not valid gzip") == true, "\(String(describing: result.imageRefusal))")
    }

    @Test func tarReaderHandlesLongNamesAndPAX() async throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let deep = String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 130)
        try await imageShell("mkdir -p '\(scratch.path)/src/\(String(repeating: "d", count: 120))' && echo x > '\(scratch.path)/src/\(deep)'")
        try await imageShell("tar --format=gnu -C '\(scratch.path)/src' -cf '\(scratch.path)/gnu.tar' . && tar --format=pax -C '\(scratch.path)/src' -cf '\(scratch.path)/pax.tar' .")
        for format in ["gnu", "pax"] {
            let fd = open("\(scratch.path)/\(format).tar", O_RDONLY)
            defer { close(fd) }
            let reader = TarReader(fd: fd)
            var paths: [String] = []
            while let entry = try reader.next() { paths.append(try LayerUnpacker.safePath(entry.path)) }
            #expect(paths.contains(deep), "\(format): \(paths)")
        }
    }
}

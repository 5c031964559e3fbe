import Foundation
@testable import NodeAgent
import Testing

/// The node agent's POSIX file helpers, checked against what the system itself reports (FileManager and stat).
@Suite struct FileHelperTests {
    @Test func writeCreatesParentsWithTheModeAndReplacesWhole() throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let path = scratch.path + "/a/b/c/file"
        try Files.write(path, "first, and longer", mode: 0o600)
        try Files.write(path, "second", mode: 0o640)
        #expect(Files.readText(path) == "second")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o640)
        #expect(!Files.exists(path + ".tmp"))
        var info = stat()
        #expect(stat(scratch.path + "/a/b", &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
    }

    @Test func makeDirectoryGivesEachNewDirectoryTheModeAndRefusesAFile() throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        // Group-writable: the usual umask (022) would take that bit away, the helper puts it back.
        try Files.makeDirectory(scratch.path + "/x/y", mode: 0o775)
        for directory in ["/x", "/x/y"] {
            var info = stat()
            #expect(stat(scratch.path + directory, &info) == 0)
            #expect(info.st_mode & 0o7777 == 0o775)
        }
        try Files.makeDirectory(scratch.path + "/x/y")  // exists already: fine
        try Files.write(scratch.path + "/plain", "x")
        #expect(throws: (any Error).self) { try Files.makeDirectory(scratch.path + "/plain/below") }
        #expect(throws: (any Error).self) { try Files.makeDirectory(scratch.path + "/plain") }
    }

    @Test func listAndRemoveTreeMatchTheFileSystem() throws {
        let scratch = try ImageScratch()
        defer { scratch.remove() }
        let root = scratch.path + "/tree"
        try Files.write(root + "/one", "1")
        try Files.write(root + "/sub/two", "2")
        try Files.write(root + "/sub/deeper/three", "3")
        try Files.write(root + "/.hidden", "h")
        let outside = scratch.path + "/outside"
        try Files.write(outside + "/kept", "k")
        // A link to a directory outside: removal takes the link, never what it points to.
        #expect(symlink(outside, root + "/sub/link") == 0)
        #expect(Files.list(root) == (try FileManager.default.contentsOfDirectory(atPath: root)).sorted())
        #expect(Files.list(root) == [".hidden", "one", "sub"])
        #expect(Files.list(root + "/missing") == [])
        #expect(ImageFiles.list(root + "/missing") == nil)
        Files.remove(root)
        #expect(!Files.exists(root))
        #expect(Files.readText(outside + "/kept") == "k")
        Files.remove(root)  // already gone: nothing happens
        try Files.write(scratch.path + "/single", "s")
        Files.remove(scratch.path + "/single")
        #expect(!Files.exists(scratch.path + "/single"))
    }
}

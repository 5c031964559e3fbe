import Glibc
import Testing
@testable import Consensus

@Suite struct StorageCRCTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // RFC 3720 (iSCSI) B.4: 32 bytes of zeros and of 0xFF.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    @Test func crc32cCanContinueFromAPreviousResult() {
        let data = Array("hello, write-ahead log".utf8)
        let split = CRC32C.checksum(data[8...], seed: CRC32C.checksum(data[..<8]))
        #expect(split == CRC32C.checksum(data))
        #expect(CRC32C.checksum(data, range: 3..<10) == CRC32C.checksum(data[3..<10]))
    }
}

/// The WAL over a real directory under /tmp.
@Suite struct StoragePOSIXTests {
    @Test func roundTripTornTailAndFlippedByteOnDisk() throws {
        let root = try makeTemporaryDirectory("wal-test")
        let fs = POSIXFileSystem()
        defer { removeDataDirectory(fs, root) }

        try {
            let (log, recovered) = try WriteAheadLog.open(directory: root, fileSystem: fs)
            #expect(recovered.entries.isEmpty)
            try log.save(
                entries: (1...20).map { WALEntry(index: $0, term: 2, kind: 1, data: Array("entry \($0)".utf8)) },
                hardState: WALHardState(term: 2, vote: 1, commit: 19))
            try log.sync()
            try log.saveSnapshot(WALSnapshot(index: 10, term: 2, configuration: [1], data: Array("state".utf8)))
            try log.append([WALEntry(index: 21, term: 3, data: [42])])
            try log.sync()
        }()
        let reopened = try WriteAheadLog.open(directory: root, fileSystem: fs).recovered
        #expect(reopened.entries.map(\.index) == Array(11...21))
        #expect(reopened.entries.last?.data == [42])
        #expect(reopened.hardState == WALHardState(term: 2, vote: 1, commit: 19))
        #expect(reopened.snapshot?.data == Array("state".utf8))

        let segments = try fs.listDirectory(root + "/wal")
        #expect(segments == ["0000000000000001-0000000000000001.wal"])
        let path = root + "/wal/" + segments[0]
        let original = try fs.readFile(path)

        // Torn tail: cut the last record in half.
        try fs.truncate(path, to: original.count - 4)
        let torn = try WriteAheadLog.open(directory: root, fileSystem: fs).recovered
        #expect(torn.entries.map(\.index) == Array(11...20))
        #expect(torn.truncatedTornBytes > 0)

        // A flipped byte in the first record, with intact records after it: refuse, naming file and offset.
        var damaged = try fs.readFile(path)
        damaged[12] ^= 0x40
        try fs.remove(path)
        try fs.append(damaged, to: path)
        try fs.sync(path)
        let failure = corruption { _ = try WriteAheadLog.open(directory: root, fileSystem: fs) }
        #expect(failure?.file == path)
        #expect(failure?.offset == 0)
        #expect(failure?.reason.contains("checksum mismatch") == true)
    }

    @Test func fileSystemPrimitivesBehave() throws {
        let root = try makeTemporaryDirectory("wal-test")
        let fs = POSIXFileSystem()
        defer {
            for name in (try? fs.listDirectory(root)) ?? [] { try? fs.remove(root + "/" + name) }
            rmdir(root + "/a/b")
            rmdir(root + "/a")
            rmdir(root)
        }
        try fs.createDirectory(root + "/a/b")
        try fs.createDirectory(root + "/a/b")
        try fs.append([1, 2, 3], to: root + "/f")
        try fs.append([4], to: root + "/f")
        try fs.write([9, 9], at: 1, to: root + "/f")
        try fs.sync(root + "/f")
        #expect(try fs.readFile(root + "/f") == [1, 9, 9, 4])
        try fs.truncate(root + "/f", to: 2)
        try fs.rename(root + "/f", to: root + "/g")
        try fs.syncDirectory(root)
        #expect(!fs.fileExists(root + "/f"))
        #expect(try fs.readFile(root + "/g") == [1, 9])
        #expect(try fs.listDirectory(root) == ["a", "g"])
        #expect(try fs.listDirectory(root + "/missing") == [])
        #expect(throws: StorageIOError.self) { try fs.readFile(root + "/missing") }
    }
}

/// The `.corrupt` details of the error `body` throws, or nil (recording an issue) if it throws something else or nothing.
func corruption(_ body: () throws -> Void) -> (file: String, offset: Int, reason: String)? {
    do {
        try body()
        Issue.record("expected WALError.corrupt, but nothing was thrown")
    } catch {
        if let walError = error as? WALError, case .corrupt(let file, let offset, let reason) = walError {
            return (file, offset, reason)
        }
        Issue.record("expected WALError.corrupt, got \(error)")
    }
    return nil
}

/// A fresh directory under /tmp (mkdtemp).
func makeTemporaryDirectory(_ prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let ok = template.withUnsafeMutableBufferPointer { buffer -> Bool in
        guard let base = buffer.baseAddress else { return false }
        return mkdtemp(base) != nil
    }
    try #require(ok)
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Removes a WAL data directory made by a test (its wal/ and snap/ files, then the directories).
func removeDataDirectory(_ fs: POSIXFileSystem, _ root: String) {
    for sub in ["wal", "snap"] {
        let dir = root + "/" + sub
        for name in (try? fs.listDirectory(dir)) ?? [] { try? fs.remove(dir + "/" + name) }
        rmdir(dir)
    }
    rmdir(root)
}

import Dispatch
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

/// The store's file primitives: whole small files, atomic replacement, streaming hashes, and a way to do
/// blocking work off Swift's cooperative pool.
enum ImageFiles {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func readFile(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot read \(path): \(errnoText())")
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= limit else { throw Failure(description: "\(path) is larger than \(limit) bytes") }
        }
    }

    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)  // justified: count > offset ≥ 0, so the base exists
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }

    /// Temporary name, fsync, rename, fsync of the directory: readers see the old or the new file, never a torn one.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(Failure) {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw Failure(description: "cannot write \(temporary): \(errnoText())") }
        let ok = bytes.withUnsafeBytes { writeAll(fd, $0) }
        guard ok, fsync(fd) == 0 else {
            let reason = errnoText()
            close(fd)
            unlink(temporary)
            throw Failure(description: "cannot write \(temporary): \(reason)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw Failure(description: "cannot rename \(temporary): \(reason)")
        }
        syncDirectory(of: path)
    }

    static func syncDirectory(of path: String) {
        let directory = path.pathDeletingLastComponent()
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(Failure) {
        // Each directory it creates gets exactly `mode`, whatever the umask (as FileManager's posixPermissions did).
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) == 0 {
                _ = chmod(prefix, mode)
            } else if errno != EEXIST {
                throw Failure(description: "cannot create \(path): \(errnoText())")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(description: "cannot create \(path): it exists and is not a directory")
        }
    }

    static func exists(_ path: String) -> Bool {
        var s = stat()
        return lstat(path, &s) == 0
    }

    /// Removes a file, a symbolic link (never what it points to) or a whole directory tree, like `rm -rf`;
    /// what cannot go (a busy mount point) stays and the rest goes.
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in list(path) ?? [] { removeTree(path + "/" + name) }
            _ = rmdir(path)
        } else {
            _ = unlink(path)
        }
    }

    /// The names in a directory (without "." and ".."), unsorted; nil when it cannot be read.
    static func list(_ path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Identifies one version of a file: a rewrite in place or a replacement changes it.
    struct Stamp: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64
    }

    static func stamp(_ path: String) -> Stamp? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return Stamp(device: UInt64(s.st_dev), inode: UInt64(s.st_ino), size: Int64(s.st_size),
                     modified: Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec),
                     changed: Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec))
    }

    /// sha256 and size of a file, read in 1 MiB pieces.
    static func hashFile(_ path: String) throws(Failure) -> (digest: Digest, size: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(errnoText())") }
        defer { close(fd) }
        let hasher = SHA256.Hasher()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot read \(path): \(errnoText())")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            size += Int64(n)
        }
        return (Digest(bytes: hasher.finalize()), size)
    }

    static func randomName() -> String {
        SHA256.hex((try? Sodium.randomBytes(count: 8)) ?? withUnsafeBytes(of: UInt64.random(in: 0...UInt64.max)) { Array($0) })
    }

    /// Runs a program (no shell) with stdin and stdout bound to files; returns its exit status and stderr.
    static func run(_ executable: String, _ arguments: [String], stdin: String? = nil, stdout: String? = nil) throws(Failure) -> (status: Int32, stderr: String) {
        var descriptors: [Int32] = []
        defer { for fd in descriptors { close(fd) } }
        var input = ChildProcess.Stream.null, output = ChildProcess.Stream.null
        if let stdin {
            let fd = open(stdin, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Failure(description: "cannot open \(stdin)") }
            descriptors.append(fd)
            input = .descriptor(fd)
        }
        if let stdout {
            let fd = open(stdout, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Failure(description: "cannot create \(stdout)") }
            descriptors.append(fd)
            output = .descriptor(fd)
        }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable, arguments, stdin: input, stdout: output, stderr: .pipe)
        } catch {
            throw Failure(description: error.description)
        }
        for fd in descriptors { close(fd) }
        descriptors = []
        let outcome = child.waitBlocking()
        // Only the first 64 KiB of what the program said, as before.
        let errorText = String(decoding: outcome.error.prefix(1 << 16), as: UTF8.self)
        return (outcome.termination.status, errorText.trimmedWhitespace())
    }
}

/// Runs blocking file and process work on a Dispatch thread, so it never stalls Swift's cooperative pool.
func offloadedImageWork<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Extended attributes on the link itself (never followed). Glibc's module map leaves out <sys/xattr.h>, so
/// the two calls are looked up once at run time.
enum ImageXattr {
    private typealias SetFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private typealias GetFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int
    private static let setter: SetFunction? = dlsym(nil, "lsetxattr").map { unsafeBitCast($0, to: SetFunction.self) }
    private static let getter: GetFunction? = dlsym(nil, "lgetxattr").map { unsafeBitCast($0, to: GetFunction.self) }

    static func set(_ path: String, name: String, value: String) -> Bool {
        guard let setter else { return false }
        let bytes = Array(value.utf8)
        return bytes.withUnsafeBytes { setter(path, name, $0.baseAddress, $0.count, 0) } == 0
    }

    static func get(_ path: String, name: String) -> String? {
        guard let getter else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { getter(path, name, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

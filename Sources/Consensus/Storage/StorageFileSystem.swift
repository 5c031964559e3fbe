// Linux-only (Glibc): the peer runs on Linux; fdatasync and O_DIRECTORY are used directly.
import Glibc

/// The few file operations the write-ahead log needs, so it runs unchanged over a real
/// directory (`POSIXFileSystem`) and over the simulator's crash-prone disk in tests.
/// Paths are '/'-separated; durability comes only from `sync` and `syncDirectory`.
public protocol StorageFileSystem: AnyObject {
    /// Names (not paths) of the files in `directory`; empty when the directory does not exist.
    func listDirectory(_ directory: String) throws -> [String]
    /// Creates the directory (and parents) if missing.
    func createDirectory(_ directory: String) throws
    func fileExists(_ path: String) -> Bool
    func readFile(_ path: String) throws -> [UInt8]
    /// Appends, creating the file when missing.
    func append(_ bytes: [UInt8], to path: String) throws
    /// Writes at `offset` (at most the current size), creating the file when missing.
    func write(_ bytes: [UInt8], at offset: Int, to path: String) throws
    func truncate(_ path: String, to size: Int) throws
    /// Makes the file's content durable (fsync/fdatasync).
    func sync(_ path: String) throws
    /// Makes creations, renames and removals in `directory` durable.
    func syncDirectory(_ directory: String) throws
    /// Atomically replaces `destination`.
    func rename(_ source: String, to destination: String) throws
    func remove(_ path: String) throws
}

public struct StorageIOError: Error, Sendable, Hashable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        let message = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(operation) \(path): \(message)"
    }
}

/// `StorageFileSystem` over POSIX file descriptors. Appends reuse one cached descriptor per file
/// (a WAL appends to one segment for a long time); other operations open and close as needed.
/// Not thread-safe: owned by the one task that drives the log.
public final class POSIXFileSystem: StorageFileSystem {
    private var appendDescriptors: [String: Int32] = [:]

    public init() {}

    deinit {
        for fd in appendDescriptors.values { _ = close(fd) }
    }

    public func listDirectory(_ directory: String) throws -> [String] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw StorageIOError(operation: "opendir", path: directory, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func createDirectory(_ directory: String) throws {
        var prefix = directory.hasPrefix("/") ? "/" : ""
        for component in directory.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StorageIOError(operation: "mkdir", path: prefix, errno: errno)
            }
            prefix += "/"
        }
    }

    public func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageIOError(operation: "open", path: path, errno: errno) }
        defer { _ = close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageIOError(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    public func append(_ bytes: [UInt8], to path: String) throws {
        let fd = try appendDescriptor(path)
        try writeAll(fd, bytes, path: path, offset: nil)
    }

    public func write(_ bytes: [UInt8], at offset: Int, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageIOError(operation: "open", path: path, errno: errno) }
        defer { _ = close(fd) }
        try writeAll(fd, bytes, path: path, offset: offset)
    }

    public func truncate(_ path: String, to size: Int) throws {
        if Glibc.truncate(path, off_t(size)) != 0 {
            throw StorageIOError(operation: "truncate", path: path, errno: errno)
        }
    }

    public func sync(_ path: String) throws {
        if let fd = appendDescriptors[path] {
            if fdatasync(fd) != 0 { throw StorageIOError(operation: "fdatasync", path: path, errno: errno) }
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageIOError(operation: "open", path: path, errno: errno) }
        defer { _ = close(fd) }
        if fsync(fd) != 0 { throw StorageIOError(operation: "fsync", path: path, errno: errno) }
    }

    public func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageIOError(operation: "open", path: directory, errno: errno) }
        defer { _ = close(fd) }
        if fsync(fd) != 0 { throw StorageIOError(operation: "fsync", path: directory, errno: errno) }
    }

    public func rename(_ source: String, to destination: String) throws {
        closeCached(source)
        closeCached(destination)
        if Glibc.rename(source, destination) != 0 {
            throw StorageIOError(operation: "rename", path: source, errno: errno)
        }
    }

    public func remove(_ path: String) throws {
        closeCached(path)
        if unlink(path) != 0 { throw StorageIOError(operation: "unlink", path: path, errno: errno) }
    }

    private func appendDescriptor(_ path: String) throws -> Int32 {
        if let fd = appendDescriptors[path] { return fd }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageIOError(operation: "open", path: path, errno: errno) }
        appendDescriptors[path] = fd
        return fd
    }

    private func closeCached(_ path: String) {
        if let fd = appendDescriptors.removeValue(forKey: path) { _ = close(fd) }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String, offset: Int?) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { buffer -> Int in
                guard let start = buffer.baseAddress else { return 0 }
                let base = start + written
                let count = buffer.count - written
                if let offset {
                    return pwrite(fd, base, count, off_t(offset + written))
                }
                return Glibc.write(fd, base, count)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageIOError(operation: "write", path: path, errno: errno)
            }
            written += n
        }
    }
}

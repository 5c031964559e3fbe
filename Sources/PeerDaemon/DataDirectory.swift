#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A peer's data directory, held under an exclusive `flock` for the life of the process so that two peers can
/// never write one Raft log. The kernel drops the lock when the process dies, even by `kill -9`, so a crashed
/// peer never leaves a stale lock behind.
public final class DataDirectory: Sendable {
    public let path: String
    public let lockPath: String
    private let lockDescriptor: Int32

    public struct LockError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(path: String) throws(LockError) {
        self.path = path
        self.lockPath = path + "/LOCK"
        try Self.makeDirectories(path)
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw LockError(description: "cannot open lock file \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readHolder(fd)
            close(fd)
            throw LockError(description: "data directory \(path) is in use by another peer: lock \(lockPath) is held\(holder.map { " by pid \($0)" } ?? "")")
        }
        // Record who holds it, for the next peer's error message.
        _ = ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.lockDescriptor = fd
    }

    deinit {
        close(lockDescriptor)
    }

    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    /// `mkdir -p` with mode 0700: the directory will hold keys and secrets.
    static func makeDirectories(_ path: String) throws(LockError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw LockError(description: "cannot create data directory \(current): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw LockError(description: "data directory \(path) is not a directory")
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

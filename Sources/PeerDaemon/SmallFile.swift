#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small files a peer keeps beside its log: keys, its gossip incarnation, configuration.
enum SmallFile {
    struct FileError: Error, CustomStringConvertible {
        let description: String
    }

    static func read(_ path: String, limit: Int = 1 << 20) throws(FileError) -> String {
        guard let file = fopen(path, "r") else {
            throw FileError(description: String(cString: strerror(errno)))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count {
                if ferror(file) != 0 { throw FileError(description: String(cString: strerror(errno))) }
                break
            }
            guard bytes.count <= limit else { throw FileError(description: "larger than \(limit) bytes") }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Write to a temporary name, fsync, rename, fsync the directory: a crash leaves the old or the new
    /// contents, never a torn mix.
    static func writeAtomically(_ path: String, _ contents: String, mode: mode_t = 0o600) throws(FileError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw FileError(description: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(contents.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw FileError(description: "cannot write \(temporary): \(reason)")
            }
            written += n
        }
        guard fsync(fd) == 0, close(fd) == 0 else { throw FileError(description: "cannot sync \(temporary)") }
        guard rename(temporary, path) == 0 else { throw FileError(description: "cannot rename \(temporary): \(String(cString: strerror(errno)))") }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

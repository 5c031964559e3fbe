#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Each container instance writes stdout and stderr (interleaved, as written) to
/// `<pod>/logs/<container>/<attempt>.log`. Rotation is by size: the live file is copied to `.1` (older ones shift
/// up, at most `maximumFiles` are kept) and truncated in place; the container opened it with O_APPEND, so its
/// next write lands at the new start.
public struct ContainerLogs: Sendable {
    public var maximumBytes: Int
    public var maximumFiles: Int

    public init(maximumBytes: Int = 10 << 20, maximumFiles: Int = 3) {
        self.maximumBytes = maximumBytes; self.maximumFiles = max(1, maximumFiles)
    }

    static func path(podDirectory: String, container: String, attempt: Int) -> String {
        "\(podDirectory)/logs/\(container)/\(attempt).log"
    }

    /// Rotates the live file if it has grown past the limit; returns true if it did.
    @discardableResult
    func rotateIfNeeded(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, Int(info.st_size) > maximumBytes else { return false }
        if maximumFiles > 1 {
            Files.remove("\(path).\(maximumFiles - 1)")
            var n = maximumFiles - 2
            while n >= 1 {
                rename("\(path).\(n)", "\(path).\(n + 1)")
                n -= 1
            }
            if let bytes = Files.read(path) { try? Files.write("\(path).1", bytes, mode: 0o640) }
        }
        truncate(path, 0)
        return true
    }

    /// The files of one instance, oldest first.
    func files(_ path: String) -> [String] {
        var out: [String] = []
        var n = maximumFiles - 1
        while n >= 1 {
            if Files.exists("\(path).\(n)") { out.append("\(path).\(n)") }
            n -= 1
        }
        if Files.exists(path) { out.append(path) }
        return out
    }

    /// The instance's log, or its last `tailLines` lines.
    func read(_ path: String, tailLines: Int?) -> [UInt8] {
        var bytes: [UInt8] = []
        for file in files(path) { bytes += Files.read(file) ?? [] }
        guard let tailLines else { return bytes }
        return Self.tail(bytes, lines: tailLines)
    }

    static func tail(_ bytes: [UInt8], lines: Int) -> [UInt8] {
        guard lines >= 0 else { return bytes }
        if lines == 0 { return [] }
        var end = bytes.count
        if end > 0, bytes[end - 1] == UInt8(ascii: "\n") { end -= 1 }
        var count = 0
        var i = end
        while i > 0 {
            i -= 1
            if bytes[i] == UInt8(ascii: "\n") {
                count += 1
                if count == lines { return Array(bytes[(i + 1)...]) }
            }
        }
        return bytes
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Mount and unmount through the syscalls (no `mount` binary per container).
enum Mounts {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func mount(source: String, target: String, type: String, flags: UInt = 0, options: String? = nil) throws {
        let r = options.map { o in o.withCString { Glibc.mount(source, target, type, flags, $0) } } ?? Glibc.mount(source, target, type, flags, nil)
        guard r == 0 else {
            throw Failure(description: "mount \(type) on \(target): \(String(cString: strerror(errno)))")
        }
    }

    /// Overlay of read-only image layers (lowest first) under a per-container writable directory.
    static func overlay(layers: [String], upper: String, work: String, target: String) throws {
        guard !layers.isEmpty else { throw Failure(description: "the image has no layers") }
        let lower = layers.reversed().joined(separator: ":")
        try mount(source: "overlay", target: target, type: "overlay", options: "lowerdir=\(lower),upperdir=\(upper),workdir=\(work)")
    }

    static func tmpfs(target: String, options: String) throws {
        try mount(source: "tmpfs", target: target, type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV), options: options)
    }

    /// Detaches whatever is mounted at `target` (and below); true if something was.
    @discardableResult
    static func unmount(_ target: String) -> Bool {
        var any = false
        while umount2(target, Int32(MNT_DETACH)) == 0 { any = true }
        return any
    }

    /// Mount points at or under `prefix`, deepest first, from /proc/self/mountinfo.
    static func mounted(under prefix: String) -> [String] {
        guard let text = Files.readText("/proc/self/mountinfo") else { return [] }
        let base = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        var found: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            let point = unescape(String(fields[4]))
            if point == base || point.hasPrefix(base + "/") { found.append(point) }
        }
        return found.sorted { $0.count > $1.count }
    }

    static func unmountAll(under prefix: String) {
        for point in mounted(under: prefix) { unmount(point) }
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var chars = Array(s)[...]
        while let c = chars.popFirst() {
            if c == "\\", chars.count >= 3, let v = UInt8(String(chars.prefix(3)), radix: 8) {
                out.append(Character(UnicodeScalar(v)))
                chars = chars.dropFirst(3)
            } else {
                out.append(c)
            }
        }
        return out
    }
}

/// Small file helpers for the shells.
enum Files {
    static func write(_ path: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
        let parent = path.pathDeletingLastComponent()
        if !parent.isEmpty { try makeDirectory(parent) }
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw Mounts.Failure(description: "open \(temporary): \(String(cString: strerror(errno)))") }
        let written = bytes.withUnsafeBytes { ImageFiles.writeAll(fd, $0) }
        close(fd)
        guard written else {
            unlink(temporary)
            throw Mounts.Failure(description: "write \(temporary): \(String(cString: strerror(errno)))")
        }
        chmod(temporary, mode_t(mode))
        guard rename(temporary, path) == 0 else {
            throw Mounts.Failure(description: "rename \(temporary): \(String(cString: strerror(errno)))")
        }
    }

    static func write(_ path: String, _ text: String, mode: Int = 0o644) throws { try write(path, Array(text.utf8), mode: mode) }

    /// Rewrites a file in place (same inode), for files bind-mounted into running containers.
    static func overwrite(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw Mounts.Failure(description: "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw Mounts.Failure(description: "write \(path): \(String(cString: strerror(errno)))") }
    }

    /// Reads to end of file with read(2): procfs and cgroupfs files report size 0, so nothing may trust the size.
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 65536) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return n == 0 ? out : nil }
            out += chunk[0..<n]
        }
    }

    static func readText(_ path: String) -> String? { read(path).map { String(decoding: $0, as: UTF8.self) } }

    static func makeDirectory(_ path: String, mode: Int = 0o755) throws {
        try ImageFiles.makeDirectory(path, mode: mode_t(mode))
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func remove(_ path: String) { ImageFiles.removeTree(path) }

    static func list(_ path: String) -> [String] { (ImageFiles.list(path) ?? []).sorted() }
}

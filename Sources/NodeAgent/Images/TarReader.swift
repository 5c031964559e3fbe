#if canImport(Glibc)
import Glibc
#endif

/// One member of a tar stream, its long names and PAX overrides already applied.
struct TarEntry: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case file, hardLink, symbolicLink, characterDevice, blockDevice, directory, fifo
    }
    var path: String
    var kind: Kind
    var size: Int64
    var linkTarget: String
    var deviceMajor: UInt32
    var deviceMinor: UInt32
}

/// Reads ustar, GNU (long names, base-256 sizes) and PAX tar streams from a file descriptor, one header at a
/// time; the caller streams or skips each member's data. Never trusts a field: every malformed header,
/// checksum or early end is an error, not a crash.
final class TarReader {
    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    private let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var bufferStart = 0
    private var bufferEnd = 0
    /// Data bytes (plus padding) of the current member not yet consumed.
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var finished = false
    private let metadataLimit = 1 << 20

    init(fd: Int32) {
        self.fd = fd
    }

    private func fill() throws(Malformed) -> Bool {
        bufferStart = 0
        bufferEnd = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Malformed(description: "read failed: \(String(cString: strerror(errno)))")
            }
            bufferEnd = n
            return n > 0
        }
    }

    /// Passes up to `count` bytes to `sink`, piece by piece; fails if the stream ends first.
    private func consume(_ count: Int64, _ sink: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws {
        var left = count
        while left > 0 {
            if bufferStart == bufferEnd {
                guard try fill() else { throw Malformed(description: "the archive is truncated") }
            }
            let take = Int(min(Int64(bufferEnd - bufferStart), left))
            try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[bufferStart..<(bufferStart + take)])) }
            bufferStart += take
            left -= Int64(take)
        }
    }

    private func readBlock() throws -> [UInt8]? {
        var block: [UInt8] = []
        block.reserveCapacity(512)
        while block.count < 512 {
            if bufferStart == bufferEnd {
                guard try fill() else {
                    if block.isEmpty { return nil }
                    throw Malformed(description: "the archive is truncated inside a header")
                }
            }
            let take = min(bufferEnd - bufferStart, 512 - block.count)
            block.append(contentsOf: buffer[bufferStart..<(bufferStart + take)])
            bufferStart += take
        }
        return block
    }

    /// Streams the current member's data to `sink` (call at most once per member, before `next()`).
    func readData(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try consume(remaining, sink)
        remaining = 0
    }

    func readAllData(limit: Int) throws -> [UInt8] {
        guard remaining <= Int64(limit) else { throw Malformed(description: "member is larger than \(limit) bytes") }
        var out: [UInt8] = []
        try readData { out.append(contentsOf: $0) }
        return out
    }

    /// The next member, or nil at the end of the archive.
    func next() throws -> TarEntry? {
        guard !finished else { return nil }
        try consume(remaining + padding)
        remaining = 0
        padding = 0
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        while true {
            guard let block = try readBlock() else {
                // A stream without the two zero blocks still ends cleanly at a member boundary.
                finished = true
                return nil
            }
            if block.allSatisfy({ $0 == 0 }) {
                finished = true
                return nil
            }
            try verifyChecksum(block)
            let size = try parseNumber(block[124..<136], field: "size")
            guard size >= 0 else { throw Malformed(description: "negative member size") }
            let type = block[156]
            remaining = size
            padding = (512 - size % 512) % 512
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
                let data = try readAllData(limit: metadataLimit)
                try consume(padding)
                padding = 0
                if type == UInt8(ascii: "L") { longName = cString(data[...]) }
                if type == UInt8(ascii: "K") { longLink = cString(data[...]) }
                if type == UInt8(ascii: "x") { pax.merge(try parsePAX(data)) { $1 } }
                continue  // 'g' (global PAX) only carries defaults we do not use
            default:
                break
            }
            var path = cString(block[0..<100])
            if block[257..<262].elementsEqual(Array("ustar".utf8)) {
                let prefix = cString(block[345..<500])
                if !prefix.isEmpty { path = prefix + "/" + path }
            }
            var link = cString(block[157..<257])
            if let longName { path = longName }
            if let longLink { link = longLink }
            if let paxPath = pax["path"] { path = paxPath }
            if let paxLink = pax["linkpath"] { link = paxLink }
            if let paxSize = pax["size"] {
                guard let value = Int64(paxSize), value >= 0 else { throw Malformed(description: "bad PAX size '\(paxSize)'") }
                remaining = value
                padding = (512 - value % 512) % 512
            }
            let kind: TarEntry.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = path.hasSuffix("/") ? .directory : .file
            case UInt8(ascii: "1"): kind = .hardLink
            case UInt8(ascii: "2"): kind = .symbolicLink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default: throw Malformed(description: "member '\(path)' has unsupported type '\(Character(Unicode.Scalar(type)))'")
            }
            if kind != .file {
                // Only regular files carry data; a size on anything else is skipped, never extracted.
                if kind == .directory || kind == .symbolicLink || kind == .hardLink { padding += remaining; remaining = 0 }
            }
            let major = UInt32(clamping: (try? parseNumber(block[329..<337], field: "devmajor")) ?? 0)
            let minor = UInt32(clamping: (try? parseNumber(block[337..<345], field: "devminor")) ?? 0)
            guard !path.isEmpty else { throw Malformed(description: "a member has an empty name") }
            return TarEntry(path: path, kind: kind, size: kind == .file ? remaining : 0, linkTarget: link,
                            deviceMajor: major, deviceMinor: minor)
        }
    }

    private func verifyChecksum(_ block: [UInt8]) throws(Malformed) {
        guard let stored = try? parseNumber(block[148..<156], field: "checksum") else {
            throw Malformed(description: "not a tar archive (bad header checksum field)")
        }
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (i, b) in block.enumerated() {
            let value: UInt8 = (148..<156).contains(i) ? 0x20 : b
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw Malformed(description: "not a tar archive, or a damaged one (header checksum mismatch)")
        }
    }

    private func parseNumber(_ field: ArraySlice<UInt8>, field name: String) throws(Malformed) -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            // GNU base-256: big-endian two's complement in the remaining bits.
            var value: Int64 = Int64(first & 0x3F)
            for b in field.dropFirst() {
                guard value < (Int64.max >> 8) else { throw Malformed(description: "\(name) field overflows") }
                value = value << 8 | Int64(b)
            }
            return first & 0x40 != 0 ? -value : value
        }
        var value: Int64 = 0
        var seenDigit = false
        for b in field {
            if b == 0 || b == 0x20 {
                if seenDigit { break } else { continue }
            }
            guard (0x30...0x37).contains(b) else { throw Malformed(description: "\(name) field is not octal") }
            guard value < (Int64.max >> 3) else { throw Malformed(description: "\(name) field overflows") }
            value = value * 8 + Int64(b - 0x30)
            seenDigit = true
        }
        return value
    }

    private func cString(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// PAX records: "<length> <key>=<value>\n", the length counting the whole record.
    private func parsePAX(_ data: [UInt8]) throws(Malformed) -> [String: String] {
        var result: [String: String] = [:]
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: 0x20),
                let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
                length > space - index, index + length <= data.count, data[index + length - 1] == 0x0A
            else { throw Malformed(description: "malformed PAX header") }
            let record = data[(space + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { throw Malformed(description: "malformed PAX record") }
            result[String(decoding: record[record.startIndex..<equals], as: UTF8.self)] =
                String(decoding: record[(equals + 1)...], as: UTF8.self)
            index += length
        }
        return result
    }
}

/// A record of a WAL segment.
///
/// Framing (little-endian): `length u32 | crc32c u32 | type u8 | payload[length]`, where the
/// CRC-32C covers the type byte and the payload. Payloads:
/// - entry (1): index u64 | term u64 | kind u8 | data (rest)
/// - hard state (2): term u64 | vote u64 | commit u64
/// - snapshot marker (3): index u64 | term u64 | flags u8 (bit 0: entries after the snapshot are discarded)
/// - truncation (4): index u64 — entries at and after it are deleted
enum WALRecord: Sendable, Hashable {
    case entry(WALEntry)
    case hardState(WALHardState)
    case snapshotMarker(index: UInt64, term: UInt64, discardsLaterEntries: Bool)
    case truncation(from: UInt64)

    static let headerSize = 9
    /// Anything longer is a damaged length field, not a real record.
    static let maximumPayload = 1 << 30

    var type: UInt8 {
        switch self {
        case .entry: 1
        case .hardState: 2
        case .snapshotMarker: 3
        case .truncation: 4
        }
    }

    func append(to out: inout [UInt8]) {
        var payload = StoreBytesWriter()
        switch self {
        case .entry(let e):
            payload.writeUInt64(e.index)
            payload.writeUInt64(e.term)
            payload.writeUInt8(e.kind)
            payload.writeRaw(e.data)
        case .hardState(let h):
            payload.writeUInt64(h.term)
            payload.writeUInt64(h.vote)
            payload.writeUInt64(h.commit)
        case .snapshotMarker(let index, let term, let discards):
            payload.writeUInt64(index)
            payload.writeUInt64(term)
            payload.writeUInt8(discards ? 1 : 0)
        case .truncation(let index):
            payload.writeUInt64(index)
        }
        let body = payload.bytes
        let crc = CRC32C.checksum(body, seed: CRC32C.checksum(CollectionOfOne(type)))
        var header = StoreBytesWriter(reservingCapacity: Self.headerSize)
        header.writeUInt32(UInt32(body.count))
        header.writeUInt32(crc)
        header.writeUInt8(type)
        out.append(contentsOf: header.bytes)
        out.append(contentsOf: body)
    }

    /// Decodes a payload whose checksum already matched; nil means a well-framed but meaningless record.
    static func decode(type: UInt8, payload: [UInt8]) -> WALRecord? {
        var r = StoreBytesReader(payload)
        switch type {
        case 1:
            guard let index = r.readUInt64(), let term = r.readUInt64(), let kind = r.readUInt8() else { return nil }
            return .entry(WALEntry(index: index, term: term, kind: kind, data: r.readRest()))
        case 2:
            guard let term = r.readUInt64(), let vote = r.readUInt64(), let commit = r.readUInt64(), r.isAtEnd else { return nil }
            return .hardState(WALHardState(term: term, vote: vote, commit: commit))
        case 3:
            guard let index = r.readUInt64(), let term = r.readUInt64(), let flags = r.readUInt8(), r.isAtEnd, flags <= 1 else {
                return nil
            }
            return .snapshotMarker(index: index, term: term, discardsLaterEntries: flags == 1)
        case 4:
            guard let index = r.readUInt64(), r.isAtEnd else { return nil }
            return .truncation(from: index)
        default:
            return nil
        }
    }
}

/// Outcome of reading one frame at an offset.
enum WALFrame {
    case record(WALRecord, end: Int)
    /// The frame is incomplete or fails its checksum.
    case damaged(reason: String)
    /// Checksum matched but the content is not a known record: a format error, never a torn write.
    case malformed(reason: String)
}

enum WALSegmentParser {
    static func frame(in bytes: [UInt8], at offset: Int) -> WALFrame {
        let remaining = bytes.count - offset
        guard remaining >= WALRecord.headerSize else {
            return .damaged(reason: "truncated record header (\(remaining) of \(WALRecord.headerSize) bytes)")
        }
        var header = StoreBytesReader(bytes, offset: offset)
        guard let length32 = header.readUInt32(), let storedCRC = header.readUInt32(), let type = header.readUInt8() else {
            return .damaged(reason: "truncated record header")
        }
        let length = Int(length32)
        guard length <= WALRecord.maximumPayload else {
            return .damaged(reason: "implausible record length \(length)")
        }
        guard length <= remaining - WALRecord.headerSize else {
            return .damaged(reason: "record of \(length) bytes extends past the end of the file")
        }
        let payloadStart = offset + WALRecord.headerSize
        let end = payloadStart + length
        let crc = CRC32C.checksum(bytes, range: (payloadStart - 1)..<end)
        guard crc == storedCRC else {
            return .damaged(reason: "checksum mismatch (stored \(hex(storedCRC)), computed \(hex(crc)))")
        }
        guard let record = WALRecord.decode(type: type, payload: Array(bytes[payloadStart..<end])) else {
            return .malformed(reason: "record type \(type) with a \(length)-byte payload is not a valid record")
        }
        return .record(record, end: end)
    }

    /// Whether any intact record starts after `offset`: if so, the damage at `offset` is not a torn tail.
    /// Answers true (damage, refuse to open) when the search would cost more than `budget` checksummed
    /// bytes, so a huge garbage tail cannot stall recovery or be silently cut away.
    static func intactRecordExists(in bytes: [UInt8], after offset: Int, budget: Int = 256 << 20) -> Bool {
        var candidate = offset + 1
        var spent = 0
        while candidate + WALRecord.headerSize <= bytes.count {
            var header = StoreBytesReader(bytes, offset: candidate)
            if let length = header.readUInt32(), Int(length) <= bytes.count - candidate - WALRecord.headerSize {
                spent += Int(length) + 1
                if spent > budget { return true }
                if case .record = frame(in: bytes, at: candidate) { return true }
            }
            candidate += 1
        }
        return false
    }

    static func hex(_ value: UInt32) -> String {
        "0x" + zeroPaddedHex(UInt64(value), digits: 8)
    }
}

/// Lowercase hex, left-padded with zeros to `digits`.
func zeroPaddedHex(_ value: UInt64, digits: Int) -> String {
    let text = String(value, radix: 16)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}

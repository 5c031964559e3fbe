/// Errors from decoding wire bytes. Decoding never traps on bad input.
public enum SWIMDecodingError: Error, Sendable, Hashable {
    case truncated
    case unsupportedVersion(UInt8)
    case unknownMessageType(UInt8)
    case invalidValue
    case invalidUTF8
    case trailingBytes
}

/// Wire format, version 1:
///   packet  = version:u8 count:varint message*
///   message = type:u8 fields...
/// Integers are LEB128 varints, strings are varint length + UTF-8 bytes.
enum SWIMWire {
    static let version: UInt8 = 1

    enum MessageType: UInt8 {
        case ping = 1, pingReq, ack, nack, alive, suspect, dead, left, pushPull
    }
}

struct SWIMWriter {
    var bytes: [UInt8] = []

    mutating func write(_ byte: UInt8) {
        bytes.append(byte)
    }

    mutating func write(varint value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func write(_ string: String) {
        let utf8 = string.utf8
        write(varint: UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func write(_ metadata: MemberMetadata) {
        write(varint: metadata.version)
        write(varint: UInt64(metadata.entries.count))
        // Sorted keys keep the encoding deterministic.
        for key in metadata.entries.keys.sorted() {
            write(key)
            write(metadata.entries[key] ?? "")
        }
    }

    mutating func write(_ state: MemberState) {
        write(state.address)
        write(varint: state.incarnation)
        write(state.status.rawValue)
        write(state.metadata)
    }

    mutating func write(_ update: MemberUpdate) {
        switch update {
        case .alive(let address, let incarnation, let metadata):
            write(SWIMWire.MessageType.alive.rawValue)
            write(address)
            write(varint: incarnation)
            write(metadata)
        case .suspect(let address, let incarnation, let from):
            write(SWIMWire.MessageType.suspect.rawValue)
            write(address)
            write(varint: incarnation)
            write(from)
        case .dead(let address, let incarnation, let from):
            write(SWIMWire.MessageType.dead.rawValue)
            write(address)
            write(varint: incarnation)
            write(from)
        case .left(let address, let incarnation):
            write(SWIMWire.MessageType.left.rawValue)
            write(address)
            write(varint: incarnation)
        }
    }

    mutating func write(_ message: SWIMMessage) {
        switch message {
        case .ping(let sequence, let target, let source):
            write(SWIMWire.MessageType.ping.rawValue)
            write(varint: sequence)
            write(target)
            write(source)
        case .pingReq(let sequence, let target, let source, let wantsNack):
            write(SWIMWire.MessageType.pingReq.rawValue)
            write(varint: sequence)
            write(target)
            write(source)
            write(wantsNack ? 1 : 0)
        case .ack(let sequence, let source):
            write(SWIMWire.MessageType.ack.rawValue)
            write(varint: sequence)
            write(source)
        case .nack(let sequence, let source):
            write(SWIMWire.MessageType.nack.rawValue)
            write(varint: sequence)
            write(source)
        case .update(let update):
            write(update)
        case .pushPull(let isReply, let source, let members):
            write(SWIMWire.MessageType.pushPull.rawValue)
            write(isReply ? 1 : 0)
            write(source)
            write(varint: UInt64(members.count))
            for member in members {
                write(member)
            }
        }
    }
}

struct SWIMReader {
    let bytes: [UInt8]
    var offset: Int = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var remaining: Int { bytes.count - offset }

    mutating func readByte() throws(SWIMDecodingError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readVarint() throws(SWIMDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            // The 10th byte may only carry the top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw .invalidValue }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .invalidValue }
        }
    }

    /// A count of items that each take at least one byte: bounded by what is left,
    /// so a forged count cannot make us allocate much.
    mutating func readCount() throws(SWIMDecodingError) -> Int {
        let count = try readVarint()
        guard count <= UInt64(remaining) else { throw .truncated }
        return Int(count)
    }

    mutating func readString() throws(SWIMDecodingError) -> String {
        let length = try readCount()
        let slice = bytes[offset..<offset + length]
        offset += length
        guard let string = String(validating: slice, as: UTF8.self) else { throw .invalidUTF8 }
        return string
    }

    mutating func readBool() throws(SWIMDecodingError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        default: throw .invalidValue
        }
    }

    mutating func readMetadata() throws(SWIMDecodingError) -> MemberMetadata {
        let version = try readVarint()
        let count = try readCount()
        var entries: [String: String] = [:]
        entries.reserveCapacity(count)
        for _ in 0..<count {
            let key = try readString()
            entries[key] = try readString()
        }
        return MemberMetadata(version: version, entries: entries)
    }

    mutating func readMemberState() throws(SWIMDecodingError) -> MemberState {
        let address = try readString()
        let incarnation = try readVarint()
        guard let status = MemberStatus(rawValue: try readByte()) else { throw .invalidValue }
        let metadata = try readMetadata()
        return MemberState(address: address, incarnation: incarnation, status: status, metadata: metadata)
    }

    mutating func readMessage() throws(SWIMDecodingError) -> SWIMMessage {
        let rawType = try readByte()
        guard let type = SWIMWire.MessageType(rawValue: rawType) else { throw .unknownMessageType(rawType) }
        switch type {
        case .ping:
            return .ping(sequence: try readVarint(), target: try readString(), source: try readString())
        case .pingReq:
            return .pingReq(sequence: try readVarint(), target: try readString(), source: try readString(), wantsNack: try readBool())
        case .ack:
            return .ack(sequence: try readVarint(), source: try readString())
        case .nack:
            return .nack(sequence: try readVarint(), source: try readString())
        case .alive:
            return .update(.alive(address: try readString(), incarnation: try readVarint(), metadata: try readMetadata()))
        case .suspect:
            return .update(.suspect(address: try readString(), incarnation: try readVarint(), from: try readString()))
        case .dead:
            return .update(.dead(address: try readString(), incarnation: try readVarint(), from: try readString()))
        case .left:
            return .update(.left(address: try readString(), incarnation: try readVarint()))
        case .pushPull:
            let isReply = try readBool()
            let source = try readString()
            let count = try readCount()
            var members: [MemberState] = []
            members.reserveCapacity(count)
            for _ in 0..<count {
                members.append(try readMemberState())
            }
            return .pushPull(isReply: isReply, source: source, members: members)
        }
    }
}

extension SWIMPacket {
    public func encode() -> [UInt8] {
        var writer = SWIMWriter()
        writer.write(SWIMWire.version)
        writer.write(varint: UInt64(messages.count))
        for message in messages {
            writer.write(message)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws(SWIMDecodingError) {
        var reader = SWIMReader(bytes)
        let version = try reader.readByte()
        guard version == SWIMWire.version else { throw .unsupportedVersion(version) }
        let count = try reader.readCount()
        var messages: [SWIMMessage] = []
        messages.reserveCapacity(count)
        for _ in 0..<count {
            messages.append(try reader.readMessage())
        }
        guard reader.remaining == 0 else { throw .trailingBytes }
        self.init(messages)
    }

    /// Bytes of the packet header (version + message count) for `count` messages.
    static func headerSize(messageCount count: Int) -> Int {
        1 + varintSize(UInt64(count))
    }
}

extension SWIMMessage {
    /// Size of this message on the wire, used to pack datagrams.
    public var encodedSize: Int {
        var writer = SWIMWriter()
        writer.write(self)
        return writer.bytes.count
    }
}

func varintSize(_ value: UInt64) -> Int {
    var v = value
    var size = 1
    while v >= 0x80 {
        v >>= 7
        size += 1
    }
    return size
}

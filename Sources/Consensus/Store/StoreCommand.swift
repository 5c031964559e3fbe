/// One write inside a command. `expectedModRevision` is a compare-and-swap guard:
/// `nil` = unconditional, `0` = the key must not exist, `n` = the key's modRevision must be `n`
/// (the ground for Kubernetes' resourceVersion preconditions and 409 Conflict).
public enum StoreOperation: Sendable, Hashable {
    case put(key: String, value: [UInt8], expectedModRevision: UInt64? = nil)
    case delete(key: String, expectedModRevision: UInt64? = nil)

    public var key: String {
        switch self {
        case .put(let key, _, _), .delete(let key, _): key
        }
    }

    public var expectedModRevision: UInt64? {
        switch self {
        case .put(_, _, let expected), .delete(_, let expected): expected
        }
    }
}

/// A command replicated through Raft and applied by every replica in log order.
/// A batch applies all its operations at one revision, or none of them when any guard fails.
public enum StoreCommand: Sendable, Hashable {
    case put(key: String, value: [UInt8], expectedModRevision: UInt64? = nil)
    case delete(key: String, expectedModRevision: UInt64? = nil)
    case batch([StoreOperation])

    /// The operations applied atomically at one revision.
    public var operations: [StoreOperation] {
        switch self {
        case .put(let key, let value, let expected): [.put(key: key, value: value, expectedModRevision: expected)]
        case .delete(let key, let expected): [.delete(key: key, expectedModRevision: expected)]
        case .batch(let operations): operations
        }
    }
}

public enum StoreCodecError: Error, Sendable, Equatable, CustomStringConvertible {
    case unsupportedVersion(UInt8)
    case truncated(what: String)
    case unknownTag(what: String, tag: UInt8)
    case invalidUTF8Key
    case trailingBytes(count: Int)
    case tooMany(what: String, count: UInt64)
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unsupportedVersion(let v): "store codec: unsupported version byte \(v)"
        case .truncated(let what): "store codec: input ends inside \(what)"
        case .unknownTag(let what, let tag): "store codec: unknown \(what) tag \(tag)"
        case .invalidUTF8Key: "store codec: key is not valid UTF-8"
        case .trailingBytes(let n): "store codec: \(n) unexpected trailing bytes"
        case .tooMany(let what, let n): "store codec: implausible \(what) count \(n)"
        case .inconsistent(let why): "store codec: inconsistent snapshot: \(why)"
        }
    }
}

// Wire layout (little-endian):
//   version u8 (=1) | kind u8 (1 put, 2 delete, 3 batch) | body
//   put:    key blob | value blob | guard
//   delete: key blob | guard
//   batch:  count u32 | count × (op u8 (1 put, 2 delete) | op body)
//   guard:  u8 0 (none) | u8 1 + u64 expected modRevision
extension StoreCommand {
    static let codecVersion: UInt8 = 1

    public func encoded() -> [UInt8] {
        var w = StoreBytesWriter(reservingCapacity: 64)
        w.writeUInt8(Self.codecVersion)
        switch self {
        case .put(let key, let value, let expected):
            w.writeUInt8(1)
            Self.encodePut(&w, key, value, expected)
        case .delete(let key, let expected):
            w.writeUInt8(2)
            Self.encodeDelete(&w, key, expected)
        case .batch(let operations):
            w.writeUInt8(3)
            w.writeUInt32(UInt32(truncatingIfNeeded: operations.count))
            for op in operations {
                switch op {
                case .put(let key, let value, let expected):
                    w.writeUInt8(1)
                    Self.encodePut(&w, key, value, expected)
                case .delete(let key, let expected):
                    w.writeUInt8(2)
                    Self.encodeDelete(&w, key, expected)
                }
            }
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(StoreCodecError) {
        var r = StoreBytesReader(bytes)
        guard let version = r.readUInt8() else { throw .truncated(what: "version") }
        guard version == Self.codecVersion else { throw .unsupportedVersion(version) }
        guard let kind = r.readUInt8() else { throw .truncated(what: "command kind") }
        switch kind {
        case 1:
            let (key, value, expected) = try Self.decodePut(&r)
            self = .put(key: key, value: value, expectedModRevision: expected)
        case 2:
            let (key, expected) = try Self.decodeDelete(&r)
            self = .delete(key: key, expectedModRevision: expected)
        case 3:
            guard let count = r.readUInt32() else { throw .truncated(what: "batch count") }
            // Each operation takes at least 6 bytes, so a larger count cannot be honest.
            guard Int(count) <= r.remaining / 6 else { throw .tooMany(what: "batch operation", count: UInt64(count)) }
            var operations: [StoreOperation] = []
            operations.reserveCapacity(Int(count))
            for _ in 0..<count {
                guard let op = r.readUInt8() else { throw .truncated(what: "batch operation tag") }
                switch op {
                case 1:
                    let (key, value, expected) = try Self.decodePut(&r)
                    operations.append(.put(key: key, value: value, expectedModRevision: expected))
                case 2:
                    let (key, expected) = try Self.decodeDelete(&r)
                    operations.append(.delete(key: key, expectedModRevision: expected))
                default:
                    throw .unknownTag(what: "batch operation", tag: op)
                }
            }
            self = .batch(operations)
        default:
            throw .unknownTag(what: "command", tag: kind)
        }
        guard r.isAtEnd else { throw .trailingBytes(count: r.remaining) }
    }

    private static func encodePut(_ w: inout StoreBytesWriter, _ key: String, _ value: [UInt8], _ expected: UInt64?) {
        w.writeBlob(Array(key.utf8))
        w.writeBlob(value)
        encodeGuard(&w, expected)
    }

    private static func encodeDelete(_ w: inout StoreBytesWriter, _ key: String, _ expected: UInt64?) {
        w.writeBlob(Array(key.utf8))
        encodeGuard(&w, expected)
    }

    private static func encodeGuard(_ w: inout StoreBytesWriter, _ expected: UInt64?) {
        if let expected {
            w.writeUInt8(1)
            w.writeUInt64(expected)
        } else {
            w.writeUInt8(0)
        }
    }

    private static func decodePut(_ r: inout StoreBytesReader) throws(StoreCodecError) -> (String, [UInt8], UInt64?) {
        let key = try decodeKey(&r)
        guard let value = r.readBlob() else { throw .truncated(what: "value") }
        return (key, value, try decodeGuard(&r))
    }

    private static func decodeDelete(_ r: inout StoreBytesReader) throws(StoreCodecError) -> (String, UInt64?) {
        let key = try decodeKey(&r)
        return (key, try decodeGuard(&r))
    }

    static func decodeKey(_ r: inout StoreBytesReader) throws(StoreCodecError) -> String {
        guard let raw = r.readBlob() else { throw .truncated(what: "key") }
        guard let key = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8Key }
        return key
    }

    private static func decodeGuard(_ r: inout StoreBytesReader) throws(StoreCodecError) -> UInt64? {
        guard let flag = r.readUInt8() else { throw .truncated(what: "guard flag") }
        switch flag {
        case 0: return nil
        case 1:
            guard let expected = r.readUInt64() else { throw .truncated(what: "expected revision") }
            return expected
        default:
            throw .unknownTag(what: "guard", tag: flag)
        }
    }
}

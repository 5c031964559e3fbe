// Codable straight to and from JSONValue trees, so typed views never round-trip through bytes and an idle peer
// maps none of FoundationEssentials' JSONDecoder/JSONEncoder. Semantics follow those two with their default
// strategies; JSONValueCodingTests holds them to it, differentially. Where they part on purpose:
// - a number a field cannot hold (1.5 or 300 for UInt8) is `dataCorrupted` at the field's path; Foundation gives no path;
// - a tree keeps integers up to Int64.max exactly, so a wider UInt64 is refused on decoding rather than rounded;
// - Data, URL and Decimal are not special-cased (no type here has them; Date's default strategy is its own Codable).

// MARK: - Public entry points

/// Output options of `JSONTreeEncoder.encodeJSON`, named as `JSONEncoder.OutputFormatting` names them.
public struct JSONWriteOptions: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// Object keys in UTF-8 byte order (struct fields otherwise come in encoding order).
    public static let sortedKeys = JSONWriteOptions(rawValue: 1)
    /// `/` as is; by default it is written `\/`, as JSONEncoder does.
    public static let withoutEscapingSlashes = JSONWriteOptions(rawValue: 2)
}

/// Decodes any `Decodable` from a JSONValue tree. Errors are `DecodingError`s with the coding path of the field.
public struct JSONTreeDecoder: Sendable {
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    public func decode<T: Decodable>(_ type: T.Type = T.self, from value: JSONValue) throws -> T {
        try TreeDecoder(value, parent: nil, key: nil, userInfo: userInfo).unbox(T.self, value, nil)
    }
}

/// Encodes any `Encodable` into a JSONValue tree or into JSON text. Nil optionals are omitted.
public struct JSONTreeEncoder: Sendable {
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        try encodeNode(value).jsonValue
    }

    /// The text JSONEncoder would write with the same output options (numbers, escapes, key order).
    public func encodeJSON<T: Encodable>(_ value: T, options: JSONWriteOptions = []) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        try encodeNode(value).write(into: &out, options: options)
        return out
    }

    private func encodeNode<T: Encodable>(_ value: T) throws -> EncodedNode {
        let encoder = TreeEncoder(parent: nil, key: nil, userInfo: userInfo)
        try encoder.box(value)
        guard let node = encoder.take() else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        return node
    }
}

extension JSONValue {
    /// Parses JSON text and decodes a typed view from it; parse errors are `JSONParseError`, the rest `TypedViewError`.
    public static func decode<T: Decodable>(_ type: T.Type = T.self, from bytes: [UInt8]) throws -> T {
        try JSONValue.parse(bytes).decode(T.self)
    }

    /// JSON text for any Encodable, as JSONEncoder would write it with these options.
    public static func encodeJSON<T: Encodable>(_ value: T, options: JSONWriteOptions = []) throws -> [UInt8] {
        try JSONTreeEncoder().encodeJSON(value, options: options)
    }
}

// MARK: - Coding keys

/// Array positions in coding paths, spelled as Foundation spells them.
struct IndexCodingKey: CodingKey {
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
}

struct SuperCodingKey: CodingKey {
    init() {}
    init?(stringValue: String) { guard stringValue == "super" else { return nil } }
    init?(intValue: Int) { nil }
    var stringValue: String { "super" }
    var intValue: Int? { nil }
}

/// A node of the decoder or encoder: it knows its parent and its own key, so the coding path is assembled only
/// when asked for.
protocol CodingChain: AnyObject {
    var parent: Self? { get }
    var key: (any CodingKey)? { get }
}

extension CodingChain {
    var chainedPath: [any CodingKey] {
        var path: [any CodingKey] = []
        var node: Self? = self
        while let current = node {
            if let key = current.key { path.append(key) }
            node = current.parent
        }
        return path.reversed()
    }
}

// MARK: - Decoder

/// One node being decoded. The coding path is a chain of parents, built into an array only when asked for
/// (errors, or a type that reads it), so decoding a field costs no array copies.
final class TreeDecoder: Decoder, SingleValueDecodingContainer, CodingChain {
    let value: JSONValue
    let parent: TreeDecoder?
    let key: (any CodingKey)?
    let sendableUserInfo: [CodingUserInfoKey: any Sendable]
    var userInfo: [CodingUserInfoKey: Any] { sendableUserInfo }

    init(_ value: JSONValue, parent: TreeDecoder?, key: (any CodingKey)?, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.value = value
        self.parent = parent
        self.key = key
        self.sendableUserInfo = userInfo
    }

    var codingPath: [any CodingKey] { chainedPath }

    func path(_ key: (any CodingKey)?) -> [any CodingKey] {
        guard let key else { return codingPath }
        return codingPath + [key]
    }

    func child(_ value: JSONValue, _ key: any CodingKey) -> TreeDecoder {
        TreeDecoder(value, parent: self, key: key, userInfo: sendableUserInfo)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch value {
        case .object(let object): return KeyedDecodingContainer(KeyedTreeDecoder<Key>(decoder: self, object: object))
        case .null:
            throw DecodingError.valueNotFound([String: Any].self, DecodingError.Context(
                codingPath: codingPath, debugDescription: "Cannot get keyed decoding container -- found null value instead"))
        default: throw mismatch([String: Any].self, value, nil)
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case .array(let items): return UnkeyedTreeDecoder(decoder: self, items: items)
        case .null:
            throw DecodingError.valueNotFound([Any].self, DecodingError.Context(
                codingPath: codingPath, debugDescription: "Cannot get unkeyed decoding container -- found null value instead"))
        default: throw mismatch([Any].self, value, nil)
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    // Errors name the node at `key` below this one (nil: this node).

    func mismatch(_ type: Any.Type, _ value: JSONValue, _ key: (any CodingKey)?) -> DecodingError {
        DecodingError.typeMismatch(type, DecodingError.Context(
            codingPath: path(key), debugDescription: "Expected to decode \(type) but found \(value.typeName) instead."))
    }

    func nullFound(_ type: Any.Type, _ key: (any CodingKey)?) -> DecodingError {
        DecodingError.valueNotFound(type, DecodingError.Context(
            codingPath: path(key), debugDescription: "Cannot get value of type \(type) -- found null value instead"))
    }

    func notRepresentable(_ type: Any.Type, _ value: JSONValue, _ key: (any CodingKey)?) -> DecodingError {
        DecodingError.dataCorrupted(DecodingError.Context(
            codingPath: path(key), debugDescription: "Number \(value) is not representable as \(type)."))
    }

    // Scalars, read from a node at `key` below this one without a decoder of its own.

    func bool(_ value: JSONValue, _ key: (any CodingKey)?) throws -> Bool {
        guard case .bool(let b) = value else {
            // Foundation calls a null Bool a type mismatch, unlike every other scalar.
            throw mismatch(Bool.self, value, key)
        }
        return b
    }

    func string(_ value: JSONValue, _ key: (any CodingKey)?) throws -> String {
        switch value {
        case .string(let s): return s
        case .null: throw nullFound(String.self, key)
        default: throw mismatch(String.self, value, key)
        }
    }

    func double(_ value: JSONValue, _ key: (any CodingKey)?) throws -> Double {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .null: throw nullFound(Double.self, key)
        default: throw mismatch(Double.self, value, key)
        }
    }

    func float(_ value: JSONValue, _ key: (any CodingKey)?) throws -> Float {
        let d: Double
        switch value {
        case .int(let i): d = Double(i)
        case .double(let n): d = n
        case .null: throw nullFound(Float.self, key)
        default: throw mismatch(Float.self, value, key)
        }
        let f = Float(d)
        // Foundation refuses numbers that overflow Float rather than making them infinite.
        guard f.isFinite else { throw notRepresentable(Float.self, value, key) }
        return f
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type, _ value: JSONValue, _ key: (any CodingKey)?) throws -> T {
        switch value {
        case .int(let i):
            guard let n = T(exactly: i) else { throw notRepresentable(type, value, key) }
            return n
        case .double(let d):
            // Past Int64 the tree holds a rounded double, so a wide unsigned value cannot be trusted: refuse it.
            guard d.magnitude < 9_223_372_036_854_775_808.0, let n = T(exactly: d) else { throw notRepresentable(type, value, key) }
            return n
        case .null: throw nullFound(type, key)
        default: throw mismatch(type, value, key)
        }
    }

    /// Decodes T from a node at `key` below this one (nil: this node).
    func unbox<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ key: (any CodingKey)?) throws -> T {
        // The common leaves skip a decoder of their own; typed views may also hold raw subtrees, kept as they are.
        if T.self == String.self, let s = try string(value, key) as? T { return s }
        if T.self == JSONValue.self, let tree = value as? T { return tree }
        if T.self == Int.self, let i = try integer(Int.self, value, key) as? T { return i }
        if T.self == Bool.self, let b = try bool(value, key) as? T { return b }
        guard let key else { return try T(from: self) }
        return try T(from: child(value, key))
    }

    // SingleValueDecodingContainer

    func decodeNil() -> Bool { value.isNull }
    func decode(_ type: Bool.Type) throws -> Bool { try bool(value, nil) }
    func decode(_ type: String.Type) throws -> String { try string(value, nil) }
    func decode(_ type: Double.Type) throws -> Double { try double(value, nil) }
    func decode(_ type: Float.Type) throws -> Float { try float(value, nil) }
    func decode(_ type: Int.Type) throws -> Int { try integer(type, value, nil) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type, value, nil) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type, value, nil) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type, value, nil) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type, value, nil) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type, value, nil) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type, value, nil) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type, value, nil) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type, value, nil) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type, value, nil) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try unbox(type, value, nil) }
}

struct KeyedTreeDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: TreeDecoder
    let object: JSONObject

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    func find(_ key: Key) throws -> JSONValue {
        guard let value = object[key.stringValue] else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return value
    }

    /// A missing key and an explicit null both read as nil, as the standard library's default does.
    func ifPresent<T>(_ key: Key, _ read: (JSONValue) throws -> T) throws -> T? {
        guard let value = object[key.stringValue] else { return nil }
        if case .null = value { return nil }
        return try read(value)
    }

    func decodeNil(forKey key: Key) throws -> Bool { try find(key).isNull }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.bool(try find(key), key) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.string(try find(key), key) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder.double(try find(key), key) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decoder.float(try find(key), key) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decoder.integer(type, try find(key), key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decoder.integer(type, try find(key), key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decoder.integer(type, try find(key), key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decoder.integer(type, try find(key), key) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decoder.unbox(type, try find(key), key) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try ifPresent(key) { try decoder.bool($0, key) } }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try ifPresent(key) { try decoder.string($0, key) } }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try ifPresent(key) { try decoder.double($0, key) } }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try ifPresent(key) { try decoder.float($0, key) } }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try ifPresent(key) { try decoder.integer(type, $0, key) } }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try ifPresent(key) { try decoder.unbox(type, $0, key) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try decoder.child(try find(key), key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.child(try find(key), key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        decoder.child(object["super"] ?? .null, SuperCodingKey())
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        decoder.child(object[key.stringValue] ?? .null, key)
    }
}

struct UnkeyedTreeDecoder: UnkeyedDecodingContainer {
    let decoder: TreeDecoder
    let items: [JSONValue]
    private(set) var currentIndex = 0

    init(decoder: TreeDecoder, items: [JSONValue]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    /// Reads the next element; the index advances only once the element decoded.
    mutating func next<T>(_ type: Any.Type, _ read: (JSONValue, IndexCodingKey, TreeDecoder) throws -> T) throws -> T {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: codingPath + [IndexCodingKey(currentIndex)], debugDescription: "Unkeyed container is at end."))
        }
        let value = try read(items[currentIndex], IndexCodingKey(currentIndex), decoder)
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        let isNull = try next(Any?.self) { value, _, _ in value.isNull }
        // Only a null is consumed.
        if !isNull { currentIndex -= 1 }
        return isNull
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type) { try $2.bool($0, $1) } }
    mutating func decode(_ type: String.Type) throws -> String { try next(type) { try $2.string($0, $1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(type) { try $2.double($0, $1) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(type) { try $2.float($0, $1) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type) { try $2.integer(type, $0, $1) } }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type) { try $2.unbox(type, $0, $1) } }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(KeyedDecodingContainer<NestedKey>.self) { try $2.child($0, $1).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next((any UnkeyedDecodingContainer).self) { try $2.child($0, $1).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next((any Decoder).self) { $2.child($0, $1) }
    }
}

// MARK: - Encoder

/// What an encoder collected. Containers are shared boxes because Codable hands out nested containers that are
/// filled after they were attached to their parent.
enum EncodedNode {
    case null
    case bool(Bool)
    case int(Int64)
    /// Above Int64.max: JSON text keeps it exact, a tree cannot.
    case uint(UInt64)
    /// Floating-point numbers keep the text JSONEncoder prints, so text and tree agree with it.
    case number(String)
    case string(String)
    case tree(JSONValue)
    case array(EncodedArray)
    case object(EncodedObject)
    /// A `superEncoder`'s result, read when the tree is finished.
    case deferred(TreeEncoder)
}

final class EncodedArray {
    var items: [EncodedNode] = []
}

final class EncodedObject {
    var keys: [String] = []
    var values: [String: EncodedNode] = [:]

    func set(_ key: String, _ node: EncodedNode) {
        if values.updateValue(node, forKey: key) == nil { keys.append(key) }
    }
}

final class TreeEncoder: Encoder, SingleValueEncodingContainer, CodingChain {
    let parent: TreeEncoder?
    let key: (any CodingKey)?
    let sendableUserInfo: [CodingUserInfoKey: any Sendable]
    var userInfo: [CodingUserInfoKey: Any] { sendableUserInfo }
    private var result: EncodedNode?

    init(parent: TreeEncoder?, key: (any CodingKey)?, userInfo: [CodingUserInfoKey: any Sendable]) {
        self.parent = parent
        self.key = key
        self.sendableUserInfo = userInfo
    }

    var codingPath: [any CodingKey] { chainedPath }

    func take() -> EncodedNode? { result }

    func child(_ key: any CodingKey) -> TreeEncoder {
        TreeEncoder(parent: self, key: key, userInfo: sendableUserInfo)
    }

    /// Encodes a nested value; one that encodes nothing becomes `{}`, as with JSONEncoder.
    func node<T: Encodable>(for value: T, at key: any CodingKey) throws -> EncodedNode {
        // The common leaves skip an encoder of their own.
        if T.self == String.self, let s = value as? String { return .string(s) }
        if T.self == Int.self, let i = value as? Int { return .int(Int64(i)) }
        if T.self == Bool.self, let b = value as? Bool { return .bool(b) }
        if T.self == JSONValue.self, let tree = value as? JSONValue { return .tree(tree) }
        let encoder = child(key)
        try encoder.box(value)
        return encoder.take() ?? .object(EncodedObject())
    }

    func box<T: Encodable>(_ value: T) throws {
        if T.self == JSONValue.self, let tree = value as? JSONValue {
            result = .tree(tree)
            return
        }
        try value.encode(to: self)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object(let object) = result { return KeyedEncodingContainer(KeyedTreeEncoder<Key>(encoder: self, object: object)) }
        let object = EncodedObject()
        result = .object(object)
        return KeyedEncodingContainer(KeyedTreeEncoder<Key>(encoder: self, object: object))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array(let array) = result { return UnkeyedTreeEncoder(encoder: self, array: array) }
        let array = EncodedArray()
        result = .array(array)
        return UnkeyedTreeEncoder(encoder: self, array: array)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    // SingleValueEncodingContainer

    func encodeNil() { result = .null }
    func encode(_ value: Bool) { result = .bool(value) }
    func encode(_ value: String) { result = .string(value) }
    func encode(_ value: Double) throws { result = try EncodedNode.floatingPoint(value, at: codingPath) }
    func encode(_ value: Float) throws { result = try EncodedNode.floatingPoint(value, at: codingPath) }
    func encode(_ value: Int) { result = .int(Int64(value)) }
    func encode(_ value: Int8) { result = .int(Int64(value)) }
    func encode(_ value: Int16) { result = .int(Int64(value)) }
    func encode(_ value: Int32) { result = .int(Int64(value)) }
    func encode(_ value: Int64) { result = .int(value) }
    func encode(_ value: UInt) { result = EncodedNode.unsigned(UInt64(value)) }
    func encode(_ value: UInt8) { result = .int(Int64(value)) }
    func encode(_ value: UInt16) { result = .int(Int64(value)) }
    func encode(_ value: UInt32) { result = .int(Int64(value)) }
    func encode(_ value: UInt64) { result = EncodedNode.unsigned(value) }
    func encode<T: Encodable>(_ value: T) throws { try box(value) }
}

struct KeyedTreeEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: TreeEncoder
    let object: EncodedObject

    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil(forKey key: Key) { object.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) { object.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) { object.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        object.set(key.stringValue, try EncodedNode.floatingPoint(value, at: codingPath + [key]))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        object.set(key.stringValue, try EncodedNode.floatingPoint(value, at: codingPath + [key]))
    }
    mutating func encode(_ value: Int, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) { object.set(key.stringValue, .int(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) { object.set(key.stringValue, EncodedNode.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) { object.set(key.stringValue, .int(Int64(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) { object.set(key.stringValue, EncodedNode.unsigned(value)) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        object.set(key.stringValue, try encoder.node(for: value, at: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = EncodedObject()
        object.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedTreeEncoder<NestedKey>(encoder: encoder.child(key), object: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = EncodedArray()
        object.set(key.stringValue, .array(nested))
        return UnkeyedTreeEncoder(encoder: encoder.child(key), array: nested)
    }

    mutating func superEncoder() -> any Encoder {
        let child = encoder.child(SuperCodingKey())
        object.set("super", .deferred(child))
        return child
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = encoder.child(key)
        object.set(key.stringValue, .deferred(child))
        return child
    }
}

struct UnkeyedTreeEncoder: UnkeyedEncodingContainer {
    let encoder: TreeEncoder
    let array: EncodedArray

    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int { array.items.count }
    private var nextKey: IndexCodingKey { IndexCodingKey(array.items.count) }

    init(encoder: TreeEncoder, array: EncodedArray) {
        self.encoder = encoder
        self.array = array
    }

    mutating func encodeNil() { array.items.append(.null) }
    mutating func encode(_ value: Bool) { array.items.append(.bool(value)) }
    mutating func encode(_ value: String) { array.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws { array.items.append(try EncodedNode.floatingPoint(value, at: codingPath + [nextKey])) }
    mutating func encode(_ value: Float) throws { array.items.append(try EncodedNode.floatingPoint(value, at: codingPath + [nextKey])) }
    mutating func encode(_ value: Int) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int8) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int16) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int32) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: Int64) { array.items.append(.int(value)) }
    mutating func encode(_ value: UInt) { array.items.append(EncodedNode.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: UInt16) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: UInt32) { array.items.append(.int(Int64(value))) }
    mutating func encode(_ value: UInt64) { array.items.append(EncodedNode.unsigned(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        array.items.append(try encoder.node(for: value, at: nextKey))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = EncodedObject()
        let child = encoder.child(nextKey)
        array.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedTreeEncoder<NestedKey>(encoder: child, object: nested))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = EncodedArray()
        let child = encoder.child(nextKey)
        array.items.append(.array(nested))
        return UnkeyedTreeEncoder(encoder: child, array: nested)
    }

    mutating func superEncoder() -> any Encoder {
        let child = encoder.child(nextKey)
        array.items.append(.deferred(child))
        return child
    }
}

extension EncodedNode {
    static func unsigned(_ value: UInt64) -> EncodedNode {
        value <= UInt64(Int64.max) ? .int(Int64(value)) : .uint(value)
    }

    /// JSONEncoder prints `description` without a trailing `.0` and refuses NaN and infinities.
    static func floatingPoint<F: BinaryFloatingPoint & LosslessStringConvertible>(
        _ value: F, at codingPath: @autoclosure () -> [any CodingKey]
    ) throws
        -> EncodedNode
    {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: codingPath(), debugDescription: "Unable to encode \(F.self).\(value) directly in JSON."))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .number(text)
    }

    /// The tree `JSONValue.parse` would make of this node's JSON text.
    var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .uint(let u): return .double(Double(u))
        case .number(let text):
            if let i = Int64(text) { return .int(i) }
            return .double(Double(text) ?? 0)
        case .string(let s): return .string(s)
        case .tree(let tree): return tree
        case .array(let array): return .array(array.items.map(\.jsonValue))
        case .object(let object):
            var result = JSONObject()
            for key in object.keys { result[key] = object.values[key]?.jsonValue ?? .null }
            return .object(result)
        case .deferred(let encoder): return (encoder.take() ?? .object(EncodedObject())).jsonValue
        }
    }

    func write(into out: inout [UInt8], options: JSONWriteOptions) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .uint(let u): out.append(contentsOf: String(u).utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSONValue.writeString(s, into: &out, style: .encoder(options))
        case .tree(let tree): tree.write(into: &out, style: .encoder(options))
        case .array(let array):
            out.append(UInt8(ascii: "["))
            for (i, item) in array.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out, options: options)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            let keys = JSONTextStyle.encoder(options).ordered(object.keys)
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, into: &out, style: .encoder(options))
                out.append(UInt8(ascii: ":"))
                (object.values[key] ?? .null).write(into: &out, options: options)
            }
            out.append(UInt8(ascii: "}"))
        case .deferred(let encoder): (encoder.take() ?? .object(EncodedObject())).write(into: &out, options: options)
        }
    }
}

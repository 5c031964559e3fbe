/// One node of a YAML document as written: scalars keep their text and style, mappings keep their key order,
/// and every node remembers where it starts, so callers can name the line of a bad value.
public struct YAMLNode: Sendable {
    public enum ScalarStyle: Sendable, Equatable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// The YAML core tags this reader understands; any other tag is an error while parsing.
    public enum Tag: String, Sendable, Equatable {
        case str, int, bool, float, null, map, seq
    }

    public enum Kind: Sendable {
        case scalar(String, style: ScalarStyle)
        case sequence([YAMLNode])
        case mapping([(key: YAMLNode, value: YAMLNode)])
    }

    public var kind: Kind
    /// The explicit tag (`!!str 10`), if the document gave one.
    public var tag: Tag?
    /// 1-based line and column (in Unicode scalars) of the node's first character.
    public var line: Int
    public var column: Int

    public init(kind: Kind, tag: Tag? = nil, line: Int, column: Int) {
        self.kind = kind
        self.tag = tag
        self.line = line
        self.column = column
    }

    /// The text of a scalar of any style; nil for collections.
    public var scalarText: String? {
        if case .scalar(let text, _) = kind { return text }
        return nil
    }

    /// The style of a scalar; nil for collections.
    public var scalarStyle: ScalarStyle? {
        if case .scalar(_, let style) = kind { return style }
        return nil
    }
}

/// What went wrong, and where: `line 3, column 7: a tab cannot indent YAML`.
public struct YAMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The text is not YAML this reader accepts.
        case syntax
        /// Collections nest deeper than the depth limit.
        case tooDeep
        /// The document, with its aliases expanded, has more nodes than the budget.
        case tooManyNodes
    }

    public var kind: Kind
    public var line: Int
    public var column: Int
    public var message: String

    public init(_ kind: Kind = .syntax, line: Int, column: Int, message: String) {
        self.kind = kind
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "line \(line), column \(column): \(message)" }
}

// MARK: - JSON

extension YAMLNode {
    /// The node as a JSON tree. Plain scalars follow the YAML 1.2 core schema (`coreSchemaValue`); quoted and
    /// block scalars are strings; a core tag decides for itself. Mapping keys must be scalars and become strings
    /// as written. `maxDepth` and `maxNodes` bound the walk the same way the reader bounds the parse.
    public func jsonValue(maxDepth: Int = YAMLReader.maxDepth, maxNodes: Int = YAMLReader.maxNodes) throws(YAMLError) -> JSONValue {
        var budget = maxNodes
        return try json(depth: 0, maxDepth: maxDepth, budget: &budget)
    }

    private func json(depth: Int, maxDepth: Int, budget: inout Int) throws(YAMLError) -> JSONValue {
        guard depth < maxDepth else { throw YAMLError(.tooDeep, line: line, column: column, message: "collections nest deeper than \(maxDepth) levels") }
        budget -= 1
        guard budget >= 0 else { throw YAMLError(.tooManyNodes, line: line, column: column, message: "the document expands to too many nodes") }
        switch kind {
        case .scalar(let text, let style):
            return YAMLNode.scalarValue(text, style: style, tag: tag) ?? .string(text)
        case .sequence(let items):
            var array: [JSONValue] = []
            array.reserveCapacity(items.count)
            for item in items { array.append(try item.json(depth: depth + 1, maxDepth: maxDepth, budget: &budget)) }
            return .array(array)
        case .mapping(let pairs):
            var object = JSONObject()
            for pair in pairs {
                guard let key = pair.key.scalarText else {
                    throw YAMLError(line: pair.key.line, column: pair.key.column, message: "mapping keys must be strings")
                }
                object[key] = try pair.value.json(depth: depth + 1, maxDepth: maxDepth, budget: &budget)
            }
            return .object(object)
        }
    }

    /// A scalar's value under its tag; nil when the text does not fit the tag (the reader rejects those).
    static func scalarValue(_ text: String, style: ScalarStyle, tag: Tag?) -> JSONValue? {
        switch tag {
        case nil: return style == .plain ? coreSchemaValue(text) : .string(text)
        case .str: return .string(text)
        case .null: if case .null = coreSchemaValue(text) { return .null }
        case .bool: if case .bool(let b) = coreSchemaValue(text) { return .bool(b) }
        case .int: if case .int(let i) = coreSchemaValue(text) { return .int(i) }
        case .float:
            switch coreSchemaValue(text) {
            case .int(let i): return .double(Double(i))
            case .double(let d): return .double(d)
            default: break
            }
        case .map, .seq: break
        }
        return nil
    }

    /// The YAML 1.2 core schema for a plain scalar: null (`~`, `null`, empty), booleans in three cases,
    /// 64-bit integers, decimal floats; anything else is a string. `.inf` and `.nan` stay strings (JSON has neither).
    public static func coreSchemaValue(_ text: String) -> JSONValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let i = Int64(text) { return .int(i) }
        let numeric = text.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e")
                || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
        } && text.utf8.contains { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if numeric, let d = Double(text) { return .double(d) }
        return .string(text)
    }
}

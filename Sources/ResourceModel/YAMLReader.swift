/// A YAML 1.2 reader for what Kubernetes users and peer configurations write: block and flow collections,
/// every scalar style, comments, anchors and aliases (expanded), the core tags, one document per stream.
/// It depends on the standard library only, so the peer does not link Foundation for it.
///
/// Not supported, with a clear error: explicit keys (`? `), aliases and collections as mapping keys, tags
/// other than the core ones, more than one document.
public enum YAMLReader {
    /// Collections may nest this deep (the root counts as one level), aliases included.
    public static let maxDepth = 128
    /// Nodes a document may have once its aliases are expanded; stops "billion laughs" documents.
    public static let maxNodes = 1_000_000

    /// The single document in `text`, or nil when the stream holds only comments and whitespace.
    public static func parseDocument(_ text: String, maxDepth: Int = maxDepth, maxNodes: Int = maxNodes) throws(YAMLError) -> YAMLNode? {
        var parser = YAMLParser(text, maxDepth: maxDepth, maxNodes: maxNodes)
        return try parser.parseStream()
    }

    /// The single document in `text` as a JSON tree (see `YAMLNode.jsonValue`), or nil for an empty stream.
    public static func parseJSON(_ text: String) throws(YAMLError) -> JSONValue? {
        try parseDocument(text)?.jsonValue()
    }
}

private let space = UInt8(ascii: " ")
private let tab = UInt8(ascii: "\t")
private let newline = UInt8(ascii: "\n")
private let carriageReturn = UInt8(ascii: "\r")
private let hash = UInt8(ascii: "#")
private let colon = UInt8(ascii: ":")
private let dash = UInt8(ascii: "-")
private let question = UInt8(ascii: "?")
private let comma = UInt8(ascii: ",")
private let openBracket = UInt8(ascii: "[")
private let closeBracket = UInt8(ascii: "]")
private let openBrace = UInt8(ascii: "{")
private let closeBrace = UInt8(ascii: "}")
private let ampersand = UInt8(ascii: "&")
private let asterisk = UInt8(ascii: "*")
private let bang = UInt8(ascii: "!")
private let pipe = UInt8(ascii: "|")
private let greater = UInt8(ascii: ">")
private let singleQuote = UInt8(ascii: "'")
private let doubleQuote = UInt8(ascii: "\"")
private let backslash = UInt8(ascii: "\\")
private let percent = UInt8(ascii: "%")
private let at = UInt8(ascii: "@")
private let backtick = UInt8(ascii: "`")

private func isFlowIndicator(_ byte: UInt8) -> Bool {
    byte == comma || byte == openBracket || byte == closeBracket || byte == openBrace || byte == closeBrace
}

/// Where a block node sits: it decides whether a collection may start on the indicator's own line.
private enum BlockContext {
    case document, sequenceEntry, mappingValue
}

/// An anchor and a tag, as written before a node.
private struct Properties {
    var anchor: String?
    var tag: YAMLNode.Tag?
    var tagText = ""
    var isEmpty: Bool { anchor == nil && tag == nil }
}

/// The last column answered: a reference, so the read-only helpers that build errors may update it.
private final class ColumnMemo {
    var lineStart = -1
    var index = 0
    var column = 1
}

private struct Anchored {
    let node: YAMLNode
    /// Nodes the anchored node stands for, aliases inside it expanded.
    let size: Int
    /// Levels below the anchored node.
    let height: Int
}

/// A recursive-descent reader over UTF-8 bytes. Every indicator is ASCII, so multi-byte characters only ever
/// travel inside scalar text. Recursion is bounded by `maxDepth`, checked before each collection is entered.
private struct YAMLParser {
    let bytes: [UInt8]
    let maxDepth: Int
    let maxNodes: Int
    var i = 0
    /// 1-based number of the line `i` is on, and the index where that line starts.
    var line = 1
    var lineStart = 0
    var nodeCount = 0
    /// The deepest level reached inside the node being parsed; gives anchored nodes their height.
    var deepest = 0
    var anchors: [String: Anchored] = [:]
    let columnMemo = ColumnMemo()

    init(_ text: String, maxDepth: Int, maxNodes: Int) {
        // Line breaks become "\n" so every scanner sees one kind; columns do not change.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var previousWasReturn = false
        for byte in text.utf8 {
            if byte == carriageReturn {
                bytes.append(newline)
                previousWasReturn = true
                continue
            }
            if !(byte == newline && previousWasReturn) { bytes.append(byte) }
            previousWasReturn = false
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    // MARK: Positions and errors

    var atEnd: Bool { i >= bytes.count }

    func byte(at index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

    func isBlank(_ index: Int) -> Bool {
        index < bytes.count && (bytes[index] == space || bytes[index] == tab)
    }

    /// A blank, a line break or the end of the input.
    func isBlankOrEnd(_ index: Int) -> Bool {
        index >= bytes.count || bytes[index] == space || bytes[index] == tab || bytes[index] == newline
    }

    /// 1-based column, in Unicode scalars, of `index` on the current line. Counting resumes from the last
    /// answer on the same line, so a one-line JSON body of many nodes costs linear time, not quadratic.
    func column(of index: Int) -> Int {
        var column = 1
        var j = lineStart
        if columnMemo.lineStart == lineStart && columnMemo.index <= index {
            j = columnMemo.index
            column = columnMemo.column
        }
        while j < index && j < bytes.count {
            if bytes[j] & 0xC0 != 0x80 { column += 1 }
            j += 1
        }
        columnMemo.lineStart = lineStart
        columnMemo.index = j
        columnMemo.column = column
        return column
    }

    func error(_ message: String, at index: Int? = nil, _ kind: YAMLError.Kind = .syntax) -> YAMLError {
        YAMLError(kind, line: line, column: column(of: index ?? i), message: message)
    }

    /// Steps over the line break at `i`.
    mutating func consumeNewline() {
        i += 1
        line += 1
        lineStart = i
    }

    /// Indentation of the current line in spaces (tabs never indent).
    var indentation: Int { i - lineStart }

    /// `---` or `...` at the start of a line, followed by a blank or the end of the line.
    func atDocumentMarker(_ index: Int) -> Bool {
        guard index + 3 <= bytes.count, index == 0 || bytes[index - 1] == newline else { return false }
        let first = bytes[index]
        guard first == dash || first == UInt8(ascii: ".") else { return false }
        return bytes[index + 1] == first && bytes[index + 2] == first && isBlankOrEnd(index + 3)
    }

    var atDocumentMarker: Bool { atDocumentMarker(i) }

    /// A `- ` block sequence entry indicator at `i`.
    var atSequenceEntry: Bool { byte(at: i) == dash && isBlankOrEnd(i + 1) }

    var atLineEndOrComment: Bool { i >= bytes.count || bytes[i] == newline || bytes[i] == hash }

    mutating func skipInlineBlanks() {
        while isBlank(i) { i += 1 }
    }

    // MARK: Lines

    /// From the start of a line: skips its indentation and reports whether content follows (not a blank or
    /// comment line). Tabs may separate but never indent.
    mutating func skipIndentation() throws(YAMLError) -> Bool {
        while byte(at: i) == space { i += 1 }
        if byte(at: i) == tab {
            let tabAt = i
            skipInlineBlanks()
            if !atLineEndOrComment { throw error("a tab cannot indent YAML", at: tabAt) }
        }
        return !atLineEndOrComment
    }

    /// From a line break, a comment or the end of the input: moves to the first character of the next line
    /// that has content, or to the end of the input.
    mutating func skipToNextContentLine() throws(YAMLError) {
        while true {
            if byte(at: i) == hash {
                while i < bytes.count && bytes[i] != newline { i += 1 }
            }
            guard i < bytes.count else { return }
            if bytes[i] != newline { return }
            consumeNewline()
            if try skipIndentation() { return }
        }
    }

    /// After an inline value: only blanks and a comment may finish its line.
    mutating func finishLine() throws(YAMLError) {
        // Like libyaml (and so kubectl), a '#' right after a quoted or flow value starts a comment.
        skipInlineBlanks()
        guard atLineEndOrComment else {
            if bytes[i] == colon { throw error("mapping values are not allowed here (is a ':' in a plain value missing its quotes?)") }
            throw error("unexpected text after the value")
        }
        try skipToNextContentLine()
    }

    // MARK: Stream

    mutating func parseStream() throws(YAMLError) -> YAMLNode? {
        if !(try skipIndentation()) { try skipToNextContentLine() }
        var sawDirective = false
        while !atEnd && bytes[i] == percent && i == lineStart {
            // %YAML and %TAG: the core tags need no handles, so directives are read past.
            sawDirective = true
            while i < bytes.count && bytes[i] != newline { i += 1 }
            try skipToNextContentLine()
        }
        let root: YAMLNode?
        if atEnd {
            if sawDirective { throw error("a directive must be followed by '---'") }
            return nil
        } else if atDocumentMarker && bytes[i] == dash {
            i += 3
            root = try parseBlockNode(parent: -1, context: .document, sameLine: true, depth: 0)
        } else if sawDirective {
            throw error("a directive must be followed by '---'")
        } else if atDocumentMarker {
            root = nil
        } else {
            root = try parseBlockNode(parent: -1, context: .document, sameLine: false, depth: 0)
        }
        while atDocumentMarker && bytes[i] == UInt8(ascii: ".") {
            i += 3
            try finishLine()
        }
        guard atEnd else {
            if atDocumentMarker { throw error("only one YAML document is allowed here, but a second one starts") }
            if bytes[i] == percent && i == lineStart { throw error("only one YAML document is allowed here, but a second one starts") }
            throw error("unexpected text after the document (is it indented too little?)")
        }
        return root
    }

    // MARK: Block nodes

    /// The node after an indicator (`- `, `key:`, `---`) or at the start of the document. Returns positioned at
    /// the first character of the next content line (or the end), like every block parse.
    mutating func parseBlockNode(parent: Int, context: BlockContext, sameLine startsOnSameLine: Bool, depth: Int) throws(YAMLError) -> YAMLNode {
        var properties = Properties()
        var sameLine = startsOnSameLine
        while true {
            skipInlineBlanks()
            if atLineEndOrComment {
                let emptyLine = line, emptyColumn = column(of: i)
                try skipToNextContentLine()
                let belongsHere = !atEnd && !atDocumentMarker
                    && (indentation > parent || (indentation == parent && context == .mappingValue && atSequenceEntry))
                guard belongsHere else { return try emptyNode(properties, depth: depth, line: emptyLine, column: emptyColumn) }
                sameLine = false
            }
            let column = indentation
            if atSequenceEntry {
                guard !sameLine || context == .sequenceEntry else {
                    throw error(context == .document ? "a block sequence cannot start on the line of '---'" : "a block sequence cannot start on the line of its key")
                }
                return try parseBlockSequence(column: column, properties: properties, depth: depth)
            }
            if byte(at: i) == question && isBlankOrEnd(i + 1) {
                throw error("explicit mapping keys ('? ') are not supported; write 'key: value'")
            }
            if implicitKeyAhead() {
                guard !sameLine || context == .sequenceEntry else {
                    throw error(context == .document ? "a block mapping cannot start on the line of '---'" : "mapping values are not allowed here (a nested mapping starts on a new, deeper indented line)")
                }
                return try parseBlockMapping(column: column, properties: properties, depth: depth)
            }
            if byte(at: i) == ampersand || byte(at: i) == bang {
                try readProperties(into: &properties, inFlow: false)
                continue
            }
            return try parseInlineNode(parent: parent, properties: properties, depth: depth)
        }
    }

    mutating func emptyNode(_ properties: Properties, depth: Int, line: Int, column: Int) throws(YAMLError) -> YAMLNode {
        let mark = beginNode(depth: depth)
        try checkDepth(depth)
        try charge(1)
        var node = YAMLNode(kind: .scalar("", style: .plain), line: line, column: column)
        // `key: !!map` with nothing after it is an empty mapping, not an error.
        if properties.tag == .map { node.kind = .mapping([]) }
        if properties.tag == .seq { node.kind = .sequence([]) }
        return try finishNode(node, properties, depth: depth, mark: mark)
    }

    mutating func parseBlockSequence(column: Int, properties: Properties, depth: Int) throws(YAMLError) -> YAMLNode {
        try checkDepth(depth)
        let mark = beginNode(depth: depth)
        let startLine = line, startColumn = self.column(of: i)
        try charge(1)
        var items: [YAMLNode] = []
        while true {
            i += 1 // the '-'
            items.append(try parseBlockNode(parent: column, context: .sequenceEntry, sameLine: true, depth: depth + 1))
            if atEnd || atDocumentMarker || indentation < column { break }
            if indentation == column {
                if atSequenceEntry { continue }
                break // the parent's next key, when the sequence sits at its key's indentation
            }
            throw error("this line is indented more than the sequence entries above it")
        }
        let node = YAMLNode(kind: .sequence(items), line: startLine, column: startColumn)
        return try finishNode(node, properties, depth: depth, mark: mark)
    }

    mutating func parseBlockMapping(column: Int, properties: Properties, depth: Int) throws(YAMLError) -> YAMLNode {
        try checkDepth(depth)
        let mark = beginNode(depth: depth)
        let startLine = line, startColumn = self.column(of: i)
        try charge(1)
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var seen: [String: Int] = [:]
        while true {
            if byte(at: i) == question && isBlankOrEnd(i + 1) {
                throw error("explicit mapping keys ('? ') are not supported; write 'key: value'")
            }
            if atSequenceEntry { throw error("a sequence entry ('- ') where a mapping key was expected") }
            guard implicitKeyAhead() else { throw error("could not find the ':' of a 'key: value' pair on this line") }
            let key = try parseImplicitKey(depth: depth + 1)
            try checkUnique(key, in: &seen)
            let value = try parseBlockNode(parent: column, context: .mappingValue, sameLine: true, depth: depth + 1)
            pairs.append((key, value))
            if atEnd || atDocumentMarker || indentation < column { break }
            if indentation > column { throw error("this line is indented more than the keys of its mapping") }
        }
        let node = YAMLNode(kind: .mapping(pairs), line: startLine, column: startColumn)
        return try finishNode(node, properties, depth: depth, mark: mark)
    }

    func checkUnique(_ key: YAMLNode, in seen: inout [String: Int]) throws(YAMLError) {
        guard let text = key.scalarText else { return }
        if let first = seen[text] {
            throw YAMLError(line: key.line, column: key.column, message: "mapping keys must be unique: '\(text)' appears at lines \(first) and \(key.line)")
        }
        seen[text] = key.line
    }

    /// Whether the current line, from `i`, holds `key:` (an implicit key: one line, a scalar, then ': ').
    func implicitKeyAhead() -> Bool {
        var j = i
        while j < bytes.count && (bytes[j] == ampersand || bytes[j] == bang) {
            while !isBlankOrEnd(j) { j += 1 }
            while isBlank(j) { j += 1 }
        }
        guard j < bytes.count else { return false }
        switch bytes[j] {
        case doubleQuote, singleQuote:
            let quote = bytes[j]
            j += 1
            while true {
                guard j < bytes.count, bytes[j] != newline else { return false }
                if quote == doubleQuote && bytes[j] == backslash { j += 2; continue }
                if bytes[j] == quote {
                    if quote == singleQuote && byte(at: j + 1) == singleQuote { j += 2; continue }
                    break
                }
                j += 1
            }
            j += 1
            while isBlank(j) { j += 1 }
            return byte(at: j) == colon && isBlankOrEnd(j + 1)
        case newline, hash, openBracket, openBrace, asterisk, pipe, greater, percent, at, backtick, closeBracket, closeBrace, comma:
            return false
        case dash, question, colon:
            if isBlankOrEnd(j + 1) { return false }
        default:
            break
        }
        let start = j
        while j < bytes.count && bytes[j] != newline {
            if bytes[j] == colon && isBlankOrEnd(j + 1) { return true }
            if bytes[j] == hash && j > start && isBlank(j - 1) { return false }
            j += 1
        }
        return false
    }

    /// `key:` on one line, the ':' included. Keys do not count against the node budget.
    mutating func parseImplicitKey(depth: Int) throws(YAMLError) -> YAMLNode {
        var properties = Properties()
        while byte(at: i) == ampersand || byte(at: i) == bang {
            try readProperties(into: &properties, inFlow: false)
        }
        let startLine = line, startColumn = column(of: i)
        let text: String
        let style: YAMLNode.ScalarStyle
        switch bytes[i] {
        case doubleQuote:
            text = try parseDoubleQuoted(); style = .doubleQuoted
        case singleQuote:
            text = try parseSingleQuoted(); style = .singleQuoted
        default:
            text = try parsePlain(parent: Int.max, inFlow: false); style = .plain
        }
        skipInlineBlanks()
        guard byte(at: i) == colon else { throw error("expected ':' after the mapping key") }
        i += 1
        let mark = beginNode(depth: depth)
        let key = YAMLNode(kind: .scalar(text, style: style), line: startLine, column: startColumn)
        return try finishNode(key, properties, depth: depth, mark: mark)
    }

    /// Aliases, quoted and block scalars, flow collections and plain scalars; then the rest of the line.
    mutating func parseInlineNode(parent: Int, properties: Properties, depth: Int) throws(YAMLError) -> YAMLNode {
        let first = bytes[i]
        if first == asterisk { return try parseAlias(properties, depth: depth, inFlow: false, finishingLine: true) }
        try checkDepth(depth)
        let mark = beginNode(depth: depth)
        let startLine = line, startColumn = column(of: i)
        let node: YAMLNode
        switch first {
        case pipe, greater:
            try charge(1)
            let (text, style) = try parseBlockScalar(parent: parent)
            node = YAMLNode(kind: .scalar(text, style: style), line: startLine, column: startColumn)
            return try finishNode(node, properties, depth: depth, mark: mark)
        case doubleQuote, singleQuote, openBracket, openBrace:
            node = try parseQuotedOrFlow(first, depth: depth, line: startLine, column: startColumn)
        default:
            try checkPlainStart(inFlow: false)
            try charge(1)
            node = YAMLNode(kind: .scalar(try parsePlain(parent: parent, inFlow: false), style: .plain), line: startLine, column: startColumn)
        }
        let finished = try finishNode(node, properties, depth: depth, mark: mark)
        try finishLine()
        return finished
    }

    func checkPlainStart(inFlow: Bool) throws(YAMLError) {
        let first = bytes[i]
        switch first {
        case at, backtick: throw error("'\(Character(Unicode.Scalar(first)))' is reserved and cannot start a plain value; quote it")
        case percent: throw error("'%' cannot start a plain value; quote it")
        case comma, openBracket, closeBracket, openBrace, closeBrace:
            throw error("unexpected '\(Character(Unicode.Scalar(first)))'" + (inFlow ? "" : "; quote the value"))
        case pipe, greater:
            throw error("block scalars ('|', '>') cannot appear inside flow collections")
        case dash, question, colon:
            let next = byte(at: i + 1)
            // A lone '-' before a flow indicator (`[-]`) is a plain value, as libyaml reads it.
            if isBlankOrEnd(i + 1) || (inFlow && first != dash && next.map(isFlowIndicator) == true) {
                if first == dash { throw error(inFlow ? "block sequence entries ('- ') are not allowed inside flow collections" : "a block sequence entry ('- ') is not allowed here") }
                if first == question { throw error("explicit mapping keys ('? ') are not supported; write 'key: value'") }
                throw error("a ':' without a key")
            }
        default: break
        }
    }

    // MARK: Properties, aliases, bookkeeping

    mutating func readProperties(into properties: inout Properties, inFlow: Bool) throws(YAMLError) {
        let start = i
        var end = i + 1
        if bytes[i] == bang && byte(at: i + 1) == UInt8(ascii: "<") {
            while end < bytes.count && bytes[end] != greater && bytes[end] != newline { end += 1 }
            guard byte(at: end) == greater else { throw error("unterminated verbatim tag") }
            end += 1
        } else {
            while !isBlankOrEnd(end) && !(inFlow && isFlowIndicator(bytes[end])) { end += 1 }
        }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        if bytes[i] == ampersand {
            guard end > start + 1 else { throw error("an anchor ('&') needs a name") }
            guard properties.anchor == nil else { throw error("a node can have only one anchor") }
            properties.anchor = String(text.dropFirst())
        } else {
            guard properties.tag == nil else { throw error("a node can have only one tag") }
            guard let tag = Self.coreTag(text) else {
                throw error("unsupported tag '\(text)' (only !!str, !!int, !!bool, !!float, !!null, !!map and !!seq are understood)")
            }
            properties.tag = tag
            properties.tagText = text
        }
        i = end
        if inFlow { try skipFlowSpace() } else { skipInlineBlanks() }
    }

    static func coreTag(_ text: String) -> YAMLNode.Tag? {
        if text == "!" { return .str } // the non-specific tag: a scalar it marks is a string
        let name: Substring
        if text.hasPrefix("!!") {
            name = text.dropFirst(2)
        } else if text.hasPrefix("!<tag:yaml.org,2002:") && text.hasSuffix(">") {
            name = text.dropFirst("!<tag:yaml.org,2002:".count).dropLast()
        } else {
            return nil
        }
        return YAMLNode.Tag(rawValue: String(name))
    }

    mutating func parseAlias(_ properties: Properties, depth: Int, inFlow: Bool, finishingLine: Bool) throws(YAMLError) -> YAMLNode {
        guard properties.isEmpty else { throw error("an alias ('*') cannot have an anchor or a tag") }
        let start = i
        i += 1
        while !isBlankOrEnd(i) && !(inFlow && isFlowIndicator(bytes[i])) { i += 1 }
        let name = String(decoding: bytes[(start + 1)..<i], as: UTF8.self)
        guard !name.isEmpty else { throw error("an alias ('*') needs a name", at: start) }
        guard let anchored = anchors[name] else { throw error("unknown alias '*\(name)' (anchors must be defined before they are used)", at: start) }
        guard depth + anchored.height < maxDepth else {
            throw error("collections nest deeper than \(maxDepth) levels (through alias '*\(name)')", at: start, .tooDeep)
        }
        deepest = max(deepest, depth + anchored.height)
        try charge(anchored.size, at: start)
        if finishingLine { try finishLine() }
        return anchored.node
    }

    func checkDepth(_ depth: Int) throws(YAMLError) {
        guard depth < maxDepth else { throw error("collections nest deeper than \(maxDepth) levels", .tooDeep) }
    }

    mutating func charge(_ nodes: Int, at index: Int? = nil) throws(YAMLError) {
        nodeCount += nodes
        guard nodeCount <= maxNodes else {
            throw error("the document expands to more than \(maxNodes) nodes (are aliases multiplying it?)", at: index, .tooManyNodes)
        }
    }

    /// Starts the accounting an anchor needs: how many nodes and levels its node spans.
    mutating func beginNode(depth: Int) -> (nodes: Int, deepest: Int) {
        defer { deepest = depth }
        return (nodeCount, deepest)
    }

    /// Applies the node's tag (checking that the value fits it) and records its anchor.
    mutating func finishNode(_ node: YAMLNode, _ properties: Properties, depth: Int, mark: (nodes: Int, deepest: Int)) throws(YAMLError) -> YAMLNode {
        var node = node
        let height = deepest - depth
        deepest = max(mark.deepest, deepest)
        if let tag = properties.tag, !(properties.tagText == "!" && node.scalarText == nil) {
            // (The non-specific tag `!` leaves a collection what it is.)
            let fits: Bool
            switch node.kind {
            case .scalar(let text, let style): fits = tag != .map && tag != .seq && YAMLNode.scalarValue(text, style: style, tag: tag) != nil
            case .sequence: fits = tag == .seq
            case .mapping: fits = tag == .map
            }
            guard fits else {
                let what: String
                switch node.kind {
                case .scalar(let text, _): what = "'\(text)'"
                case .sequence: what = "a sequence"
                case .mapping: what = "a mapping"
                }
                throw YAMLError(line: node.line, column: node.column, message: "\(what) is not a valid \(properties.tagText) value")
            }
            node.tag = tag
        }
        if let anchor = properties.anchor {
            anchors[anchor] = Anchored(node: node, size: max(nodeCount - mark.nodes, 1), height: height)
        }
        return node
    }

    // MARK: Plain scalars

    /// A plain scalar from `i`. In block context it may continue on lines indented more than `parent`; in flow
    /// context on any line. Stops before ': ', ' #', and (in flow) the flow indicators.
    mutating func parsePlain(parent: Int, inFlow: Bool) throws(YAMLError) -> String {
        var text: [UInt8] = []
        while true {
            // One line's run of the scalar.
            let start = i
            var end = i
            while i < bytes.count && bytes[i] != newline {
                let b = bytes[i]
                if b == colon {
                    let next = i + 1
                    if isBlankOrEnd(next) || (inFlow && isFlowIndicator(bytes[next])) { break }
                }
                if b == hash && i > start && isBlank(i - 1) { break }
                if inFlow && isFlowIndicator(b) { break }
                i += 1
                if b != space && b != tab { end = i }
            }
            text.append(contentsOf: bytes[start..<end])
            guard i < bytes.count && bytes[i] == newline && parent != Int.max else {
                i = end
                break
            }
            // Does it go on? Look past empty lines at the next line with content.
            var j = i
            var breaks = 0
            var nextLineStart = j
            var indent = 0
            while j < bytes.count && bytes[j] == newline {
                breaks += 1
                j += 1
                nextLineStart = j
                while j < bytes.count && bytes[j] == space { j += 1 }
                indent = j - nextLineStart
                while isBlank(j) { j += 1 } // tabs after the indentation separate; they never indent
            }
            let continues = j < bytes.count
                && (inFlow || indent > parent)
                && bytes[j] != hash
                && !atDocumentMarker(nextLineStart)
                && !(inFlow && (isFlowIndicator(bytes[j]) || (bytes[j] == colon && (isBlankOrEnd(j + 1) || isFlowIndicator(bytes[j + 1])))))
            guard continues else {
                i = end
                break
            }
            // Folding: one line break is a space, each further one a newline.
            if breaks == 1 { text.append(space) } else { text.append(contentsOf: repeatElement(newline, count: breaks - 1)) }
            line += breaks
            lineStart = nextLineStart
            i = j
        }
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: Quoted scalars

    mutating func parseSingleQuoted() throws(YAMLError) -> String {
        try parseQuoted(quote: singleQuote)
    }

    mutating func parseDoubleQuoted() throws(YAMLError) -> String {
        try parseQuoted(quote: doubleQuote)
    }

    mutating func parseQuoted(quote: UInt8) throws(YAMLError) -> String {
        let startLine = line
        i += 1
        var text: [UInt8] = []
        while true {
            guard i < bytes.count else {
                throw error("unterminated quoted string started at line \(startLine)")
            }
            let b = bytes[i]
            if b == quote {
                if quote == singleQuote && byte(at: i + 1) == singleQuote {
                    text.append(singleQuote)
                    i += 2
                    continue
                }
                i += 1
                break
            }
            if quote == doubleQuote && b == backslash {
                if byte(at: i + 1) == newline {
                    // An escaped line break vanishes with the next line's leading blanks; empty lines after it
                    // are line feeds.
                    i += 1
                    consumeNewline()
                    try checkNoMarkerInQuoted(startLine: startLine)
                    skipInlineBlanks()
                    while byte(at: i) == newline {
                        text.append(newline)
                        consumeNewline()
                        try checkNoMarkerInQuoted(startLine: startLine)
                        skipInlineBlanks()
                    }
                    continue
                }
                try parseEscape(into: &text)
                continue
            }
            if b == space || b == tab || b == newline {
                var j = i
                while isBlank(j) { j += 1 }
                if j < bytes.count && bytes[j] == newline {
                    // Trailing blanks go; one break folds to a space, more keep all but one.
                    i = j
                    var breaks = 0
                    while i < bytes.count && bytes[i] == newline {
                        breaks += 1
                        consumeNewline()
                        try checkNoMarkerInQuoted(startLine: startLine)
                        skipInlineBlanks()
                    }
                    if breaks == 1 { text.append(space) } else { text.append(contentsOf: repeatElement(newline, count: breaks - 1)) }
                } else {
                    text.append(contentsOf: bytes[i..<j])
                    i = j
                }
                continue
            }
            text.append(b)
            i += 1
        }
        return String(decoding: text, as: UTF8.self)
    }

    func checkNoMarkerInQuoted(startLine: Int) throws(YAMLError) {
        if atDocumentMarker { throw error("a document marker inside the quoted string started at line \(startLine)") }
    }

    mutating func parseEscape(into text: inout [UInt8]) throws(YAMLError) {
        let start = i
        guard let code = byte(at: i + 1) else { throw error("unterminated quoted string") }
        i += 2
        func append(_ scalar: UInt32) throws(YAMLError) {
            guard let value = Unicode.Scalar(scalar) else {
                throw error("the escape is not a valid Unicode scalar (a surrogate?)", at: start)
            }
            text.append(contentsOf: String(Character(value)).utf8)
        }
        switch code {
        case UInt8(ascii: "0"): text.append(0)
        case UInt8(ascii: "a"): text.append(0x07)
        case UInt8(ascii: "b"): text.append(0x08)
        case UInt8(ascii: "t"), tab: text.append(0x09)
        case UInt8(ascii: "n"): text.append(0x0A)
        case UInt8(ascii: "v"): text.append(0x0B)
        case UInt8(ascii: "f"): text.append(0x0C)
        case UInt8(ascii: "r"): text.append(0x0D)
        case UInt8(ascii: "e"): text.append(0x1B)
        case space, doubleQuote, UInt8(ascii: "/"), backslash: text.append(code)
        case UInt8(ascii: "N"): try append(0x85)
        case UInt8(ascii: "_"): try append(0xA0)
        case UInt8(ascii: "L"): try append(0x2028)
        case UInt8(ascii: "P"): try append(0x2029)
        case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = code == UInt8(ascii: "x") ? 2 : code == UInt8(ascii: "u") ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<digits {
                guard let digit = byte(at: i).flatMap(Self.hexValue) else {
                    throw error("'\\\(Character(Unicode.Scalar(code)))' needs \(digits) hexadecimal digits", at: start)
                }
                value = value << 4 | UInt32(digit)
                i += 1
            }
            try append(value)
        default:
            throw error("unknown escape '\\\(String(decoding: [code], as: UTF8.self))' in a double-quoted string", at: start)
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Block scalars

    /// `|` or `>` with optional chomping (`-`, `+`) and indentation (1-9) indicators. Returns positioned at the
    /// next content line, like the block parses.
    mutating func parseBlockScalar(parent: Int) throws(YAMLError) -> (String, YAMLNode.ScalarStyle) {
        let literal = bytes[i] == pipe
        i += 1
        var chomping: UInt8?
        var explicitIndent: Int?
        for _ in 0..<2 {
            guard let b = byte(at: i) else { break }
            if (b == dash || b == UInt8(ascii: "+")) && chomping == nil {
                chomping = b
            } else if b >= UInt8(ascii: "1") && b <= UInt8(ascii: "9") && explicitIndent == nil {
                explicitIndent = Int(b - UInt8(ascii: "0"))
            } else if b == UInt8(ascii: "0") {
                throw error("a block scalar's indentation indicator must be 1 to 9")
            } else {
                break
            }
            i += 1
        }
        skipInlineBlanks()
        guard atLineEndOrComment else { throw error("unexpected text after the block scalar indicator") }
        while i < bytes.count && bytes[i] != newline { i += 1 }

        var indent = explicitIndent.map { max(parent, 0) + $0 }
        // Each line: nil when empty, else its text past the indentation.
        var lines: [ArraySlice<UInt8>?] = []
        var lastLineUnterminated = false // the input ends inside the last line: no line break to keep
        while i < bytes.count {
            let start = i + 1
            var j = start
            while j < bytes.count && bytes[j] == space { j += 1 }
            let spaces = j - start
            let empty = j >= bytes.count || bytes[j] == newline
            if start >= bytes.count { break }
            // A last line of blanks with no line break after it is no empty line.
            if empty && j >= bytes.count && spaces <= (indent ?? Int.max) { consumeNewline(); i = j; break }
            if let indent {
                if empty && spaces <= indent {
                    consumeNewline(); i = j; lines.append(nil); continue
                }
                if spaces < indent || atDocumentMarker(start) { break }
                var end = j
                while end < bytes.count && bytes[end] != newline { end += 1 }
                consumeNewline()
                lines.append(bytes[(start + indent)..<end])
                lastLineUnterminated = end == bytes.count
                i = end
            } else {
                if empty { consumeNewline(); i = j; lines.append(nil); continue }
                // At the root too, content is indented at least one space (as libyaml has it).
                if spaces <= max(parent, 0) || atDocumentMarker(start) { break }
                indent = spaces
            }
        }
        var text: [UInt8] = []
        let lastContent = lines.lastIndex { $0 != nil }
        if let lastContent {
            var previousMoreIndented = false
            var emptyRun = 0
            var first = true
            for entry in lines[...lastContent] {
                guard let content = entry else { emptyRun += 1; continue }
                let moreIndented = content.first == space || content.first == tab
                if first {
                    text.append(contentsOf: repeatElement(newline, count: emptyRun))
                } else if literal || moreIndented || previousMoreIndented {
                    text.append(contentsOf: repeatElement(newline, count: emptyRun + 1))
                } else if emptyRun == 0 {
                    text.append(space)
                } else {
                    text.append(contentsOf: repeatElement(newline, count: emptyRun))
                }
                text.append(contentsOf: content)
                first = false
                emptyRun = 0
                previousMoreIndented = moreIndented
            }
            switch chomping {
            case dash: break
            case UInt8(ascii: "+"): text.append(contentsOf: repeatElement(newline, count: lines.count - lastContent - (lastLineUnterminated ? 1 : 0)))
            default: if !lastLineUnterminated { text.append(newline) }
            }
        } else if chomping == UInt8(ascii: "+") {
            text.append(contentsOf: repeatElement(newline, count: lines.count))
        }
        try skipToNextContentLine()
        return (String(decoding: text, as: UTF8.self), literal ? .literal : .folded)
    }

    // MARK: Flow collections

    /// Blanks, line breaks and comments between flow tokens.
    mutating func skipFlowSpace() throws(YAMLError) {
        while i < bytes.count {
            switch bytes[i] {
            case space, tab: i += 1
            case newline:
                consumeNewline()
                if atDocumentMarker { throw error("a document marker inside a flow collection") }
            case hash:
                // No value starts with '#', so here it is a comment even without a space before it.
                while i < bytes.count && bytes[i] != newline { i += 1 }
            default: return
            }
        }
    }

    mutating func parseFlowCollection(depth: Int) throws(YAMLError) -> YAMLNode {
        try checkDepth(depth)
        let startLine = line, startColumn = column(of: i)
        let isSequence = bytes[i] == openBracket
        let close = isSequence ? closeBracket : closeBrace
        try charge(1)
        i += 1
        var items: [YAMLNode] = []
        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var seen: [String: Int] = [:]
        while true {
            try skipFlowSpace()
            guard i < bytes.count else {
                throw error("unterminated flow \(isSequence ? "sequence" : "mapping") started at line \(startLine)")
            }
            if bytes[i] == close { i += 1; break }
            if bytes[i] == question && (isBlankOrEnd(i + 1) || isFlowIndicator(bytes[i + 1])) {
                throw error("explicit mapping keys ('? ') are not supported; write 'key: value'")
            }
            let entryLine = line, entryColumn = column(of: i)
            let jsonLike = bytes[i] == doubleQuote || bytes[i] == singleQuote || bytes[i] == openBracket || bytes[i] == openBrace
            if !isSequence && bytes[i] == colon { throw error("a mapping key is missing before ':'") }
            let nodesBefore = nodeCount
            let entry = try parseFlowNode(depth: depth + 1)
            try skipFlowSpace()
            var value: YAMLNode?
            if byte(at: i) == colon && (jsonLike || isBlankOrEnd(i + 1) || isFlowIndicator(bytes[i + 1])) {
                i += 1
                try skipFlowSpace()
                if let b = byte(at: i), b == comma || b == close {
                    value = try emptyNode(Properties(), depth: depth + 1, line: line, column: column(of: i))
                } else {
                    value = try parseFlowNode(depth: depth + (isSequence ? 2 : 1))
                }
                try skipFlowSpace()
            }
            if isSequence {
                if let value {
                    // `[a: b]` is a sequence holding the one-pair mapping {a: b}.
                    try checkDepth(depth + 1)
                    try charge(1)
                    items.append(YAMLNode(kind: .mapping([(entry, value)]), line: entryLine, column: entryColumn))
                } else {
                    items.append(entry)
                }
            } else {
                if entry.scalarText != nil { nodeCount = nodesBefore } // keys do not count against the budget
                try checkUnique(entry, in: &seen)
                let pairValue: YAMLNode
                if let value { pairValue = value } else { pairValue = try emptyNode(Properties(), depth: depth + 1, line: line, column: column(of: i)) }
                pairs.append((entry, pairValue))
            }
            guard let b = byte(at: i) else { continue }
            if b == comma { i += 1; continue }
            if b == close { i += 1; break }
            throw error("expected ',' or '\(isSequence ? "]" : "}")' in the flow \(isSequence ? "sequence" : "mapping") started at line \(startLine)")
        }
        return YAMLNode(kind: isSequence ? .sequence(items) : .mapping(pairs), line: startLine, column: startColumn)
    }

    mutating func parseFlowNode(depth: Int) throws(YAMLError) -> YAMLNode {
        var properties = Properties()
        while let b = byte(at: i), b == ampersand || b == bang {
            try readProperties(into: &properties, inFlow: true)
        }
        guard let first = byte(at: i) else { throw error("unexpected end of the input inside a flow collection") }
        if first == asterisk { return try parseAlias(properties, depth: depth, inFlow: true, finishingLine: false) }
        if !properties.isEmpty && (isFlowIndicator(first) && first != openBracket && first != openBrace || (first == colon && isBlankOrEnd(i + 1))) {
            return try emptyNode(properties, depth: depth, line: line, column: column(of: i))
        }
        try checkDepth(depth)
        let mark = beginNode(depth: depth)
        let startLine = line, startColumn = column(of: i)
        let node: YAMLNode
        switch first {
        case doubleQuote, singleQuote, openBracket, openBrace:
            node = try parseQuotedOrFlow(first, depth: depth, line: startLine, column: startColumn)
        default:
            try checkPlainStart(inFlow: true)
            try charge(1)
            node = YAMLNode(kind: .scalar(try parsePlain(parent: -1, inFlow: true), style: .plain), line: startLine, column: startColumn)
        }
        return try finishNode(node, properties, depth: depth, mark: mark)
    }

    /// A quoted scalar or a flow collection: read the same way in block and in flow context.
    private mutating func parseQuotedOrFlow(_ first: UInt8, depth: Int, line startLine: Int, column startColumn: Int) throws(YAMLError) -> YAMLNode {
        switch first {
        case doubleQuote:
            try charge(1)
            return YAMLNode(kind: .scalar(try parseDoubleQuoted(), style: .doubleQuoted), line: startLine, column: startColumn)
        case singleQuote:
            try charge(1)
            return YAMLNode(kind: .scalar(try parseSingleQuoted(), style: .singleQuoted), line: startLine, column: startColumn)
        default:
            return try parseFlowCollection(depth: depth)
        }
    }
}

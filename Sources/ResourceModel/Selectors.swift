/// Label selectors (`app=web,tier in (fe,be),!canary`), structured `LabelSelector`s,
/// node selector requirements and field selectors.

public struct SelectorError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public enum SelectorOperator: String, Sendable, Equatable {
    case equals = "="
    case doubleEquals = "=="
    case notEquals = "!="
    case `in` = "in"
    case notIn = "notin"
    case exists = "exists"
    case doesNotExist = "!"
    case greaterThan = "gt"
    case lessThan = "lt"
}

/// One requirement of a label selector.
public struct LabelRequirement: Sendable, Equatable {
    public var key: String
    public var op: SelectorOperator
    /// Sorted, de-duplicated.
    public var values: [String]

    public init(key: String, op: SelectorOperator, values: [String] = []) {
        self.key = key
        self.op = op
        self.values = Array(Set(values)).sorted()
    }

    public func matches(_ labels: [String: String]) -> Bool {
        switch op {
        case .equals, .doubleEquals, .in:
            guard let v = labels[key] else { return false }
            return values.contains(v)
        case .notEquals, .notIn:
            guard let v = labels[key] else { return true }
            return !values.contains(v)
        case .exists: return labels[key] != nil
        case .doesNotExist: return labels[key] == nil
        case .greaterThan, .lessThan:
            guard let v = labels[key], let lhs = Int64(v), values.count == 1, let rhs = Int64(values[0]) else { return false }
            return op == .greaterThan ? lhs > rhs : lhs < rhs
        }
    }

    /// Kubernetes' canonical string for this requirement.
    public var description: String {
        switch op {
        case .exists: return key
        case .doesNotExist: return "!" + key
        case .in, .notIn: return "\(key) \(op.rawValue) (\(values.joined(separator: ",")))"
        case .greaterThan: return "\(key)>\(values.first ?? "")"
        case .lessThan: return "\(key)<\(values.first ?? "")"
        default: return key + op.rawValue + (values.first ?? "")
        }
    }
}

/// A parsed label selector: all requirements must match. Empty matches everything.
public struct LabelSelectorMatcher: Sendable, Equatable, CustomStringConvertible {
    public var requirements: [LabelRequirement]
    /// A nil structured selector selects nothing (Kubernetes `labels.Nothing()`).
    public var matchesNothing = false

    public init(requirements: [LabelRequirement]) {
        self.requirements = requirements.sorted { $0.key < $1.key }
    }

    public static let everything = LabelSelectorMatcher(requirements: [])
    public static var nothing: LabelSelectorMatcher {
        var m = LabelSelectorMatcher(requirements: [])
        m.matchesNothing = true
        return m
    }

    public func matches(_ labels: [String: String]) -> Bool {
        !matchesNothing && requirements.allSatisfy { $0.matches(labels) }
    }

    public var isEmpty: Bool { requirements.isEmpty }
    public var description: String { requirements.map(\.description).joined(separator: ",") }

    /// From the structured form (`metav1.LabelSelectorAsSelector`).
    public init(_ selector: LabelSelector) throws(SelectorError) {
        var reqs: [LabelRequirement] = []
        for (k, v) in selector.matchLabels ?? [:] {
            try LabelSelectorMatcher.validateKey(k)
            try LabelSelectorMatcher.validateValue(v, key: k)
            reqs.append(LabelRequirement(key: k, op: .equals, values: [v]))
        }
        for expr in selector.matchExpressions ?? [] {
            try LabelSelectorMatcher.validateKey(expr.key)
            let values = expr.values ?? []
            let op: SelectorOperator
            switch expr.operator {
            case "In": op = .in
            case "NotIn": op = .notIn
            case "Exists": op = .exists
            case "DoesNotExist": op = .doesNotExist
            default: throw SelectorError("\(goQuote(expr.operator)) is not a valid label selector operator")
            }
            if (op == .in || op == .notIn) && values.isEmpty {
                throw SelectorError("for 'in', 'notin' operators, values set can't be empty")
            }
            if (op == .exists || op == .doesNotExist) && !values.isEmpty {
                throw SelectorError("values set must be empty for exists and does not exist")
            }
            for v in values { try LabelSelectorMatcher.validateValue(v, key: expr.key) }
            reqs.append(LabelRequirement(key: expr.key, op: op, values: values))
        }
        self.init(requirements: reqs)
    }

    /// From an optional structured selector: nil selects nothing.
    public static func from(_ selector: LabelSelector?) throws(SelectorError) -> LabelSelectorMatcher {
        guard let selector else { return .nothing }
        return try LabelSelectorMatcher(selector)
    }

    /// Exact-match selector from a map (services, node selectors).
    public init(matchLabels: [String: String]) {
        self.init(requirements: matchLabels.map { LabelRequirement(key: $0.key, op: .equals, values: [$0.value]) })
    }

    static func validateKey(_ key: String) throws(SelectorError) {
        let errs = NameValidation.qualifiedName(key)
        if !errs.isEmpty { throw SelectorError("key: Invalid value: \(goQuote(key)): \(errs.joined(separator: "; "))") }
    }

    static func validateValue(_ value: String, key: String) throws(SelectorError) {
        let errs = NameValidation.labelValue(value)
        if !errs.isEmpty { throw SelectorError("values[0][\(key)]: Invalid value: \(goQuote(value)): \(errs.joined(separator: "; "))") }
    }

    // MARK: string form

    /// Parses the `labelSelector` query form.
    public init(parsing text: String) throws(SelectorError) {
        var lexer = SelectorLexer(text)
        var reqs: [LabelRequirement] = []
        var tok = lexer.next()
        if tok.kind == .end {
            self.init(requirements: [])
            return
        }
        while true {
            // key, with optional leading '!'
            var negated = false
            if tok.kind == .doesNotExist {
                negated = true
                tok = lexer.next()
            }
            guard tok.kind == .identifier else {
                throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: identifier")
            }
            let key = tok.text
            try LabelSelectorMatcher.validateKey(key)
            tok = lexer.next()
            if negated {
                reqs.append(LabelRequirement(key: key, op: .doesNotExist))
            } else {
                switch tok.kind {
                case .end, .comma:
                    reqs.append(LabelRequirement(key: key, op: .exists))
                case .equals, .doubleEquals, .notEquals, .greaterThan, .lessThan:
                    let op: SelectorOperator = switch tok.kind {
                    case .equals: .equals
                    case .doubleEquals: .doubleEquals
                    case .notEquals: .notEquals
                    case .greaterThan: .greaterThan
                    default: .lessThan
                    }
                    tok = lexer.next()
                    var value = ""
                    if tok.kind == .identifier {
                        value = tok.text
                        tok = lexer.next()
                    } else if tok.kind != .end && tok.kind != .comma {
                        throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: identifier")
                    }
                    if op == .greaterThan || op == .lessThan {
                        guard Int64(value) != nil else {
                            throw SelectorError("unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer")
                        }
                    } else {
                        try LabelSelectorMatcher.validateValue(value, key: key)
                    }
                    reqs.append(LabelRequirement(key: key, op: op, values: [value]))
                    guard tok.kind == .end || tok.kind == .comma else {
                        throw SelectorError("found '\(tok.text)', expected: ',' or 'end of string'")
                    }
                case .inOp, .notIn:
                    let op: SelectorOperator = tok.kind == .inOp ? .in : .notIn
                    tok = lexer.next()
                    guard tok.kind == .openParen else {
                        throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: '('")
                    }
                    var values: [String] = []
                    tok = lexer.next()
                    if tok.kind == .closeParen {
                        values = [""]
                    } else {
                        while true {
                            if tok.kind == .identifier {
                                values.append(tok.text)
                                tok = lexer.next()
                            } else if tok.kind == .comma || tok.kind == .closeParen {
                                values.append("")  // an empty value, as in `a in (,x)`
                            } else {
                                throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: ',', or identifier")
                            }
                            if tok.kind == .closeParen { break }
                            guard tok.kind == .comma else {
                                throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: ',' or ')'")
                            }
                            tok = lexer.next()
                        }
                    }
                    for v in values { try LabelSelectorMatcher.validateValue(v, key: key) }
                    reqs.append(LabelRequirement(key: key, op: op, values: values))
                    tok = lexer.next()
                default:
                    throw SelectorError("unable to parse requirement: found '\(tok.text)', expected: in, notin, =, ==, !=, gt, lt")
                }
            }
            if tok.kind == .end { break }
            guard tok.kind == .comma else {
                throw SelectorError("found '\(tok.text)', expected: ',' or 'end of string'")
            }
            tok = lexer.next()
        }
        self.init(requirements: reqs)
    }
}

struct SelectorLexer {
    enum Kind: Equatable { case identifier, equals, doubleEquals, notEquals, doesNotExist, inOp, notIn, openParen, closeParen, comma, greaterThan, lessThan, end, error }
    struct Token { var kind: Kind; var text: String }

    let chars: [Character]
    var i = 0
    init(_ text: String) { chars = Array(text) }

    static func isSpecial(_ c: Character) -> Bool { "=!(),><".contains(c) }

    mutating func next() -> Token {
        while i < chars.count, chars[i].isWhitespace { i += 1 }
        guard i < chars.count else { return Token(kind: .end, text: "") }
        let c = chars[i]
        if SelectorLexer.isSpecial(c) {
            // Longest special-symbol match.
            if i + 1 < chars.count {
                let two = String([c, chars[i + 1]])
                if two == "==" { i += 2; return Token(kind: .doubleEquals, text: two) }
                if two == "!=" { i += 2; return Token(kind: .notEquals, text: two) }
            }
            i += 1
            switch c {
            case "=": return Token(kind: .equals, text: "=")
            case "!": return Token(kind: .doesNotExist, text: "!")
            case "(": return Token(kind: .openParen, text: "(")
            case ")": return Token(kind: .closeParen, text: ")")
            case ",": return Token(kind: .comma, text: ",")
            case ">": return Token(kind: .greaterThan, text: ">")
            default: return Token(kind: .lessThan, text: "<")
            }
        }
        var word = ""
        while i < chars.count, !chars[i].isWhitespace, !SelectorLexer.isSpecial(chars[i]) {
            word.append(chars[i])
            i += 1
        }
        switch word {
        case "in": return Token(kind: .inOp, text: word)
        case "notin": return Token(kind: .notIn, text: word)
        default: return Token(kind: .identifier, text: word)
        }
    }
}

// MARK: - Node selectors

extension NodeSelectorRequirement {
    /// Evaluates against a label map (or, for `matchFields`, a field map such as `["metadata.name": name]`).
    public func matches(_ labels: [String: String]) -> Bool {
        let values = self.values ?? []
        switch `operator` {
        case "In": return labels[key].map(values.contains) ?? false
        case "NotIn": return labels[key].map { !values.contains($0) } ?? true
        case "Exists": return labels[key] != nil
        case "DoesNotExist": return labels[key] == nil
        case "Gt", "Lt":
            guard let v = labels[key], let lhs = Int64(v), values.count == 1, let rhs = Int64(values[0]) else { return false }
            return `operator` == "Gt" ? lhs > rhs : lhs < rhs
        default: return false
        }
    }
}

extension NodeSelectorTerm {
    /// All expressions and fields must match; an empty term matches nothing (as in Kubernetes).
    public func matches(nodeLabels: [String: String], nodeName: String) -> Bool {
        let exprs = matchExpressions ?? []
        let fields = matchFields ?? []
        if exprs.isEmpty && fields.isEmpty { return false }
        let fieldMap = ["metadata.name": nodeName]
        return exprs.allSatisfy { $0.matches(nodeLabels) } && fields.allSatisfy { $0.matches(fieldMap) }
    }
}

extension NodeSelector {
    /// Terms are ORed.
    public func matches(nodeLabels: [String: String], nodeName: String) -> Bool {
        nodeSelectorTerms.contains { $0.matches(nodeLabels: nodeLabels, nodeName: nodeName) }
    }
}

// MARK: - Field selectors

public struct FieldRequirement: Sendable, Equatable {
    public var field: String
    public var negated: Bool
    public var value: String
}

/// A `fieldSelector` query (`metadata.name=x,status.phase!=Failed`), evaluated on the JSON object.
public struct FieldSelector: Sendable, Equatable {
    public var requirements: [FieldRequirement]

    public init(parsing text: String) throws(SelectorError) {
        var reqs: [FieldRequirement] = []
        for term in FieldSelector.splitTerms(text) where !term.isEmpty {
            guard let (field, negated, value) = FieldSelector.splitOperator(term) else {
                throw SelectorError("invalid selector: '\(text)'; can't understand '\(term)'")
            }
            reqs.append(FieldRequirement(field: field, negated: negated, value: FieldSelector.unescape(value)))
        }
        requirements = reqs
    }

    /// Field paths each kind supports (kube-apiserver refuses others with "field label not supported").
    public static func supportedFields(kind: String) -> Set<String> {
        var fields: Set<String> = ["metadata.name", "metadata.namespace"]
        switch kind {
        case "Pod":
            fields.formUnion(["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                              "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"])
        case "Event":
            fields.formUnion(["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                              "reason", "reportingComponent", "source", "type"])
        case "Secret": fields.insert("type")
        case "Node": fields.insert("spec.unschedulable")
        case "Namespace": fields.insert("status.phase")
        case "ReplicaSet": fields.insert("status.replicas")
        case "Job": fields.insert("status.successful")
        default: break
        }
        return fields
    }

    /// Throws `field label not supported: <f>` for fields the kind does not index.
    public func validate(kind: String) throws(SelectorError) {
        let supported = FieldSelector.supportedFields(kind: kind)
        for r in requirements where !supported.contains(r.field) {
            throw SelectorError("field label not supported: \(r.field)")
        }
    }

    public func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { r in
            let actual = FieldSelector.fieldValue(object, r.field)
            return r.negated ? actual != r.value : actual == r.value
        }
    }

    /// The string form of a field, as the apiserver's field sets expose it (missing → "").
    public static func fieldValue(_ object: JSONValue, _ field: String) -> String {
        let path: [String]
        switch field {
        case "source": path = ["source", "component"]
        case "status.successful": path = ["status", "succeeded"]
        default: path = field.split(separator: ".").map(String.init)
        }
        switch object.value(at: path) {
        case .string(let s)?: return s
        case .bool(let b)?: return b ? "true" : "false"
        case .int(let i)?: return String(i)
        case .double(let d)?: return JSONValue.formatDouble(d)
        default:
            if field == "spec.unschedulable" || field == "spec.hostNetwork" { return "false" }
            if field == "status.replicas" || field == "status.successful" { return "0" }
            return ""
        }
    }

    static func splitTerms(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var escaped = false
        for c in text {
            if escaped { current.append("\\"); current.append(c); escaped = false; continue }
            if c == "\\" { escaped = true; continue }
            if c == "," { terms.append(current); current = ""; continue }
            current.append(c)
        }
        if escaped { current.append("\\") }
        terms.append(current)
        return terms
    }

    static func splitOperator(_ term: String) -> (String, Bool, String)? {
        let chars = Array(term)
        var i = 0
        while i < chars.count {
            if chars[i] == "\\" { i += 2; continue }
            if chars[i] == "!" && i + 1 < chars.count && chars[i + 1] == "=" {
                return (String(chars[..<i]), true, String(chars[(i + 2)...]))
            }
            if chars[i] == "=" {
                let skip = i + 1 < chars.count && chars[i + 1] == "=" ? 2 : 1
                return (String(chars[..<i]), false, String(chars[(i + skip)...]))
            }
            i += 1
        }
        return nil
    }

    static func unescape(_ s: String) -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped { out.append(c); escaped = false } else if c == "\\" { escaped = true } else { out.append(c) }
        }
        return out
    }
}

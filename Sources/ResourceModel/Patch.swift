/// The three PATCH bodies kube-apiserver accepts: JSON merge patch (RFC 7386), JSON patch
/// (RFC 6902) and strategic merge patch. All work on `JSONValue` and never crash on bad input.

public struct PatchError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - RFC 7386

public enum MergePatch {
    public static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var result = target.objectValue ?? JSONObject()
        for (k, v) in p {
            if v == .null {
                result[k] = nil
            } else {
                result[k] = apply(v, to: result[k] ?? .null)
            }
        }
        return .object(result)
    }
}

// MARK: - RFC 6902

public enum JSONPatch {
    public enum Operation: Sendable, Equatable {
        case add(path: [String], value: JSONValue)
        case remove(path: [String])
        case replace(path: [String], value: JSONValue)
        case move(from: [String], path: [String])
        case copy(from: [String], path: [String])
        case test(path: [String], value: JSONValue)
    }

    /// Parses an RFC 6901 pointer (`/a/b~1c`); `""` is the whole document.
    public static func parsePointer(_ text: String) throws(PatchError) -> [String] {
        if text.isEmpty { return [] }
        guard text.hasPrefix("/") else { throw PatchError("invalid JSON pointer \(goQuote(text)): must start with '/'") }
        var tokens: [String] = []
        for raw in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            var out = ""
            var chars = raw.makeIterator()
            while let c = chars.next() {
                if c == "~" {
                    switch chars.next() {
                    case "0": out.append("~")
                    case "1": out.append("/")
                    default: throw PatchError("invalid JSON pointer \(goQuote(text)): bad escape")
                    }
                } else {
                    out.append(c)
                }
            }
            tokens.append(out)
        }
        return tokens
    }

    static func pointerString(_ path: [String]) -> String {
        path.map { "/" + $0.replacingAll("~", with: "~0").replacingAll("/", with: "~1") }.joined()
    }

    /// Decodes a patch document (an array of operation objects).
    public static func parse(_ document: JSONValue) throws(PatchError) -> [Operation] {
        guard case .array(let items) = document else { throw PatchError("json patch must be an array of operations") }
        var ops: [Operation] = []
        for (i, item) in items.enumerated() {
            guard case .object(let o) = item else { throw PatchError("operation \(i) is not an object") }
            guard let op = o["op"]?.stringValue else { throw PatchError("operation \(i): missing \"op\"") }
            guard let pathText = o["path"]?.stringValue else { throw PatchError("operation \(i): missing \"path\"") }
            let path = try parsePointer(pathText)
            func value() throws(PatchError) -> JSONValue {
                guard let v = o["value"] else { throw PatchError("operation \(i) (\(op)): missing \"value\"") }
                return v
            }
            func from() throws(PatchError) -> [String] {
                guard let f = o["from"]?.stringValue else { throw PatchError("operation \(i) (\(op)): missing \"from\"") }
                return try parsePointer(f)
            }
            switch op {
            case "add": ops.append(.add(path: path, value: try value()))
            case "remove": ops.append(.remove(path: path))
            case "replace": ops.append(.replace(path: path, value: try value()))
            case "move": ops.append(.move(from: try from(), path: path))
            case "copy": ops.append(.copy(from: try from(), path: path))
            case "test": ops.append(.test(path: path, value: try value()))
            default: throw PatchError("Unexpected kind: \(op)")
            }
        }
        return ops
    }

    /// Applies a patch document; the whole patch fails if any operation fails.
    public static func apply(_ document: JSONValue, to target: JSONValue) throws(PatchError) -> JSONValue {
        var doc = target
        for op in try parse(document) { doc = try apply(op, to: doc) }
        return doc
    }

    public static func apply(_ op: Operation, to doc: JSONValue) throws(PatchError) -> JSONValue {
        switch op {
        case .add(let path, let value): return try add(value, at: path, in: doc)
        case .remove(let path):
            return try remove(at: path, in: doc).0
        case .replace(let path, let value):
            guard get(path, in: doc) != nil else {
                throw PatchError("replace operation does not apply: doc is missing key: \(pointerString(path))")
            }
            if path.isEmpty { return value }
            let (removed, _) = try remove(at: path, in: doc)
            return try add(value, at: path, in: removed)
        case .move(let from, let path):
            if path.count > from.count && Array(path.prefix(from.count)) == from {
                throw PatchError("move operation: \"from\" \(pointerString(from)) is a prefix of \"path\" \(pointerString(path))")
            }
            let (removed, value) = try remove(at: from, in: doc)
            return try add(value, at: path, in: removed)
        case .copy(let from, let path):
            guard let value = get(from, in: doc) else {
                throw PatchError("copy operation does not apply: doc is missing from path: \(pointerString(from))")
            }
            return try add(value, at: path, in: doc)
        case .test(let path, let value):
            guard get(path, in: doc) == value else { throw PatchError("testing value \(pointerString(path)) failed") }
            return doc
        }
    }

    public static func get(_ path: [String], in doc: JSONValue) -> JSONValue? {
        var current = doc
        for token in path {
            switch current {
            case .object(let o):
                guard let next = o[token] else { return nil }
                current = next
            case .array(let a):
                guard let i = arrayIndex(token, count: a.count, allowEnd: false) else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }

    static func arrayIndex(_ token: String, count: Int, allowEnd: Bool) -> Int? {
        if allowEnd && token == "-" { return count }
        guard !token.isEmpty, token.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), token == "0" || !token.hasPrefix("0"),
              let i = Int(token) else { return nil }
        return i <= (allowEnd ? count : count - 1) ? i : nil
    }

    static func add(_ value: JSONValue, at path: [String], in doc: JSONValue) throws(PatchError) -> JSONValue {
        guard let token = path.first else { return value }
        let rest = Array(path.dropFirst())
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[token] = value
            } else {
                guard let child = o[token] else {
                    throw PatchError("add operation does not apply: doc is missing path: \(pointerString(path))")
                }
                o[token] = try add(value, at: rest, in: child)
            }
            return .object(o)
        case .array(var a):
            guard let i = arrayIndex(token, count: a.count, allowEnd: rest.isEmpty) else {
                throw PatchError("add operation does not apply: index out of bounds: \(token)")
            }
            if rest.isEmpty {
                a.insert(value, at: i)
            } else {
                a[i] = try add(value, at: rest, in: a[i])
            }
            return .array(a)
        default:
            throw PatchError("add operation does not apply: doc is missing path: \(pointerString(path))")
        }
    }

    static func remove(at path: [String], in doc: JSONValue) throws(PatchError) -> (JSONValue, JSONValue) {
        guard let token = path.first else { throw PatchError("remove operation does not apply: cannot remove the whole document") }
        let rest = Array(path.dropFirst())
        switch doc {
        case .object(var o):
            guard let child = o[token] else {
                throw PatchError("remove operation does not apply: doc is missing path: \(pointerString(path))")
            }
            if rest.isEmpty {
                o[token] = nil
                return (.object(o), child)
            }
            let (newChild, removed) = try remove(at: rest, in: child)
            o[token] = newChild
            return (.object(o), removed)
        case .array(var a):
            guard let i = arrayIndex(token, count: a.count, allowEnd: false) else {
                throw PatchError("remove operation does not apply: index out of bounds: \(token)")
            }
            if rest.isEmpty {
                let removed = a.remove(at: i)
                return (.array(a), removed)
            }
            let (newChild, removed) = try remove(at: rest, in: a[i])
            a[i] = newChild
            return (.array(a), removed)
        default:
            throw PatchError("remove operation does not apply: doc is missing path: \(pointerString(path))")
        }
    }
}

// MARK: - Strategic merge patch

/// How a list field merges in a strategic merge patch.
public enum ListStrategy: Sendable, Equatable {
    /// Replaced wholesale (the default for lists without a patch strategy).
    case atomic
    /// Items matched on this key and merged.
    case mergeByKey(String)
    /// A list of scalars merged as a set (e.g. finalizers).
    case mergePrimitives
}

public enum StrategicMergePatch {
    /// The merge strategy of a list at `path` (object field names from the root; array indices omitted).
    public static func listStrategy(kind: String, path: [String]) -> ListStrategy {
        guard let last = path.last else { return .atomic }
        let parent = path.count >= 2 ? path[path.count - 2] : ""
        let isContainer = ["containers", "initContainers", "ephemeralContainers"].contains(parent)
        switch last {
        case "containers", "initContainers", "ephemeralContainers": return .mergeByKey("name")
        case "ports":
            if isContainer { return .mergeByKey("containerPort") }
            if kind == "Service" && path == ["spec", "ports"] { return .mergeByKey("port") }
            return .atomic
        case "env": return isContainer ? .mergeByKey("name") : .atomic
        case "volumeMounts": return isContainer ? .mergeByKey("mountPath") : .atomic
        case "volumeDevices": return isContainer ? .mergeByKey("devicePath") : .atomic
        case "volumes", "imagePullSecrets": return parent == "spec" ? .mergeByKey("name") : .atomic
        case "hostAliases": return parent == "spec" ? .mergeByKey("ip") : .atomic
        case "topologySpreadConstraints": return parent == "spec" ? .mergeByKey("topologyKey") : .atomic
        case "ownerReferences": return parent == "metadata" ? .mergeByKey("uid") : .atomic
        case "finalizers": return parent == "metadata" ? .mergePrimitives : .atomic
        case "conditions": return parent == "status" ? .mergeByKey("type") : .atomic
        case "addresses": return kind == "Node" && parent == "status" ? .mergeByKey("type") : .atomic
        default: return .atomic
        }
    }

    /// Applies a strategic merge patch to `original`. `kind` selects the merge keys.
    public static func apply(_ patch: JSONValue, to original: JSONValue, kind: String) throws(PatchError) -> JSONValue {
        guard case .object(let p) = patch else { throw PatchError("strategic merge patch must be a JSON object") }
        let base = original.objectValue ?? JSONObject()
        guard let merged = try mergeObject(base, p, path: [], kind: kind) else { return .object(JSONObject()) }
        return .object(merged)
    }

    /// Returns nil when the patch says `$patch: delete` for this object.
    static func mergeObject(_ original: JSONObject, _ patch: JSONObject, path: [String], kind: String) throws(PatchError) -> JSONObject? {
        if let directive = patch["$patch"] {
            switch directive.stringValue {
            case "replace":
                var replacement = patch
                replacement["$patch"] = nil
                return try mergeObject(JSONObject(), replacement, path: path, kind: kind)
            case "delete":
                return nil
            case "merge":
                break
            default:
                throw PatchError("Unknown patch directive: \(directive.serialized())")
            }
        }
        var result = original
        var orders: [(String, [JSONValue])] = []
        for (key, value) in patch {
            if key == "$patch" || key == "$retainKeys" { continue }
            if key.hasPrefix("$setElementOrder/") {
                guard case .array(let order) = value else { throw PatchError("invalid \(key): must be a list") }
                orders.append((String(key.dropFirst("$setElementOrder/".count)), order))
                continue
            }
            if key.hasPrefix("$deleteFromPrimitiveList/") {
                let field = String(key.dropFirst("$deleteFromPrimitiveList/".count))
                guard case .array(let doomed) = value else { throw PatchError("invalid \(key): must be a list") }
                if case .array(let items)? = result[field] {
                    result[field] = .array(items.filter { !doomed.contains($0) })
                }
                continue
            }
            if key.hasPrefix("$") { continue }  // unknown directives are ignored, as by older servers
            let childPath = path + [key]
            switch value {
            case .null:
                result[key] = nil
            case .object(let childPatch):
                let existing = result[key]?.objectValue ?? JSONObject()
                if let merged = try mergeObject(existing, childPatch, path: childPath, kind: kind) {
                    result[key] = .object(merged)
                } else {
                    result[key] = nil
                }
            case .array(let items):
                result[key] = .array(try mergeList(result[key]?.arrayValue, items, path: childPath, kind: kind))
            default:
                result[key] = value
            }
        }
        if case .array(let keep)? = patch["$retainKeys"] {
            let retained = Set(keep.compactMap(\.stringValue))
            for key in result.keys where !retained.contains(key) && patch[key] == nil {
                result[key] = nil
            }
        }
        for (field, order) in orders {
            guard case .array(let items)? = result[field] else { continue }
            result[field] = .array(reorder(items, by: order, strategy: listStrategy(kind: kind, path: path + [field])))
        }
        return result
    }

    static func stripDirectives(_ value: JSONValue, path: [String], kind: String) throws(PatchError) -> JSONValue? {
        switch value {
        case .object(let o): return try mergeObject(JSONObject(), o, path: path, kind: kind).map(JSONValue.object)
        case .array(let items): return .array(try mergeList(nil, items, path: path, kind: kind))
        default: return value
        }
    }

    static func mergeList(_ original: [JSONValue]?, _ patch: [JSONValue], path: [String], kind: String) throws(PatchError) -> [JSONValue] {
        let strategy = listStrategy(kind: kind, path: path)
        // `{"$patch": "replace"}` inside a list replaces it with the other items.
        let replaceAll = patch.contains { $0["$patch"] == "replace" && $0.objectValue?.count == 1 }
        switch strategy {
        case .atomic:
            var out: [JSONValue] = []
            for item in patch where !(item["$patch"] != nil && item.objectValue?.count == 1) {
                if let clean = try stripDirectives(item, path: path, kind: kind) { out.append(clean) }
            }
            return out
        case .mergePrimitives:
            var out = replaceAll ? [] : (original ?? [])
            for item in patch where item.objectValue == nil && !out.contains(item) { out.append(item) }
            return out
        case .mergeByKey(let mergeKey):
            var out = replaceAll ? [] : (original ?? [])
            for item in patch {
                guard case .object(let itemPatch) = item else {
                    throw PatchError("list at \(path.joined(separator: ".")) merges by \(mergeKey): items must be objects")
                }
                if itemPatch["$patch"] == "replace" && itemPatch.count == 1 { continue }
                guard let keyValue = itemPatch[mergeKey] else {
                    throw PatchError("map: \(item.serialized()) does not contain declared merge key: \(mergeKey)")
                }
                let index = out.firstIndex { $0[mergeKey] == keyValue }
                if itemPatch["$patch"] == "delete" {
                    out.removeAll { $0[mergeKey] == keyValue }
                    continue
                }
                if let index, case .object(let existing) = out[index] {
                    if let merged = try mergeObject(existing, itemPatch, path: path, kind: kind) {
                        out[index] = .object(merged)
                    } else {
                        out.remove(at: index)
                    }
                } else if let fresh = try mergeObject(JSONObject(), itemPatch, path: path, kind: kind) {
                    out.append(.object(fresh))
                }
            }
            return out
        }
    }

    /// `$setElementOrder`: listed items first in the given order, then the rest in their current order.
    static func reorder(_ items: [JSONValue], by order: [JSONValue], strategy: ListStrategy) -> [JSONValue] {
        func key(_ v: JSONValue) -> JSONValue? {
            if case .mergeByKey(let k) = strategy { return v[k] }
            return v
        }
        var remaining = items
        var out: [JSONValue] = []
        for o in order {
            guard let wanted = key(o) else { continue }
            if let i = remaining.firstIndex(where: { key($0) == wanted }) { out.append(remaining.remove(at: i)) }
        }
        return out + remaining
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

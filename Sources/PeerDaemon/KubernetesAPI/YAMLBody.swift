import ResourceModel
import Yams

/// YAML request bodies (`application/apply-patch+yaml`, `application/yaml`) as JSON trees, keeping key order.
/// JSON is YAML, so kubectl's JSON apply bodies parse here too.
enum YAMLBody {
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw APIError.badRequest("the request body is not valid UTF-8") }
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw APIError.badRequest("the request body is not valid YAML: \(error)")
        }
        guard let node else { throw APIError.badRequest("the request body is empty") }
        var budget = maxNodes
        return try convert(node, depth: 0, budget: &budget)
    }

    /// Aliases are expanded by the parser; a budget stops "billion laughs" bodies from exploding.
    static let maxNodes = 1_000_000

    static func convert(_ node: Yams.Node, depth: Int, budget: inout Int) throws -> JSONValue {
        guard depth < 128 else { throw APIError.badRequest("the request body nests too deeply") }
        budget -= 1
        guard budget >= 0 else { throw APIError.badRequest("the request body expands to too many YAML nodes") }
        switch node {
        case .scalar(let scalar):
            return scalarValue(scalar)
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard case .scalar(let k) = key else { throw APIError.badRequest("YAML mapping keys must be strings") }
                object[k.string] = try convert(value, depth: depth + 1, budget: &budget)
            }
            return .object(object)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try convert(item, depth: depth + 1, budget: &budget)) }
            return .array(items)
        case .alias:
            throw APIError.badRequest("YAML aliases are not supported in request bodies")
        }
    }

    /// YAML 1.2 core schema for plain scalars; quoted scalars are always strings.
    static func scalarValue(_ scalar: Yams.Node.Scalar) -> JSONValue {
        let s = scalar.string
        guard scalar.style == .plain else { return .string(s) }
        switch s {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let i = Int64(s) { return .int(i) }
        let numeric = s.allSatisfy { "0123456789.eE+-".contains($0) } && s.contains(where: { $0.isNumber })
        if numeric, let d = Double(s) { return .double(d) }
        return .string(s)
    }
}

import ResourceModel

/// YAML request bodies (`application/apply-patch+yaml`, `application/yaml`) as JSON trees, keeping key order.
/// JSON is YAML, so kubectl's JSON apply bodies parse here too.
enum YAMLBody {
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw APIError.badRequest("the request body is not valid UTF-8") }
        do {
            // The reader bounds depth and expanded size while parsing, and the conversion again while walking.
            guard let node = try YAMLReader.parseDocument(text) else { throw APIError.badRequest("the request body is empty") }
            return try node.jsonValue()
        } catch let error as YAMLError {
            switch error.kind {
            case .tooDeep: throw APIError.badRequest("the request body nests too deeply (\(error))")
            case .tooManyNodes: throw APIError.badRequest("the request body expands to too many YAML nodes (\(error))")
            case .syntax: throw APIError.badRequest("the request body is not valid YAML: \(error)")
            }
        }
    }
}

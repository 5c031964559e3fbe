/// A validation failure on one field, worded like Kubernetes' `field.Error`.
public struct FieldError: Sendable, Equatable, CustomStringConvertible {
    public enum ErrorType: Sendable, Equatable {
        case required, invalid, notSupported, duplicate, forbidden, tooLong, typeInvalid, notFound

        /// The `StatusCause.reason`.
        public var reason: String {
            switch self {
            case .required: return "FieldValueRequired"
            case .invalid: return "FieldValueInvalid"
            case .notSupported: return "FieldValueNotSupported"
            case .duplicate: return "FieldValueDuplicate"
            case .forbidden: return "FieldValueForbidden"
            case .tooLong: return "FieldValueTooLong"
            case .typeInvalid: return "FieldValueTypeInvalid"
            case .notFound: return "FieldValueNotFound"
            }
        }

        var phrase: String {
            switch self {
            case .required: return "Required value"
            case .invalid: return "Invalid value"
            case .notSupported: return "Unsupported value"
            case .duplicate: return "Duplicate value"
            case .forbidden: return "Forbidden"
            case .tooLong: return "Too long"
            case .typeInvalid: return "Invalid value"
            case .notFound: return "Not found"
            }
        }
    }

    /// How the offending value is printed (Go prints strings quoted, numbers bare, structs with %#v).
    public enum BadValue: Sendable, Equatable {
        case none
        case string(String)
        case int(Int64)
        case bool(Bool)
        /// Printed verbatim (e.g. a Go `%#v` rendering).
        case raw(String)

        var rendered: String? {
            switch self {
            case .none: return nil
            case .string(let s): return goQuote(s)
            case .int(let i): return String(i)
            case .bool(let b): return String(b)
            case .raw(let r): return r
            }
        }
    }

    public var type: ErrorType
    public var field: String
    public var value: BadValue
    public var detail: String

    public init(_ type: ErrorType, _ field: String, _ value: BadValue = .none, _ detail: String = "") {
        self.type = type
        self.field = field
        self.value = value
        self.detail = detail
    }

    public static func required(_ field: String, _ detail: String = "") -> FieldError { FieldError(.required, field, .none, detail) }
    public static func invalid(_ field: String, _ value: BadValue, _ detail: String) -> FieldError { FieldError(.invalid, field, value, detail) }
    public static func duplicate(_ field: String, _ value: BadValue) -> FieldError { FieldError(.duplicate, field, value) }
    public static func forbidden(_ field: String, _ detail: String) -> FieldError { FieldError(.forbidden, field, .none, detail) }
    public static func tooLong(_ field: String, _ detail: String) -> FieldError { FieldError(.tooLong, field, .none, detail) }
    public static func notSupported(_ field: String, _ value: String, _ supported: [String]) -> FieldError {
        let list = supported.map(goQuote).joined(separator: ", ")
        return FieldError(.notSupported, field, .string(value), supported.isEmpty ? "" : "supported values: \(list)")
    }

    /// The message without the field path (what goes into `StatusCause.message`).
    public var detailMessage: String {
        var s = type.phrase
        switch type {
        case .required, .forbidden, .tooLong:
            break
        default:
            s += ": " + (value.rendered ?? "null")
        }
        if !detail.isEmpty { s += ": " + detail }
        return s
    }

    public var description: String { field.isEmpty ? detailMessage : "\(field): \(detailMessage)" }
}

/// Go's `%q` for the strings we deal with.
func goQuote(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = Array("0123456789abcdef")
                out += "\\x" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 0xF)])
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// Go's `%#v` for a `map[string]string`, keys sorted as fmt does.
func goMapLiteral(_ map: [String: String]) -> String {
    "map[string]string{" + map.keys.sorted().map { "\(goQuote($0)):\(goQuote(map[$0] ?? ""))" }.joined(separator: ", ") + "}"
}

/// A Kubernetes resource quantity (`500m`, `128Mi`, `1e3`), held exactly in nano-units.
/// Like Kubernetes, precision finer than 1n is rounded up, and the format (decimal SI,
/// binary SI, decimal exponent) of the input is kept for the canonical string.
public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    public enum Format: Sendable, Hashable { case decimalSI, binarySI, decimalExponent }

    /// The amount in units of 10^-9.
    public let nanos: Int128
    public let format: Format

    public static let regexMessage = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case format, suffix, tooLarge
        public var description: String {
            switch self {
            case .format: return Quantity.regexMessage
            case .suffix: return "unable to parse quantity's suffix"
            case .tooLarge: return "quantity is too large"
            }
        }
    }

    public init(nanos: Int128, format: Format = .decimalSI) {
        self.nanos = nanos
        self.format = format
    }

    public init(milli: Int64, format: Format = .decimalSI) {
        self.init(nanos: Int128(milli) * 1_000_000, format: format)
    }

    public init(_ text: String) throws(ParseError) {
        self = try Quantity.parse(text)
    }

    /// Whole units, rounded up (Kubernetes `Value()`).
    public var value: Int64 { Quantity.clamp(Quantity.ceilDiv(nanos, 1_000_000_000)) }
    /// Milli-units, rounded up (Kubernetes `MilliValue()`).
    public var milliValue: Int64 { Quantity.clamp(Quantity.ceilDiv(nanos, 1_000_000)) }

    static func ceilDiv(_ a: Int128, _ b: Int128) -> Int128 {
        let q = a / b
        return (a % b != 0 && a > 0) ? q + 1 : q
    }

    static func clamp(_ v: Int128) -> Int64 {
        if v > Int128(Int64.max) { return .max }
        if v < Int128(Int64.min) { return .min }
        return Int64(v)
    }

    private static let maxNanos: Int128 = Int128(Int64.max) * 1_000_000_000

    public static func parse(_ text: String) throws(ParseError) -> Quantity {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .format }
        var i = 0
        var negative = false
        if bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
            negative = bytes[i] == UInt8(ascii: "-")
            i += 1
        }
        var intDigits: [UInt8] = []
        var fracDigits: [UInt8] = []
        var seenDot = false
        while i < bytes.count {
            let b = bytes[i]
            if b >= 0x30 && b <= 0x39 {
                if seenDot { fracDigits.append(b - 0x30) } else { intDigits.append(b - 0x30) }
            } else if b == UInt8(ascii: ".") {
                if seenDot { throw .format }
                seenDot = true
            } else {
                break
            }
            i += 1
        }
        guard !intDigits.isEmpty || !fracDigits.isEmpty else { throw .format }
        let suffix = String(decoding: bytes[i...], as: UTF8.self)
        // The suffix must match [eEinumkKMGTP]*[-+]?[0-9]* first (the regex), then be a known one.
        var sawSign = false
        var sawDigit = false
        for b in suffix.utf8 {
            if "eEinumkKMGTP".utf8.contains(b) && !sawSign && !sawDigit { continue }
            if (b == UInt8(ascii: "+") || b == UInt8(ascii: "-")) && !sawSign && !sawDigit { sawSign = true; continue }
            if b >= 0x30 && b <= 0x39 { sawDigit = true; continue }
            throw .format
        }

        var base: Int128 = 10
        var exponent = 0
        var format = Format.decimalSI
        switch suffix {
        case "": exponent = 0
        case "n": exponent = -9
        case "u": exponent = -6
        case "m": exponent = -3
        case "k": exponent = 3
        case "M": exponent = 6
        case "G": exponent = 9
        case "T": exponent = 12
        case "P": exponent = 15
        case "E": exponent = 18
        case "Ki": base = 2; exponent = 10; format = .binarySI
        case "Mi": base = 2; exponent = 20; format = .binarySI
        case "Gi": base = 2; exponent = 30; format = .binarySI
        case "Ti": base = 2; exponent = 40; format = .binarySI
        case "Pi": base = 2; exponent = 50; format = .binarySI
        case "Ei": base = 2; exponent = 60; format = .binarySI
        default:
            let u = Array(suffix.utf8)
            guard u.count >= 2, u[0] == UInt8(ascii: "e") || u[0] == UInt8(ascii: "E"),
                  let e = Int(String(decoding: u[1...], as: UTF8.self)), abs(e) <= 60
            else { throw .suffix }
            exponent = e
            format = .decimalExponent
        }

        // mantissa = digits as an integer, scaled by 10^-fracDigits.count
        var mantissa: Int128 = 0
        let scale = -fracDigits.count
        var digits = intDigits + fracDigits
        while digits.first == 0 && digits.count > 1 { digits.removeFirst() }
        // Drop digits past what Int128 can hold; they are far below nano precision or overflow anyway.
        if digits.count > 36 { throw .tooLarge }
        for d in digits { mantissa = mantissa * 10 + Int128(d) }

        var nanosValue: Int128
        if base == 2 {
            // value * 2^exponent * 1e9 * 10^scale
            var v = mantissa * 1_000_000_000
            guard exponent <= 60, v.multipliedReportingOverflow(by: Int128(1) << exponent).overflow == false else { throw .tooLarge }
            v *= Int128(1) << exponent
            nanosValue = try divideByPowerOfTenRoundingUp(v, -scale)
        } else {
            let total = scale + exponent + 9
            if total >= 0 {
                var v = mantissa
                for _ in 0..<total {
                    let (r, o) = v.multipliedReportingOverflow(by: 10)
                    if o { throw .tooLarge }
                    v = r
                    if v > maxNanos * 10 { throw .tooLarge }
                }
                nanosValue = v
            } else {
                nanosValue = try divideByPowerOfTenRoundingUp(mantissa, -total)
            }
        }
        if nanosValue > maxNanos { throw .tooLarge }
        if negative { nanosValue = -nanosValue }
        return Quantity(nanos: nanosValue, format: format)
    }

    private static func divideByPowerOfTenRoundingUp(_ v: Int128, _ n: Int) throws(ParseError) -> Int128 {
        if n <= 0 { return v }
        var result = v
        var remainder = false
        for _ in 0..<n {
            if result % 10 != 0 { remainder = true }
            result /= 10
            if result == 0 { break }
        }
        if result == 0 && v != 0 { return 1 }
        return remainder ? result + 1 : result
    }

    /// Canonical form, as Kubernetes prints it (`1500m`, `2k`, `1Gi`, `1e3`).
    public var description: String {
        if nanos == 0 { return "0" }
        let negative = nanos < 0
        let magnitude = negative ? -nanos : nanos
        let sign = negative ? "-" : ""
        if format == .binarySI && magnitude % 1_000_000_000 == 0 && magnitude >= 1024 * 1_000_000_000 {
            var units = magnitude / 1_000_000_000
            var exp = 0
            while units % 1024 == 0 && exp < 6 {
                units /= 1024
                exp += 1
            }
            let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
            return sign + String(units) + suffixes[exp]
        }
        // Decimal: express as m × 10^(3k) with the smallest mantissa that is an integer.
        var mantissa = magnitude
        var exp = -9
        while mantissa % 1000 == 0 && exp < 18 {
            mantissa /= 1000
            exp += 3
        }
        if format == .decimalExponent {
            return sign + String(mantissa) + (exp == 0 ? "" : "e\(exp)")
        }
        let suffix: String
        switch exp {
        case -9: suffix = "n"
        case -6: suffix = "u"
        case -3: suffix = "m"
        case 0: suffix = ""
        case 3: suffix = "k"
        case 6: suffix = "M"
        case 9: suffix = "G"
        case 12: suffix = "T"
        case 15: suffix = "P"
        default: suffix = "E"
        }
        return sign + String(mantissa) + suffix
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.nanos < rhs.nanos }
    public static func == (lhs: Quantity, rhs: Quantity) -> Bool { lhs.nanos == rhs.nanos }
    public func hash(into hasher: inout Hasher) { hasher.combine(nanos) }

    // A zero left side takes the right side's format, as Kubernetes' `Add` does.
    public static func + (lhs: Quantity, rhs: Quantity) -> Quantity {
        Quantity(nanos: lhs.nanos + rhs.nanos, format: lhs.nanos == 0 ? rhs.format : lhs.format)
    }
    public static func - (lhs: Quantity, rhs: Quantity) -> Quantity {
        Quantity(nanos: lhs.nanos - rhs.nanos, format: lhs.nanos == 0 ? rhs.format : lhs.format)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Manifests written in YAML often say `cpu: 1`; accept numbers and canonicalise.
        if let i = try? c.decode(Int64.self) {
            self = Quantity(nanos: Int128(i) * 1_000_000_000)
        } else if let d = try? c.decode(Double.self) {
            do { self = try Quantity.parse("\(d)") } catch { throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description) }
        } else {
            let s = try c.decode(String.self)
            do { self = try Quantity.parse(s) } catch { throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description) }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// `int-or-string` fields such as `maxSurge: 25%` or `targetPort: http`.
public enum IntOrString: Sendable, Hashable, Codable, CustomStringConvertible {
    case int(Int)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let i = try? c.decode(Int.self) { self = .int(i) } else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .string(let s): try c.encode(s)
        }
    }

    public var description: String {
        switch self {
        case .int(let i): return String(i)
        case .string(let s): return s
        }
    }

    public var jsonValue: JSONValue {
        switch self {
        case .int(let i): return .int(Int64(i))
        case .string(let s): return .string(s)
        }
    }

    public init?(json: JSONValue) {
        if let i = json.intValue { self = .int(Int(i)) } else if let s = json.stringValue { self = .string(s) } else { return nil }
    }

    /// The percentage for a `"NN%"` string, nil otherwise.
    public var percent: Int? {
        guard case .string(let s) = self, s.hasSuffix("%"), let v = Int(s.dropLast()) else { return nil }
        return v
    }

    /// Kubernetes `GetScaledValueFromIntOrPercent`: a percentage of `total`, rounded up (maxSurge)
    /// or down (maxUnavailable). Nil for a string that is not a percentage.
    public func scaledValue(total: Int, roundUp: Bool) -> Int? {
        switch self {
        case .int(let i): return i
        case .string:
            guard let p = percent else { return nil }
            let product = p * total
            if roundUp { return product >= 0 ? (product + 99) / 100 : product / 100 }
            return product >= 0 ? product / 100 : (product - 99) / 100
        }
    }
}

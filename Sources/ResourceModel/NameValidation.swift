/// Name, label and annotation rules from Kubernetes' `apimachinery/pkg/util/validation`, with its messages.
public enum NameValidation {
    static func regexError(_ msg: String, _ regex: String, _ examples: [String]) -> String {
        var s = msg + " (e.g. "
        for (i, e) in examples.enumerated() {
            if i > 0 { s += " or " }
            s += "'\(e)', "
        }
        return s + "regex used for validation is '\(regex)')"
    }

    static let dns1123LabelRegex = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
    static let dns1123SubdomainRegex = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    static let dns1035LabelRegex = "[a-z]([-a-z0-9]*[a-z0-9])?"
    static let qualifiedNameRegex = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
    static let labelValueRegex = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"

    public static let dns1123LabelMessage = regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        dns1123LabelRegex, ["my-name", "123-abc"])
    public static let dns1123SubdomainMessage = regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        dns1123SubdomainRegex, ["example.com"])
    public static let dns1035LabelMessage = regexError(
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
        dns1035LabelRegex, ["my-name", "abc-123"])
    static let qualifiedNameMessage = regexError(
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        qualifiedNameRegex, ["MyName", "my.name", "123-abc"])
    public static let labelValueMessage = regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        labelValueRegex, ["MyValue", "my_value", "12345"])

    static func maxLenError(_ n: Int) -> String { "must be no more than \(n) characters" }

    @inline(__always) static func isLowerAlnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) }
    @inline(__always) static func isAlnum(_ b: UInt8) -> Bool { isLowerAlnum(b) || (b >= 0x41 && b <= 0x5A) }

    static func matchesLabel(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, let l = u.last, isLowerAlnum(f), isLowerAlnum(l) else { return false }
        return u.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    /// Errors for a DNS-1123 label (namespaces, container names, port names...).
    public static func dns1123Label(_ s: String) -> [String] {
        var errs: [String] = []
        if s.utf8.count > 63 { errs.append(maxLenError(63)) }
        if !matchesLabel(s) { errs.append(dns1123LabelMessage) }
        return errs
    }

    /// Errors for a DNS-1123 subdomain (most object names).
    public static func dns1123Subdomain(_ s: String) -> [String] {
        var errs: [String] = []
        if s.utf8.count > 253 { errs.append(maxLenError(253)) }
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        if parts.isEmpty || !parts.allSatisfy({ matchesLabel(String($0)) }) { errs.append(dns1123SubdomainMessage) }
        return errs
    }

    /// Errors for a DNS-1035 label (service names).
    public static func dns1035Label(_ s: String) -> [String] {
        var errs: [String] = []
        if s.utf8.count > 63 { errs.append(maxLenError(63)) }
        let u = Array(s.utf8)
        let ok = u.first.map { $0 >= 0x61 && $0 <= 0x7A } == true && matchesLabel(s)
        if !ok { errs.append(dns1035LabelMessage) }
        return errs
    }

    static func matchesQualifiedNamePart(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, let l = u.last, isAlnum(f), isAlnum(l) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// Errors for a qualified name (label and annotation keys): `[prefix/]name`.
    public static func qualifiedName(_ s: String) -> [String] {
        var errs: [String] = []
        let parts = s.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let name: String
        switch parts.count {
        case 1:
            name = parts[0]
        case 2:
            let prefix = parts[0]
            name = parts[1]
            if prefix.isEmpty {
                errs.append("prefix part must be non-empty")
            } else {
                errs += dns1123Subdomain(prefix).map { "prefix part " + $0 }
            }
        default:
            return ["a qualified name " + qualifiedNameMessage + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        }
        if name.isEmpty {
            errs.append("name part must be non-empty")
        } else if name.utf8.count > 63 {
            errs.append("name part " + maxLenError(63))
        }
        if !name.isEmpty && !matchesQualifiedNamePart(name) { errs.append("name part " + qualifiedNameMessage) }
        return errs
    }

    /// Errors for a label value.
    public static func labelValue(_ s: String) -> [String] {
        var errs: [String] = []
        if s.utf8.count > 63 { errs.append(maxLenError(63)) }
        if !s.isEmpty && !matchesQualifiedNamePart(s) { errs.append(labelValueMessage) }
        return errs
    }

    /// Labels map rules, reported under `path` (e.g. `metadata.labels`).
    public static func validateLabels(_ labels: [String: String], path: String) -> [FieldError] {
        var errs: [FieldError] = []
        for k in labels.keys.sorted() {
            for m in qualifiedName(k) { errs.append(.invalid(path, .string(k), m)) }
            for m in labelValue(labels[k] ?? "") { errs.append(.invalid(path, .string(labels[k] ?? ""), m)) }
        }
        return errs
    }

    public static let totalAnnotationSizeLimit = 256 * 1024

    public static func validateAnnotations(_ annotations: [String: String], path: String) -> [FieldError] {
        var errs: [FieldError] = []
        var total = 0
        for k in annotations.keys.sorted() {
            for m in qualifiedName(k.lowercased()) { errs.append(.invalid(path, .string(k), m)) }
            total += k.utf8.count + (annotations[k]?.utf8.count ?? 0)
        }
        if total > totalAnnotationSizeLimit {
            errs.append(.tooLong(path, "must have at most \(totalAnnotationSizeLimit) bytes"))
        }
        return errs
    }

    /// A name validator; `prefix` is true for `generateName`, whose trailing dash is allowed.
    public typealias NameRule = @Sendable (_ name: String, _ prefix: Bool) -> [String]

    public static let subdomainName: NameRule = { name, prefix in dns1123Subdomain(maskTrailingDash(name, prefix)) }
    public static let labelName: NameRule = { name, prefix in dns1123Label(maskTrailingDash(name, prefix)) }
    public static let dns1035Name: NameRule = { name, prefix in dns1035Label(maskTrailingDash(name, prefix)) }

    static func maskTrailingDash(_ name: String, _ prefix: Bool) -> String {
        if prefix, name.utf8.count > 1, name.hasSuffix("-") { return String(name.dropLast()) + "a" }
        return name
    }

    /// Path segment names may not be `.`/`..` nor contain `/` or `%` (Kubernetes `IsValidPathSegmentName`).
    static func pathSegmentErrors(_ name: String, prefix: Bool) -> [String] {
        var errs: [String] = []
        if !prefix && (name == "." || name == "..") { errs.append("may not be '\(name)'") }
        for bad in ["/", "%"] where name.contains(bad) { errs.append("may not contain '\(bad)'") }
        return errs
    }
}

import Logging
import ResourceModel

/// Reads a peer's YAML configuration strictly: an unknown key or a value of the wrong type is an error that
/// names the file, the line and the key, because a silently ignored typo is how clusters end up half-configured.
public enum ConfigurationFile {
    public static func load(path: String, onto base: PeerConfiguration = PeerConfiguration()) throws(ConfigurationError) -> PeerConfiguration {
        let text: String
        do {
            text = try SmallFile.read(path)
        } catch {
            throw ConfigurationError(source: path, key: nil, message: "cannot read configuration file: \(error.description)")
        }
        return try parse(text, source: path, onto: base)
    }

    public static func parse(_ text: String, source: String, onto base: PeerConfiguration = PeerConfiguration()) throws(ConfigurationError) -> PeerConfiguration {
        let root: YAMLNode?
        do {
            root = try YAMLReader.parseDocument(text)
        } catch {
            throw ConfigurationError(source: source, key: nil, message: "not valid YAML: \(error)")
        }
        guard let root else { return base } // an empty file keeps the defaults
        guard case .mapping(let mapping) = root.kind else {
            throw ConfigurationError(source: source, key: nil, message: "the top level must be a mapping of keys to values")
        }
        var config = base
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalarText else {
                throw ConfigurationError(source: source, key: nil, message: "line \(keyNode.line): keys must be strings")
            }
            let field = Field(source: source, key: key, node: value)
            switch key {
            case "name": config.name = try field.string()
            case "dataDir": config.dataDirectory = try field.string()
            case "bindAddress": config.bindAddress = try field.string()
            case "gossipPort": config.gossipPort = try field.port()
            case "raftPort": config.raftPort = try field.port()
            case "apiPort": config.apiPort = try field.port()
            case "join": config.join = try field.strings()
            case "insecureHTTP": config.insecureHTTP = try field.bool()
            case "allowInsecureRemote": config.allowInsecureRemote = try field.bool()
            case "logLevel": config.logLevel = try field.logLevel()
            case "gossipKeyFile": config.gossipKeyFile = try field.string()
            case "voters": config.voters = try field.int()
            case "nodeGracePeriodSeconds":
                config.nodeGracePeriodSeconds = try field.int()
                guard config.nodeGracePeriodSeconds >= 0 else { throw field.error("must not be negative") }
            case "maxPods":
                config.maxPods = try field.int()
                guard config.maxPods > 0 else { throw field.error("must be positive") }
            case "podSandboxPool":
                config.podSandboxPool = try field.int()
                guard (0...64).contains(config.podSandboxPool) else { throw field.error("must be between 0 and 64") }
            case "runPods": config.runPods = try field.bool()
            case "podBridge": config.podBridge = try field.string()
            case "podSubnet": config.podSubnet = try field.string()
            case "imageRegistries": config.imageRegistries = try field.strings()
            case "imageTrust": config.imageTrust = try field.trustRules()
            default:
                let known = ["name", "dataDir", "bindAddress", "gossipPort", "raftPort", "apiPort", "join", "insecureHTTP", "allowInsecureRemote", "logLevel", "gossipKeyFile", "voters",
                             "runPods", "podBridge", "podSubnet", "imageRegistries", "imageTrust", "nodeGracePeriodSeconds", "maxPods",
                             "podSandboxPool"]
                let hint = known.min { editDistance($0, key) < editDistance($1, key) }.flatMap { editDistance($0, key) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
                throw field.error("unknown key\(hint)")
            }
        }
        return config
    }

    struct Field {
        let source: String
        let key: String
        let node: YAMLNode

        func error(_ message: String) -> ConfigurationError {
            ConfigurationError(source: source, key: key, message: "line \(node.line): " + message)
        }

        func string() throws(ConfigurationError) -> String {
            guard let text = node.scalarText else { throw error("expected a string") }
            return text
        }

        func bool() throws(ConfigurationError) -> Bool {
            guard let value = ConfigurationFile.bool(node) else { throw error("expected true or false") }
            return value
        }

        func port() throws(ConfigurationError) -> Int {
            guard let value = ConfigurationFile.int(node) else { throw error("expected a port number") }
            guard (1...65535).contains(value) else { throw error("\(value) is out of range (1-65535)") }
            return value
        }

        func int() throws(ConfigurationError) -> Int {
            guard let value = ConfigurationFile.int(node) else { throw error("expected a whole number") }
            return value
        }

        func strings() throws(ConfigurationError) -> [String] {
            guard case .sequence(let sequence) = node.kind else { throw error("expected a list of strings") }
            var result: [String] = []
            for item in sequence {
                guard let text = item.scalarText else { throw error("expected a list of strings") }
                result.append(text)
            }
            return result
        }

        /// `imageTrust`: a list of mappings with `prefix`, `namespaces`, `keys` and `mode`.
        func trustRules() throws(ConfigurationError) -> [ImageTrustRule] {
            guard case .sequence(let sequence) = node.kind else { throw error("expected a list of {prefix, namespaces, keys, mode}") }
            var rules: [ImageTrustRule] = []
            for (i, item) in sequence.enumerated() {
                guard case .mapping(let mapping) = item.kind else { throw error("entry \(i): expected a mapping with prefix, namespaces, keys and mode") }
                var rule = ImageTrustRule()
                for (keyNode, value) in mapping {
                    let name = keyNode.scalarText ?? ""
                    let inner = Field(source: source, key: "\(key)[\(i)].\(name)", node: value)
                    switch name {
                    case "prefix": rule.prefix = try inner.string()
                    case "namespaces": rule.namespaces = try inner.strings()
                    case "keys": rule.keys = try inner.strings()
                    case "mode": rule.mode = try inner.string()
                    default: throw inner.error("unknown key (expected prefix, namespaces, keys or mode)")
                    }
                }
                if rule.keys.isEmpty { throw error("entry \(i): keys: list at least one public key") }
                rules.append(rule)
            }
            return rules
        }

        func logLevel() throws(ConfigurationError) -> Logger.Level {
            let text = try string()
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw error("'\(text)' is not a log level (trace, debug, info, notice, warning, error, critical)")
            }
            return level
        }
    }

    /// The booleans the configuration has always accepted (YAML 1.1's words as well as 1.2's), written plainly
    /// or tagged `!!bool`; a quoted or `!!str` value is a string, not a boolean.
    static func bool(_ node: YAMLNode) -> Bool? {
        guard let text = node.scalarText, node.tag == .bool || (node.tag == nil && node.scalarStyle == .plain) else { return nil }
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
        default: return nil
        }
    }

    /// The whole numbers the configuration has always accepted, from a plain value: decimal with an optional sign,
    /// `_` separators, `0x`, `0o`, `0b` and a leading `0` (octal), and base 60 (`1:30`).
    static func int(_ node: YAMLNode) -> Int? {
        guard let raw = node.scalarText, node.scalarStyle == .plain else { return nil }
        let text = raw.filter { $0 != "_" }
        if text == "0" { return 0 }
        let negative = text.hasPrefix("-")
        let signed = negative || text.hasPrefix("+")
        let digits = text.dropFirst(signed ? 1 : 0)
        let sign = negative ? "-" : ""
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where digits.hasPrefix(prefix) {
            return Int(sign + digits.dropFirst(prefix.count), radix: radix)
        }
        if digits.contains(":") {
            var value = 0
            for part in digits.split(separator: ":", omittingEmptySubsequences: false) {
                guard let component = Int(part) else { return nil }
                let (shifted, overflow) = value.multipliedReportingOverflow(by: 60)
                let (sum, overflow2) = shifted.addingReportingOverflow(component)
                guard !overflow, !overflow2 else { return nil }
                value = sum
            }
            return negative ? -value : value
        }
        return Int(text)
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}

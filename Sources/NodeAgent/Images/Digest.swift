import Sodium

/// A content address, `sha256:<64 lower-case hex>`: the only algorithm this store accepts.
public struct Digest: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let hex: String

    public init?(_ text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        self.init(hex: String(text.dropFirst("sha256:".count)))
    }

    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            return nil
        }
        self.hex = hex
    }

    init(bytes: [UInt8]) {
        hex = SHA256.hex(bytes)
    }

    /// The digest of `data`.
    public static func of(_ data: [UInt8]) -> Digest {
        Digest(bytes: SHA256.hash(data))
    }

    public var description: String { "sha256:\(hex)" }
    /// Short form for logs and listings.
    public var short: String { String(hex.prefix(12)) }
    /// The cosign-style tag its signatures travel under.
    public var signatureTag: String { "sha256-\(hex).sig" }

    public static func < (a: Digest, b: Digest) -> Bool { a.hex < b.hex }
}

/// `[registry/]repository[:tag][@sha256:…]`, parsed by the distribution reference grammar (simplified).
///
/// The registry host only says where to fetch from: an image's identity — its store key, the name its
/// signatures cover and what trust-policy prefixes match — is the repository path, so the same image pulled
/// from a registry or from a peer is the same image.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    public var registry: String?
    public var repository: String
    public var tag: String?
    public var digest: Digest?

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(repository: String, tag: String?, digest: Digest? = nil, registry: String? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    public init(parsing text: String) throws(ParseError) {
        var rest = Substring(text)
        guard !rest.isEmpty, rest.utf8.count <= 512 else { throw ParseError(description: "'\(text)' is not an image reference") }
        if let at = rest.firstIndex(of: "@") {
            guard let digest = Digest(String(rest[rest.index(after: at)...])) else {
                throw ParseError(description: "'\(text)': the digest must be sha256:<64 hex digits>")
            }
            self.digest = digest
            rest = rest[..<at]
        } else {
            digest = nil
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if components.count > 1, let first = components.first,
            first.contains(".") || first.contains(":") || first == "localhost" {
            registry = first
            components.removeFirst()
        } else {
            registry = nil
        }
        tag = nil
        if let last = components.last, let colon = last.lastIndex(of: ":") {
            let tagText = String(last[last.index(after: colon)...])
            guard ImageReference.isValidTag(tagText) else { throw ParseError(description: "'\(text)': '\(tagText)' is not a valid tag") }
            tag = tagText
            components[components.count - 1] = String(last[..<colon])
        }
        if registry == "docker.io" || registry == "index.docker.io" {
            registry = nil
            if components.count == 2, components[0] == "library" { components.removeFirst() }
        }
        for component in components where !ImageReference.isValidPathComponent(component) {
            throw ParseError(description: "'\(text)': '\(component)' is not a valid repository name component (lower-case letters, digits, '.', '_', '-')")
        }
        repository = components.joined(separator: "/")
        if tag == nil && digest == nil { tag = "latest" }
    }

    /// A repository path as the distribution API names it (`demo/web`), without host, tag or digest.
    public static func isValidRepository(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255
            && name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isValidPathComponent(String($0)) }
    }

    static func isValidPathComponent(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlphanumeric(first), isAlphanumeric(last) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    public static func isValidTag(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 128, first != UInt8(ascii: "."), first != UInt8(ascii: "-") else { return false }
        return bytes.allSatisfy {
            isAlphanumeric($0) || (0x41...0x5A).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    private static func isAlphanumeric(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) || (0x61...0x7A).contains(b) }

    /// `repository:tag` or `repository@digest`, the store's name for it.
    public var name: String {
        if let digest { return tag.map { "\(repository):\($0)@\(digest)" } ?? "\(repository)@\(digest)" }
        return "\(repository):\(tag ?? "latest")"
    }

    public var description: String {
        (registry.map { "\($0)/" } ?? "") + name
    }
}

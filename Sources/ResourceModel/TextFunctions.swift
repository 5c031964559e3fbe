// String helpers the modules used to take from Foundation's NSString bridge, which would keep CoreFoundation
// and ICU resident in an idle peer (issue #3).

extension StringProtocol {
    /// Without leading and trailing whitespace and newlines (as `trimmingCharacters(in: .whitespacesAndNewlines)`).
    public func trimmedWhitespace() -> String {
        trimmed { $0.isWhitespace || $0.isNewline }
    }

    /// Without leading and trailing characters for which `strip` holds.
    public func trimmed(where strip: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !strip($0) }), let last = lastIndex(where: { !strip($0) }) else { return "" }
        return String(self[first...last])
    }

    /// The path without its last component (as NSString's `deletingLastPathComponent`): "/a/b" → "/a", "/a" → "/",
    /// "a" → "".
    public func pathDeletingLastComponent() -> String {
        var path = Substring(self)
        while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/") else { return "" }
        if slash == path.startIndex { return "/" }
        var parent = path[..<slash]
        while parent.count > 1, parent.hasSuffix("/") { parent = parent.dropLast() }
        return String(parent)
    }

    /// The path's last component (as NSString's `lastPathComponent`): "/a/b/" → "b", "/" → "/".
    public var pathLastComponent: String {
        let parts = split(separator: "/")
        guard let last = parts.last else { return hasPrefix("/") ? "/" : "" }
        return String(last)
    }
}

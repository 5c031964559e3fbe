import CSodium

/// Everything that can go wrong in this module; no API here traps on bad input.
public enum SodiumError: Error, Equatable, Sendable {
    case initializationFailed
    /// An input had the wrong size, e.g. a 31-byte key.
    case invalidLength(what: String, expected: ClosedRange<Int>, actual: Int)
    /// Ciphertext, nonce or additional data were altered, or the key is wrong.
    case authenticationFailed
    case invalidBase64
    case messageTooLong
    /// libsodium reported a failure we do not expect for valid sizes.
    case operationFailed(String)
}

/// libsodium must be initialized once before use; a static let gives us a
/// thread-safe, exactly-once call.
enum SodiumRuntime {
    static let ready: Bool = sodium_init() >= 0

    static func ensure() throws(SodiumError) {
        guard ready else { throw .initializationFailed }
    }
}

func checkLength(_ what: String, _ actual: Int, _ expected: Int) throws(SodiumError) {
    guard actual == expected else { throw .invalidLength(what: what, expected: expected...expected, actual: actual) }
}

func checkLength(_ what: String, _ actual: Int, _ expected: ClosedRange<Int>) throws(SodiumError) {
    guard expected.contains(actual) else { throw .invalidLength(what: what, expected: expected, actual: actual) }
}

public enum Sodium {
    /// Cryptographically secure random bytes from the OS via libsodium.
    public static func randomBytes(count: Int) throws(SodiumError) -> [UInt8] {
        try SodiumRuntime.ensure()
        guard count >= 0 else { throw .invalidLength(what: "random byte count", expected: 0...Int.max, actual: count) }
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { randombytes_buf(base, buffer.count) }
        }
        return out
    }

    /// Uniform in 0..<upperBound (unbiased). Returns 0 when upperBound < 2.
    public static func randomUniform(below upperBound: UInt32) throws(SodiumError) -> UInt32 {
        try SodiumRuntime.ensure()
        return randombytes_uniform(upperBound)
    }

    /// Compares in time independent of where the inputs differ (for MACs, tokens).
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        guard SodiumRuntime.ready else { return false }
        return withBytePointer(a) { x in withBytePointer(b) { y in sodium_memcmp(x, y, a.count) == 0 } }
    }

    /// Standard (padded) base64, the form used in config files.
    public static func base64Encode(_ bytes: [UInt8]) -> String {
        guard SodiumRuntime.ready else { return "" }
        let variant = Int32(sodium_base64_VARIANT_ORIGINAL)
        let capacity = sodium_base64_encoded_len(bytes.count, variant)
        var text = [UInt8](repeating: 0, count: capacity)
        withMutableBytePointer(&text) { output in
            withBytePointer(bytes) { input in
                output.withMemoryRebound(to: CChar.self, capacity: capacity) { chars in
                    _ = sodium_bin2base64(chars, capacity, input, bytes.count, variant)
                }
            }
        }
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Strict decoder: whitespace around the text is ignored; anything else invalid throws.
    public static func base64Decode(_ text: String) throws(SodiumError) -> [UInt8] {
        try SodiumRuntime.ensure()
        let trimmed = Array(text.utf8.drop { isSpace($0) }.reversed().drop { isSpace($0) }.reversed())
        if trimmed.isEmpty { return [] }
        var out = [UInt8](repeating: 0, count: trimmed.count / 4 * 3 + 3)
        let capacity = out.count
        var written = 0
        let status = withMutableBytePointer(&out) { output in
            withBytePointer(trimmed) { input in
                input.withMemoryRebound(to: CChar.self, capacity: trimmed.count) { chars in
                    sodium_base642bin(
                        output, capacity, chars, trimmed.count,
                        nil, &written, nil, Int32(sodium_base64_VARIANT_ORIGINAL))
                }
            }
        }
        guard status == 0, written <= out.count else {
            wipe(&out)
            throw .invalidBase64
        }
        let result = Array(out[..<written])
        wipe(&out)
        return result
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    /// Overwrites a buffer that held secret material (best effort: Swift arrays may have
    /// been copied earlier; keep secrets in the key types, which wipe on deinit).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { sodium_memzero(base, buffer.count) }
        }
    }
}

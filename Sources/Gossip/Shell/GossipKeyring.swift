import Sodium

/// The cluster's gossip keys: one primary that seals everything we send, and any number of others that we
/// still accept. Rotation without downtime is three steps run on every peer — install the new key (accepted),
/// make it primary, remove the old one — so at every moment every peer can open what any other peer sends.
public struct GossipKeyring: Sendable, Equatable {
    /// Packet format version; it is also the authenticated additional data, so a version cannot be swapped.
    public static let packetVersion: UInt8 = 1
    public static let overhead = 1 + SecretBox.overhead

    public private(set) var primary: SecretBoxKey
    /// Accepted for receiving, primary included, primary first.
    public private(set) var keys: [SecretBoxKey]

    public init(primary: SecretBoxKey, accepted others: [SecretBoxKey] = []) {
        self.primary = primary
        self.keys = [primary] + others.filter { $0 != primary }
    }

    public enum KeyringError: Error, Equatable, CustomStringConvertible {
        case unknownKey
        case cannotRemovePrimary
        public var description: String {
            switch self {
            case .unknownKey: "the key is not installed in the keyring"
            case .cannotRemovePrimary: "the primary key cannot be removed; make another key primary first"
            }
        }
    }

    public mutating func install(_ key: SecretBoxKey) {
        if !keys.contains(key) { keys.append(key) }
    }

    public mutating func use(_ key: SecretBoxKey) throws(KeyringError) {
        guard let position = keys.firstIndex(of: key) else { throw .unknownKey }
        keys.remove(at: position)
        keys.insert(key, at: 0)
        primary = key
    }

    public mutating func remove(_ key: SecretBoxKey) throws(KeyringError) {
        guard key != primary else { throw .cannotRemovePrimary }
        guard let position = keys.firstIndex(of: key) else { throw .unknownKey }
        keys.remove(at: position)
    }

    /// version || nonce || ciphertext || tag, under the primary key.
    public func seal(_ plaintext: [UInt8]) throws(SodiumError) -> [UInt8] {
        let header = [Self.packetVersion]
        return header + (try SecretBox(key: primary).seal(plaintext, additionalData: header))
    }

    public enum OpenError: Error, Equatable {
        case tooShort
        case unsupportedVersion(UInt8)
        case noKeyAuthenticates
    }

    /// Tries every accepted key; a packet that none of them authenticates is rejected.
    public func open(_ packet: [UInt8]) -> Result<[UInt8], OpenError> {
        guard packet.count >= Self.overhead else { return .failure(.tooShort) }
        guard packet[0] == Self.packetVersion else { return .failure(.unsupportedVersion(packet[0])) }
        let sealed = Array(packet[1...])
        for key in keys {
            if let plaintext = try? SecretBox(key: key).open(sealed, additionalData: [Self.packetVersion]) {
                return .success(plaintext)
            }
        }
        return .failure(.noKeyAuthenticates)
    }
}

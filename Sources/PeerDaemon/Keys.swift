import Sodium

public enum Keys {
    /// A fresh 32-byte gossip key, base64, as `--gossip-key-file` reads it.
    public static func newGossipKey() throws -> String {
        try SecretBoxKey.generate().base64EncodedString()
    }
}

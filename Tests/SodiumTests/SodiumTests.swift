import Sodium
import Testing

func hex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8?
    for c in text.utf8 {
        let v: UInt8
        switch c {
        case 0x30...0x39: v = c - 0x30
        case 0x61...0x66: v = c - 0x61 + 10
        default: continue  // allow spaces/newlines in long vectors
        }
        if let h = high {
            out.append(h << 4 | v)
            high = nil
        } else {
            high = v
        }
    }
    return out
}

struct Ed25519Vector: Sendable, CustomTestStringConvertible {
    let name: String
    let seed: String
    let publicKey: String
    let message: String
    let signature: String
    var testDescription: String { name }
}

/// RFC 8032 section 7.1.
let rfc8032Vectors: [Ed25519Vector] = [
    Ed25519Vector(
        name: "TEST 1",
        seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    Ed25519Vector(
        name: "TEST 2",
        seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        message: "72",
        signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    Ed25519Vector(
        name: "TEST 3",
        seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        message: "af82",
        signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
    Ed25519Vector(
        name: "TEST 1024",
        seed: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        publicKey: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        message: """
            08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1
            e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d
            658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a
            7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e
            06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc10
            3b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1
            85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d
            502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270
            88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089b
            eccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba
            b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969b
            e3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7
            51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988d
            cda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df
            f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7
            984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4
            88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac09
            43bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f
            b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f161
            0e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d
            b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8ca
            c60c905c15fc910840b94c00a0b9d0
            """,
        signature: "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"),
    Ed25519Vector(
        name: "TEST SHA(abc)",
        seed: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        publicKey: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        message: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        signature: "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"),
]

@Suite struct Ed25519Tests {
    @Test(arguments: rfc8032Vectors)
    func rfc8032Vector(_ vector: Ed25519Vector) throws {
        let pair = try SigningKeyPair(seed: hex(vector.seed))
        #expect(pair.publicKey.bytes == hex(vector.publicKey))
        let message = hex(vector.message)
        let signature = pair.sign(message)
        #expect(signature.bytes == hex(vector.signature))
        let publicKey = try SigningPublicKey(bytes: hex(vector.publicKey))
        #expect(publicKey.isValidSignature(signature, for: message))
        var altered = message
        if altered.isEmpty { altered = [0] } else { altered[altered.count / 2] ^= 0x01 }
        #expect(!publicKey.isValidSignature(signature, for: altered))
    }

    @Test func longVectorHasTheStatedLength() {
        #expect(hex(rfc8032Vectors[3].message).count == 1023)
    }

    @Test func generatedKeysSignAndVerifyAndRejectTampering() throws {
        let a = try SigningKeyPair.generate()
        let b = try SigningKeyPair.generate()
        #expect(a.publicKey != b.publicKey)
        let message = Array("hello cluster".utf8)
        let sig = a.sign(message)
        #expect(a.publicKey.isValidSignature(sig, for: message))
        #expect(!b.publicKey.isValidSignature(sig, for: message))
        var bad = sig.bytes
        bad[0] ^= 0x80
        #expect(!a.publicKey.isValidSignature(bad, for: message))
        #expect(!a.publicKey.isValidSignature(Array(sig.bytes.dropLast()), for: message))
        #expect(!a.publicKey.isValidSignature([], for: message))
    }

    @Test func seedRoundTripsThroughBase64() throws {
        let pair = try SigningKeyPair.generate()
        let text = pair.seedBase64EncodedString()
        let restored = try SigningKeyPair(seedBase64: text)
        #expect(restored.publicKey == pair.publicKey)
        #expect(try SigningPublicKey(base64: pair.publicKey.base64EncodedString) == pair.publicKey)
        #expect(!pair.description.contains(text))
    }

    @Test func wrongSizesThrowTypedErrors() {
        #expect(throws: SodiumError.invalidLength(what: "Ed25519 seed", expected: 32...32, actual: 31)) {
            try SigningKeyPair(seed: [UInt8](repeating: 1, count: 31))
        }
        #expect(throws: SodiumError.invalidLength(what: "Ed25519 public key", expected: 32...32, actual: 0)) {
            try SigningPublicKey(bytes: [])
        }
        #expect(throws: SodiumError.invalidLength(what: "Ed25519 signature", expected: 64...64, actual: 65)) {
            try Signature(bytes: [UInt8](repeating: 0, count: 65))
        }
        #expect(throws: SodiumError.invalidBase64) { try SigningPublicKey(base64: "not base64!") }
    }
}

@Suite struct Blake2bTests {
    /// RFC 7693 Appendix A: BLAKE2b-512("abc").
    @Test func rfc7693Abc() throws {
        #expect(try Blake2b.hash(Array("abc".utf8), outputLength: 64) == hex("""
            ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1
            7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923
            """))
    }

    /// Keyed known answers from the BLAKE2 reference test vectors (key 00..3f).
    @Test func keyedKnownAnswers() throws {
        let key = (0..<64).map { UInt8($0) }
        #expect(try Blake2b.hash([], outputLength: 64, key: key) == hex("""
            10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786
            b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568
            """))
        #expect(try Blake2b.hash((0..<255).map { UInt8($0) }, outputLength: 64, key: key) == hex("""
            142709d62e28fcccd0af97fad0f8465b971e82201dc51070faa0372aa43e9248
            4be1c1e73ba10906d5d1853db6a4106e0a7bf9800d373d6dee2d46d62ef2a461
            """))
    }

    @Test func incrementalEqualsOneShot() throws {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let hasher = try Blake2b.Hasher(outputLength: 32)
        hasher.update(Array(data[..<333]))
        hasher.update([])
        hasher.update(Array(data[333...]))
        let digest = hasher.finalize()
        #expect(digest == (try Blake2b.hash(data)))
        #expect(hasher.finalize() == digest)
        hasher.update([1, 2, 3])  // ignored after finalize
        #expect(hasher.finalize() == digest)
        #expect(digest.count == 32)
        #expect(digest != (try Blake2b.hash(data, outputLength: 32, key: [UInt8](repeating: 9, count: 32))))
    }

    @Test func outOfRangeSizesThrow() {
        #expect(throws: SodiumError.invalidLength(what: "BLAKE2b output", expected: 16...64, actual: 15)) {
            try Blake2b.hash([], outputLength: 15)
        }
        #expect(throws: SodiumError.invalidLength(what: "BLAKE2b output", expected: 16...64, actual: 65)) {
            try Blake2b.hash([], outputLength: 65)
        }
        #expect(throws: SodiumError.invalidLength(what: "BLAKE2b key", expected: 16...64, actual: 8)) {
            try Blake2b.hash([], key: [UInt8](repeating: 0, count: 8))
        }
    }
}

@Suite struct SecretBoxTests {
    @Test func roundTripWithAndWithoutAdditionalData() throws {
        let box = SecretBox(key: try SecretBoxKey.generate())
        for size in [0, 1, 15, 16, 17, 1000] {
            let plain = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
            let sealed = try box.seal(plain, additionalData: [1, 2, 3])
            #expect(sealed.count == plain.count + SecretBox.overhead)
            #expect(try box.open(sealed, additionalData: [1, 2, 3]) == plain)
            #expect(try box.open(try box.seal(plain)) == plain)
        }
    }

    @Test func nonceIsFreshEachTime() throws {
        let box = SecretBox(key: try SecretBoxKey.generate())
        let a = try box.seal([1, 2, 3])
        let b = try box.seal([1, 2, 3])
        #expect(a.prefix(SecretBox.nonceByteCount) != b.prefix(SecretBox.nonceByteCount))
    }

    @Test func anyAlteredBitIsDetected() throws {
        let box = SecretBox(key: try SecretBoxKey.generate())
        let sealed = try box.seal(Array("raft entry 42".utf8), additionalData: Array("term 3".utf8))
        // every byte position: nonce, ciphertext and tag
        for index in sealed.indices {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(throws: SodiumError.authenticationFailed) {
                try box.open(tampered, additionalData: Array("term 3".utf8))
            }
        }
        #expect(throws: SodiumError.authenticationFailed) { try box.open(sealed, additionalData: Array("term 4".utf8)) }
        #expect(throws: SodiumError.authenticationFailed) { try box.open(sealed) }
        let other = SecretBox(key: try SecretBoxKey.generate())
        #expect(throws: SodiumError.authenticationFailed) { try other.open(sealed, additionalData: Array("term 3".utf8)) }
    }

    @Test func truncatedAndGarbageInputThrowNeverCrash() throws {
        let box = SecretBox(key: try SecretBoxKey.generate())
        let sealed = try box.seal([9, 9, 9])
        for length in 0..<sealed.count {
            #expect(throws: SodiumError.self) { try box.open(Array(sealed.prefix(length))) }
        }
        #expect(throws: SodiumError.invalidLength(what: "sealed box", expected: 40...Int.max, actual: 39)) {
            try box.open([UInt8](repeating: 0, count: 39))
        }
        var garbage = try Sodium.randomBytes(count: 200)
        #expect(throws: SodiumError.authenticationFailed) { try box.open(garbage) }
        Sodium.wipe(&garbage)
        #expect(garbage.allSatisfy { $0 == 0 })
    }

    @Test func keySizesAndBase64() throws {
        #expect(throws: SodiumError.invalidLength(what: "secretbox key", expected: 32...32, actual: 16)) {
            try SecretBoxKey(bytes: [UInt8](repeating: 0, count: 16))
        }
        let key = try SecretBoxKey.generate()
        let text = key.base64EncodedString()
        #expect(try SecretBoxKey(base64: text) == key)
        #expect(try SecretBoxKey(base64: " \(text)\n") == key)
        #expect(try SecretBoxKey.generate() != key)
        #expect(!key.description.contains(text))
        #expect(throws: SodiumError.invalidBase64) { try SecretBoxKey(base64: "%%%%") }
        #expect(throws: SodiumError.invalidLength(what: "secretbox key", expected: 32...32, actual: 3)) {
            try SecretBoxKey(base64: "AAAA")
        }
        // a known key: sealed with bytes, opened with the same bytes
        let fixed = try SecretBoxKey(bytes: (0..<32).map { UInt8($0) })
        let sealed = try SecretBox(key: fixed).seal([7])
        #expect(try SecretBox(key: try SecretBoxKey(bytes: (0..<32).map { UInt8($0) })).open(sealed) == [7])
    }
}

@Suite struct UtilityTests {
    @Test func base64MatchesRfc4648Examples() throws {
        // RFC 4648 section 10
        let cases = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in cases {
            #expect(Sodium.base64Encode(Array(plain.utf8)) == encoded)
            #expect(try Sodium.base64Decode(encoded) == Array(plain.utf8))
        }
        for bad in ["Zg", "Zm9v!", "Z===", "Zm9vYg==Zg=="] {
            #expect(throws: SodiumError.invalidBase64) { try Sodium.base64Decode(bad) }
        }
    }

    @Test func randomBytesAndConstantTimeCompare() throws {
        let a = try Sodium.randomBytes(count: 32)
        let b = try Sodium.randomBytes(count: 32)
        #expect(a.count == 32 && a != b)
        #expect(try Sodium.randomBytes(count: 0).isEmpty)
        #expect(throws: SodiumError.self) { try Sodium.randomBytes(count: -1) }
        #expect(Sodium.constantTimeEqual(a, a))
        #expect(!Sodium.constantTimeEqual(a, b))
        #expect(!Sodium.constantTimeEqual(a, Array(a.dropLast())))
        #expect(Sodium.constantTimeEqual([], []))
        let u = try Sodium.randomUniform(below: 10)
        #expect(u < 10)
    }
}

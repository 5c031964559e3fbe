import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The cluster's certificate authority: a P-256 key and a self-signed certificate made once, by the first
/// peer, and the serving certificates each peer issues itself from it on every start.
struct ClusterAuthority: Sendable {
    let certificate: Certificate
    let privateKey: P256.Signing.PrivateKey

    struct AuthorityError: Error, CustomStringConvertible {
        let description: String
    }

    /// Kubernetes' CA is valid for ten years; a cluster outliving that needs a rotation we do not offer yet.
    static let authorityLifetime: TimeInterval = 10 * 365 * 24 * 3600
    /// Serving certificates are re-issued on every start; one year keeps a long-running peer valid.
    static let servingLifetime: TimeInterval = 365 * 24 * 3600
    /// Clocks of peers and clients disagree a little.
    static let clockSkew: TimeInterval = 3600

    static func create(clusterName: String, now: Date) throws -> ClusterAuthority {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let name = try DistinguishedName { CommonName("\(clusterName) cluster CA") }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true, cRLSign: true))
            SubjectKeyIdentifier(hash: publicKey)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now - clockSkew, notValidAfter: now + authorityLifetime,
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(key))
        return ClusterAuthority(certificate: certificate, privateKey: key)
    }

    init(certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        self.certificate = certificate
        self.privateKey = privateKey
    }

    init(certificatePEM: String, privateKeyPEM: String) throws(AuthorityError) {
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
            privateKey = try P256.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        } catch {
            throw AuthorityError(description: "the cluster CA cannot be read: \(error)")
        }
        guard Certificate.PublicKey(privateKey.publicKey) == certificate.publicKey else {
            throw AuthorityError(description: "the cluster CA's key does not match its certificate")
        }
    }

    var certificatePEM: String {
        get throws { try certificate.serializeAsPEM().pemString }
    }

    var privateKeyPEM: String { privateKey.pemRepresentation }

    /// A serving certificate for one peer: its name, `localhost` and the addresses clients dial.
    struct Serving: Sendable {
        var certificatePEM: String
        var privateKeyPEM: String
    }

    func issueServing(name: String, dnsNames: [String], ipAddresses: [String], now: Date) throws -> Serving {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName { CommonName(name) }
        var names: [GeneralName] = []
        for dns in Self.unique([name, "localhost"] + dnsNames) { names.append(.dnsName(dns)) }
        for ip in Self.unique(["127.0.0.1", "::1"] + ipAddresses) {
            guard let bytes = Self.addressBytes(ip) else { continue }
            names.append(.ipAddress(.init(contentBytes: ArraySlice(bytes))))
        }
        let issuerKeyID = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.notCertificateAuthority)
            Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
            try ExtendedKeyUsage([.serverAuth, .clientAuth])
            SubjectKeyIdentifier(hash: publicKey)
            AuthorityKeyIdentifier(keyIdentifier: issuerKeyID)
            SubjectAlternativeNames(names)
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: publicKey,
            notValidBefore: now - Self.clockSkew, notValidAfter: now + Self.servingLifetime,
            issuer: self.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: extensions, issuerPrivateKey: .init(privateKey))
        return Serving(certificatePEM: try certificate.serializeAsPEM().pemString, privateKeyPEM: key.pemRepresentation)
    }

    static func unique(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        return values.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// The 4 or 16 bytes of an IP address, nil for anything else.
    static func addressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}

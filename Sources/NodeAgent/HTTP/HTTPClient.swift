import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small HTTP/1.1 client for talking to peers (the CLI, peer-to-peer forwarding, image pulls, httpGet
/// probes): one request per connection, whole bodies, a deadline on everything. Peers talk on loopback or a site network, so this
/// needs none of a general client's pooling or redirects.
public struct HTTPClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public struct ClientError: Error, CustomStringConvertible {
        public let description: String
    }

    public var timeout: Duration = .seconds(10)
    public var maximumBodyBytes = 64 << 20
    /// For `https://` URLs: the CA certificates (PEM) to trust instead of the system's, e.g. the cluster CA.
    public var trustedCAPEM: String?
    /// Sent as `Authorization: Bearer …` with every request.
    public var bearerToken: String?
    let group: any EventLoopGroup

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, trustedCAPEM: String? = nil, bearerToken: String? = nil) {
        self.group = group
        self.trustedCAPEM = trustedCAPEM
        self.bearerToken = bearerToken
    }

    /// The TLS context for `https://`: full verification (chain and host name or IP address) against
    /// `trustedCAPEM`, or the system's roots without it.
    func tlsContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let trustedCAPEM {
            let roots: [NIOSSLCertificate]
            do { roots = try NIOSSLCertificate.fromPEMBytes(Array(trustedCAPEM.utf8)) } catch {
                throw ClientError(description: "the trusted CA certificate is not valid PEM: \(error)")
            }
            guard !roots.isEmpty else { throw ClientError(description: "the trusted CA file holds no certificate") }
            configuration.trustRoots = .certificates(roots)
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// `url` is `http://host:port/path?query` or `https://…`.
    public func request(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Response {
        guard let target = Target(url) else { throw ClientError(description: "'\(url)' is not an http:// or https:// URL") }
        let limit = maximumBodyBytes
        let tls = target.secure ? try tlsContext() : nil
        // SNI and name checks take host names only; an IP address is checked against the certificate's IP SANs.
        let serverName = ClientRequestTarget.isIPAddress(target.host) ? nil : target.host
        let token = bearerToken
        return try await withDeadline(timeout, what: "\(method) \(url)") {
            let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
            do {
                channel = try await ClientBootstrap(group: group)
                    .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                    .connect(host: target.host, port: target.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            if let tls {
                                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                            }
                            try channel.pipeline.syncOperations.addHTTPClientHandlers()
                            return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                        }
                    }
            } catch {
                throw ClientError(description: "cannot reach \(target.host):\(target.port): \(error)")
            }
            return try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: target.path)
                head.headers.add(name: "Host", value: "\(target.host):\(target.port)")
                head.headers.add(name: "Connection", value: "close")
                if let token { head.headers.add(name: "Authorization", value: "Bearer \(token)") }
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                if let body { head.headers.add(name: "Content-Length", value: "\(body.count)") }
                try await outbound.write(contentsOf: HTTPClient.requestParts(head, body: body))

                var response = Response(status: 0, headers: [], body: [])
                for try await part in inbound {
                    switch part {
                    case .head(let head):
                        response.status = Int(head.status.code)
                        response.headers = head.headers.map { ($0.name, $0.value) }
                    case .body(var chunk):
                        guard response.body.count + chunk.readableBytes <= limit else {
                            throw ClientError(description: "response from \(url) is larger than \(limit) bytes")
                        }
                        response.body += chunk.readBytes(length: chunk.readableBytes) ?? []
                    case .end:
                        return response
                    }
                }
                throw ClientError(description: "\(target.host):\(target.port) closed the connection before answering")
            }
        }
    }

    /// The whole request in one write. A server that answers on the head alone and closes (a GET with
    /// `Connection: close`) would otherwise make a later `.end` write fail with "I/O on closed channel",
    /// losing an answer that had already arrived; under load that gap is wide enough to hit.
    static func requestParts(_ head: HTTPRequestHead, body: [UInt8]?) -> [HTTPClientRequestPart] {
        var parts: [HTTPClientRequestPart] = [.head(head)]
        if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        return parts
    }

    struct Target {
        var host: String
        var port: Int
        var path: String
        var secure: Bool

        init?(_ url: String) {
            if url.hasPrefix("http://") {
                secure = false
            } else if url.hasPrefix("https://") {
                secure = true
            } else {
                return nil
            }
            let defaultPort = secure ? 443 : 80
            let rest = url.dropFirst(secure ? "https://".count : "http://".count)
            let authority = rest.prefix { $0 != "/" }
            path = rest.dropFirst(authority.count).isEmpty ? "/" : String(rest.dropFirst(authority.count))
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let portText = authority[authority.index(after: close)...].dropFirst()
                port = portText.isEmpty ? defaultPort : (Int(portText) ?? -1)
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                port = Int(authority[authority.index(after: colon)...]) ?? -1
            } else {
                host = String(authority)
                port = defaultPort
            }
            guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        }
    }
}

enum ClientRequestTarget {
    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}

func withDeadline<T: Sendable>(_ timeout: Duration, what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw HTTPClient.ClientError(description: "\(what): no answer within \(timeout)")
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}

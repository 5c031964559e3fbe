import NIOCore
import NIOHTTP1
import NIOPosix

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
    let group: any EventLoopGroup

    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
    }

    /// `url` is `http://host:port/path?query`.
    public func request(_ method: String, _ url: String, body: [UInt8]? = nil, headers: [(String, String)] = []) async throws -> Response {
        guard let target = Target(url) else { throw ClientError(description: "'\(url)' is not an http:// URL") }
        let limit = maximumBodyBytes
        return try await withDeadline(timeout, what: "\(method) \(url)") {
            let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
            do {
                channel = try await ClientBootstrap(group: group)
                    .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                    .connect(host: target.host, port: target.port) { channel in
                        channel.eventLoop.makeCompletedFuture {
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
                for (name, value) in headers { head.headers.add(name: name, value: value) }
                if let body { head.headers.add(name: "Content-Length", value: "\(body.count)") }
                try await outbound.write(.head(head))
                if let body, !body.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))

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

    struct Target {
        var host: String
        var port: Int
        var path: String

        init?(_ url: String) {
            guard url.hasPrefix("http://") else { return nil }
            let rest = url.dropFirst("http://".count)
            let authority = rest.prefix { $0 != "/" }
            path = rest.dropFirst(authority.count).isEmpty ? "/" : String(rest.dropFirst(authority.count))
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let portText = authority[authority.index(after: close)...].dropFirst()
                port = portText.isEmpty ? 80 : (Int(portText) ?? -1)
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                port = Int(authority[authority.index(after: colon)...]) ?? -1
            } else {
                host = String(authority)
                port = 80
            }
            guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        }
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

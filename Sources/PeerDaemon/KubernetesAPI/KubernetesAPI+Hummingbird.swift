import HTTPTypes
import Hummingbird
import NIOCore

extension KubernetesAPI {
    /// Paths this API owns.
    static let routePaths = ["api", "api/**", "apis", "apis/**", "openapi/**"]

    /// Registers every Kubernetes route: discovery, OpenAPI, `/api/...`, `/apis/...`, and `/version` unless
    /// `includeVersion` is false (kubectl needs `gitVersion`, and the kubectl dispatcher reads `minor`).
    public func register<Context: RequestContext>(on router: Router<Context>, includeVersion: Bool = true) {
        let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
        for path in Self.routePaths + (includeVersion ? ["version"] : []) {
            for method in methods {
                router.on(RouterPath(path), method: method) { request, _ in try await self.respond(to: request) }
            }
        }
    }

    /// Translates between Hummingbird and `handle(_:)`; watch streams are written as they come.
    func respond(to request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: options.maxBodyBytes)
        } catch is NIOTooManyBytesError {
            return Self.hummingbirdResponse(.status(APIError.tooLarge(limit: options.maxBodyBytes).status))
        }
        var headers: [String: String] = [:]
        for field in request.headers {
            let name = field.name.canonicalName
            headers[name] = headers[name].map { $0 + "," + field.value } ?? field.value
        }
        let kube = KubeRequest(method: request.method.rawValue, path: request.uri.path,
                               query: KubeRequest.parseQuery(request.uri.query ?? ""), headers: headers,
                               body: Array(body.readableBytesView))
        return Self.hummingbirdResponse(await handle(kube))
    }

    static func hummingbirdResponse(_ response: KubeResponse) -> Response {
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        let status = HTTPResponse.Status(code: response.status)
        switch response.body {
        case .bytes(let bytes):
            return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .stream(let run):
            let body = ResponseBody { writer in
                let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
                let producer = Task {
                    do { try await run { bytes in continuation.yield(ByteBuffer(bytes: bytes)) } } catch {}
                    continuation.finish()
                }
                // A client that went away makes `write` throw; stop the producer then too.
                do {
                    for await chunk in chunks { try await writer.write(chunk) }
                } catch {
                    producer.cancel()
                    throw error
                }
                producer.cancel()
                try await writer.finish(nil)
            }
            return Response(status: status, headers: fields, body: body)
        }
    }
}

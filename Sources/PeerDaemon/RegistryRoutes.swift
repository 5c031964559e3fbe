import HTTPTypes
import Hummingbird
import NIOCore
import NodeAgent

/// Serves this peer's image store read-only under the OCI distribution API (`/v2/`), so other peers (and
/// skopeo) pull what it holds. `DistributionAPI` decides every answer; this only translates to Hummingbird.
public func registerDistributionRoutes<Context: RequestContext>(on router: Router<Context>, store: ImageStore) {
    // Writes reach DistributionAPI too, which answers them 405 in the registry's own error format.
    let methods: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete]
    for path in ["v2", "v2/**"] {
        for method in methods {
            router.on(RouterPath(path), method: method) { request, context in
                let response = DistributionAPI.respond(
                    to: DistributionAPI.Request(method: request.method.rawValue, path: request.uri.path,
                                                headers: request.headers.map { ($0.name.canonicalName, $0.value) }),
                    content: await store.distributionContent())
                var fields = HTTPFields()
                for (name, value) in response.headers {
                    if let field = HTTPField.Name(name) { fields[field] = value }
                }
                let body: ResponseBody
                switch response.body {
                case .bytes(let bytes):
                    body = ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
                case .file(let path, _):
                    body = try await FileIO().loadFile(path: path, context: context)  // streamed in chunks
                }
                return Response(status: HTTPResponse.Status(code: response.status), headers: fields, body: body)
            }
        }
    }
}

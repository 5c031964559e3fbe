import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import PeerDaemon
import ResourceModel
import Testing

@Suite("Bad input: the right Status code, and nothing written")
struct BadInputTests {
    @Test("invalid names and quantities, a kind that does not match the URL, watches on unknown resources")
    func rejected() async throws {
        try await TestServer.with { s in
            let before = s.node.revision
            let badName = await s.call("POST", "/api/v1/namespaces/default/pods", podJSON("Not_A_Name"))
            #expect(badName.status == 422 && badName.json["reason"] == "Invalid", "\(badName.text)")
            #expect(badName.json["details"]?["causes"]?[0]?["field"] == "metadata.name", "\(badName.text)")

            let badQuantity = await s.call("POST", "/api/v1/namespaces/default/pods", podJSON("q", extra: "").replacingOccurrences(
                of: #""image":"nginx:1.25"}"#, with: #""image":"nginx:1.25","resources":{"limits":{"memory":"12 parsecs"}}}"#))
            #expect(badQuantity.status == 422 && badQuantity.text.contains("resources.limits"), "\(badQuantity.text)")

            let wrongKind = await s.call("POST", "/api/v1/namespaces/default/pods",
                                         #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"k"}}"#)
            #expect(wrongKind.status == 400 && wrongKind.json["kind"] == "Status", "\(wrongKind.text)")

            let unknownKindPath = await s.call("POST", "/api/v1/namespaces/default/widgets", #"{"metadata":{"name":"w"}}"#)
            #expect(unknownKindPath.status == 404 && unknownKindPath.json["kind"] == "Status")

            let watchUnknown = await s.call("GET", "/api/v1/namespaces/default/widgets?watch=true&timeoutSeconds=1")
            #expect(watchUnknown.status == 404 && watchUnknown.json["reason"] == "NotFound", "\(watchUnknown.text)")
            let watchUnknownGroup = await s.call("GET", "/apis/example.com/v1/things?watch=1")
            #expect(watchUnknownGroup.status == 404)

            let missingNamespace = await s.call("POST", "/api/v1/namespaces/nowhere/pods", podJSON("n"))
            #expect(missingNamespace.status == 404 && missingNamespace.json["message"] == "namespaces \"nowhere\" not found", "\(missingNamespace.text)")
            #expect(s.node.revision == before, "a rejected request wrote to the store")
        }
    }

    @Test("a body over the limit gets 413 from a live listener, before it is read whole")
    func oversizedOverTheWire() async throws {
        try await TestServer.with { s in
            let router = Router()
            s.api.register(on: router)
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            let before = s.node.revision
            try await app.test(.live) { client in
                let big = ByteBuffer(repeating: UInt8(ascii: " "), count: 3 * 1024 * 1024 + 10)
                try await client.execute(uri: "/api/v1/namespaces/default/configmaps", method: .post,
                                         headers: [.contentType: "application/json"], body: big) { r in
                    #expect(r.status == .contentTooLarge)
                    #expect(json(r)["reason"] == "RequestEntityTooLarge" && json(r)["code"] == 413)
                }
            }
            #expect(s.node.revision == before)
        }
    }
}

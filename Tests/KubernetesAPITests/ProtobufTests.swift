import Foundation
@testable import PeerDaemon
import ResourceModel
import Simulation
import Testing

@Suite("Protobuf request bodies (kubectl 1.32 generators)")
struct ProtobufTests {
    static func envelope(apiVersion: String, kind: String, raw: ProtoWriter) -> [UInt8] {
        var typeMeta = ProtoWriter()
        typeMeta.string(1, apiVersion)
        typeMeta.string(2, kind)
        var unknown = ProtoWriter()
        unknown.message(1, typeMeta)
        unknown.lengthDelimited(2, raw.bytes)
        unknown.string(3, "")
        unknown.string(4, "")
        return ProtobufBody.magic + unknown.bytes
    }

    static func configMap() -> ProtoWriter {
        var meta = ProtoWriter()
        meta.string(1, "cfg")
        meta.string(2, "")
        var label = ProtoWriter()
        label.string(1, "app")
        label.string(2, "web")
        meta.message(11, label)
        var cm = ProtoWriter()
        cm.message(1, meta)
        for (k, v) in [("a", "1"), ("b", "2")] {
            var entry = ProtoWriter()
            entry.string(1, k)
            entry.string(2, v)
            cm.message(2, entry)
        }
        return cm
    }

    @Test("an envelope decodes to the JSON object; empty strings are omitted like JSON's omitempty")
    func decodes() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "ConfigMap"))
        let value = try ProtobufBody.decode(Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: Self.configMap()), as: info)
        #expect(value == ["metadata": ["name": "cfg", "labels": ["app": "web"]], "data": ["a": "1", "b": "2"], "apiVersion": "v1", "kind": "ConfigMap"])
    }

    @Test("through the API: created like JSON; unknown fields, other kinds and garbage are 415, never a crash")
    func throughAPI() async throws {
        try await TestServer.with { s in
            let body = Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: Self.configMap())
            let created = await s.call(KubeRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                                                   headers: ["Content-Type": "application/vnd.kubernetes.protobuf"], body: body))
            #expect(created.status == 201 && created.json["data"]?["b"] == "2")
            var odd = Self.configMap()
            odd.string(99, "?")
            let unknown = await s.call(KubeRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                                                   headers: ["Content-Type": "application/vnd.kubernetes.protobuf"],
                                                   body: Self.envelope(apiVersion: "v1", kind: "ConfigMap", raw: odd)))
            #expect(unknown.status == 415 && unknown.json["message"]?.stringValue?.contains("field 99 of ConfigMap") == true)
            let node = await s.call(KubeRequest(method: "POST", target: "/api/v1/nodes", headers: ["Content-Type": "application/vnd.kubernetes.protobuf"],
                                                body: Self.envelope(apiVersion: "v1", kind: "Node", raw: ProtoWriter())))
            #expect(node.status == 415)
            var rng = SeededRandom(seed: 9)
            for i in 0..<300 {
                var bytes = i % 2 == 0 ? body : ProtobufBody.magic
                let n = Int(rng.next() % 64)
                if i % 2 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
                bytes += (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                let r = await s.call(KubeRequest(method: "POST", target: "/api/v1/namespaces/default/configmaps",
                                                 headers: ["Content-Type": "application/vnd.kubernetes.protobuf"], body: bytes))
                #expect([201, 400, 409, 415, 422].contains(r.status))
            }
        }
    }
}

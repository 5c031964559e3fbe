import ResourceModel

/// The static `/openapi/v2` answer: a gnostic `openapi.v2.Document` in protobuf, the only form kubectl
/// reads. It has no definitions, so client-side validation passes everything to the server (which
/// validates anyway). Each resource's PATCH operation declares the `dryRun`/`fieldManager`/
/// `fieldValidation`/`force` query parameters and its group-version-kind: kubectl 1.20 looks for
/// exactly that before `apply --dry-run=server` and `diff`.
enum OpenAPIDocument {
    static let v2: [UInt8] = build(ResourceRegistry.all)

    static func build(_ resources: [ResourceInfo]) -> [UInt8] {
        var paths = ProtoWriter()
        for info in resources {
            let base = info.group.isEmpty ? "/api/v1" : "/apis/\(info.groupVersion)"
            let path = info.namespaced ? "\(base)/namespaces/{namespace}/\(info.resource)/{name}" : "\(base)/\(info.resource)/{name}"
            var operation = ProtoWriter()
            operation.string(5, "patch\(info.kind)")
            for parameter in ["dryRun", "fieldManager", "fieldValidation", "force"] {
                var query = ProtoWriter()
                query.string(2, "query")
                query.string(4, parameter)
                query.string(6, "string")
                var nonBody = ProtoWriter()
                nonBody.message(3, query)
                var param = ProtoWriter()
                param.message(2, nonBody)
                var item = ProtoWriter()
                item.message(1, param)
                operation.message(8, item)
            }
            var any = ProtoWriter()
            any.string(2, "group: \(goYAMLString(info.group))\nkind: \(info.kind)\nversion: \(info.version)\n")
            var gvk = ProtoWriter()
            gvk.string(1, "x-kubernetes-group-version-kind")
            gvk.message(2, any)
            operation.message(13, gvk)
            var pathItem = ProtoWriter()
            pathItem.message(8, operation)
            var named = ProtoWriter()
            named.string(1, path)
            named.message(2, pathItem)
            paths.message(2, named)
        }
        var info = ProtoWriter()
        info.string(1, "Kubernetes")
        info.string(2, "v1.20.2")
        var doc = ProtoWriter()
        doc.string(1, "2.0")
        doc.message(2, info)
        doc.message(8, paths)
        return doc.bytes
    }

    /// The core group is the empty string, which YAML must quote.
    static func goYAMLString(_ s: String) -> String { s.isEmpty ? "\"\"" : s }
}

/// Just enough protobuf encoding for a static document: length-delimited fields only.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func lengthDelimited(_ field: UInt64, _ payload: [UInt8]) {
        varint(field << 3 | 2)
        varint(UInt64(payload.count))
        bytes += payload
    }

    mutating func string(_ field: UInt64, _ value: String) { lengthDelimited(field, Array(value.utf8)) }
    mutating func message(_ field: UInt64, _ value: ProtoWriter) { lengthDelimited(field, value.bytes) }
}

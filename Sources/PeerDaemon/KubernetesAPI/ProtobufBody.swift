#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel

/// kubectl 1.32 sends `application/vnd.kubernetes.protobuf` bodies for its built-in generators
/// (`create namespace|configmap|secret|deployment|service|job`, `run`, `expose`). This decodes the
/// Kubernetes envelope (`k8s\0` + `runtime.Unknown`) and the typed message for those kinds into JSON,
/// with a field-number table per message. A field outside the table is refused (415), never guessed,
/// so nothing is silently dropped.
enum ProtobufBody {
    indirect enum Field {
        case string, int, bool, base64
        /// A pointer field in Go: present means set, so zero and false are kept.
        case keptInt, keptBool
        case message(Message)
        case repeated(Field)
        case stringMap, bytesMap, quantityMap
        case intOrString, time
        /// Server-owned on create (status of kinds with a status subresource): skipped.
        case ignored
    }

    struct Message {
        var name: String
        var fields: [Int: (String, Field)]
    }

    struct DecodeError: Error { var message: String }

    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]

    // MARK: Schemas (field numbers from k8s.io/api generated.proto)

    static let objectMeta = Message(name: "ObjectMeta", fields: [
        1: ("name", .string), 2: ("generateName", .string), 3: ("namespace", .string), 4: ("selfLink", .string), 5: ("uid", .string),
        6: ("resourceVersion", .string), 7: ("generation", .int), 8: ("creationTimestamp", .time), 9: ("deletionTimestamp", .time),
        11: ("labels", .stringMap), 12: ("annotations", .stringMap), 14: ("finalizers", .repeated(.string)),
    ])
    static let labelSelector = Message(name: "LabelSelector", fields: [
        1: ("matchLabels", .stringMap),
        2: ("matchExpressions", .repeated(.message(Message(name: "LabelSelectorRequirement", fields: [
            1: ("key", .string), 2: ("operator", .string), 3: ("values", .repeated(.string)),
        ])))),
    ])
    static let container = Message(name: "Container", fields: [
        1: ("name", .string), 2: ("image", .string), 3: ("command", .repeated(.string)), 4: ("args", .repeated(.string)),
        5: ("workingDir", .string),
        6: ("ports", .repeated(.message(Message(name: "ContainerPort", fields: [
            1: ("name", .string), 2: ("hostPort", .int), 3: ("containerPort", .int), 4: ("protocol", .string), 5: ("hostIP", .string),
        ])))),
        7: ("env", .repeated(.message(Message(name: "EnvVar", fields: [1: ("name", .string), 2: ("value", .string)])))),
        8: ("resources", .message(Message(name: "ResourceRequirements", fields: [1: ("limits", .quantityMap), 2: ("requests", .quantityMap)]))),
        13: ("terminationMessagePath", .string), 14: ("imagePullPolicy", .string),
        16: ("stdin", .bool), 17: ("stdinOnce", .bool), 18: ("tty", .bool), 20: ("terminationMessagePolicy", .string),
    ])
    static let podSpec = Message(name: "PodSpec", fields: [
        2: ("containers", .repeated(.message(container))), 3: ("restartPolicy", .string),
        4: ("terminationGracePeriodSeconds", .keptInt), 6: ("dnsPolicy", .string), 7: ("nodeSelector", .stringMap),
        8: ("serviceAccountName", .string), 9: ("serviceAccount", .string), 10: ("nodeName", .string), 11: ("hostNetwork", .bool),
        12: ("hostPID", .bool), 13: ("hostIPC", .bool), 17: ("subdomain", .string), 24: ("priorityClassName", .string),
        16: ("hostname", .string), 19: ("schedulerName", .string), 20: ("initContainers", .repeated(.message(container))),
        30: ("enableServiceLinks", .keptBool),
    ])
    static let podTemplate = Message(name: "PodTemplateSpec", fields: [1: ("metadata", .message(objectMeta)), 2: ("spec", .message(podSpec))])

    static let schemas: [String: Message] = [
        "Namespace": Message(name: "Namespace", fields: [
            1: ("metadata", .message(objectMeta)),
            2: ("spec", .message(Message(name: "NamespaceSpec", fields: [1: ("finalizers", .repeated(.string))]))),
            3: ("status", .message(Message(name: "NamespaceStatus", fields: [1: ("phase", .string)]))),
        ]),
        "ConfigMap": Message(name: "ConfigMap", fields: [
            1: ("metadata", .message(objectMeta)), 2: ("data", .stringMap), 3: ("binaryData", .bytesMap), 4: ("immutable", .keptBool),
        ]),
        "Secret": Message(name: "Secret", fields: [
            1: ("metadata", .message(objectMeta)), 2: ("data", .bytesMap), 3: ("type", .string), 4: ("stringData", .stringMap),
            5: ("immutable", .keptBool),
        ]),
        "Pod": Message(name: "Pod", fields: [1: ("metadata", .message(objectMeta)), 2: ("spec", .message(podSpec)), 3: ("status", .ignored)]),
        "Deployment": Message(name: "Deployment", fields: [
            1: ("metadata", .message(objectMeta)),
            2: ("spec", .message(Message(name: "DeploymentSpec", fields: [
                1: ("replicas", .keptInt), 2: ("selector", .message(labelSelector)), 3: ("template", .message(podTemplate)),
                4: ("strategy", .message(Message(name: "DeploymentStrategy", fields: [1: ("type", .string)]))),
                5: ("minReadySeconds", .int), 6: ("revisionHistoryLimit", .keptInt), 7: ("paused", .bool), 9: ("progressDeadlineSeconds", .keptInt),
            ]))),
            3: ("status", .ignored),
        ]),
        "Service": Message(name: "Service", fields: [
            1: ("metadata", .message(objectMeta)),
            2: ("spec", .message(Message(name: "ServiceSpec", fields: [
                1: ("ports", .repeated(.message(Message(name: "ServicePort", fields: [
                    1: ("name", .string), 2: ("protocol", .string), 3: ("port", .int), 4: ("targetPort", .intOrString), 5: ("nodePort", .int),
                ])))),
                2: ("selector", .stringMap), 3: ("clusterIP", .string), 4: ("type", .string), 5: ("externalIPs", .repeated(.string)),
                7: ("sessionAffinity", .string), 10: ("externalName", .string),
            ]))),
            3: ("status", .ignored),
        ]),
        "Job": Message(name: "Job", fields: [
            1: ("metadata", .message(objectMeta)),
            2: ("spec", .message(Message(name: "JobSpec", fields: [
                1: ("parallelism", .keptInt), 2: ("completions", .keptInt), 3: ("activeDeadlineSeconds", .keptInt),
                4: ("selector", .message(labelSelector)), 6: ("template", .message(podTemplate)), 7: ("backoffLimit", .keptInt),
            ]))),
            3: ("status", .ignored),
        ]),
    ]

    // MARK: Decoding

    /// The object in a Kubernetes protobuf envelope, as JSON for `info`'s kind.
    static func decode(_ bytes: [UInt8], as info: ResourceInfo) throws(DecodeError) -> JSONValue {
        guard bytes.starts(with: magic) else { throw DecodeError(message: "missing the k8s protobuf envelope") }
        var reader = Reader(bytes: bytes, index: magic.count, end: bytes.count)
        var apiVersion = "", kind = ""
        var raw: [UInt8]?
        while !reader.atEnd {
            let (number, wire) = try reader.key()
            switch (number, wire) {
            case (1, 2):
                var typeMeta = try reader.subReader()
                while !typeMeta.atEnd {
                    let (n, w) = try typeMeta.key()
                    switch (n, w) {
                    case (1, 2): apiVersion = try typeMeta.string()
                    case (2, 2): kind = try typeMeta.string()
                    default: try typeMeta.skip(w)
                    }
                }
            case (2, 2): raw = try reader.lengthDelimited()
            case (3, 2), (4, 2):
                // contentEncoding / contentType: only the plain encoding is produced by clients.
                let value = try reader.string()
                if number == 3 && !value.isEmpty { throw DecodeError(message: "unsupported content encoding \(value)") }
            default: try reader.skip(wire)
            }
        }
        guard let raw else { throw DecodeError(message: "the envelope holds no object") }
        if !kind.isEmpty && kind != info.kind { throw DecodeError(message: "the body holds a \(kind), not a \(info.kind)") }
        guard let schema = schemas[info.kind] else {
            throw DecodeError(message: "protobuf bodies are not supported for \(info.kind)")
        }
        var inner = Reader(bytes: raw, index: 0, end: raw.count)
        var object = try decodeMessage(schema, &inner, depth: 0)
        object["apiVersion"] = .string(apiVersion.isEmpty ? info.groupVersion : apiVersion)
        object["kind"] = .string(info.kind)
        return object
    }

    static func decodeMessage(_ message: Message, _ reader: inout Reader, depth: Int) throws(DecodeError) -> JSONValue {
        guard depth < 32 else { throw DecodeError(message: "the protobuf body nests too deeply") }
        var object = JSONObject()
        while !reader.atEnd {
            let (number, wire) = try reader.key()
            guard let (name, field) = message.fields[number] else {
                throw DecodeError(message: "field \(number) of \(message.name) is not understood")
            }
            if case .repeated(let element) = field {
                var items = object[name]?.arrayValue ?? []
                if let value = try decodeField(element, wire: wire, &reader, depth: depth) { items.append(value) }
                object[name] = .array(items)
            } else if let value = try decodeField(field, wire: wire, &reader, depth: depth) {
                if case .object(let patch)? = Optional(value), case .object(var existing)? = object[name], isMap(field) {
                    for (k, v) in patch { existing[k] = v }
                    object[name] = .object(existing)
                } else {
                    object[name] = value
                }
            }
        }
        return .object(object)
    }

    static func isMap(_ field: Field) -> Bool {
        switch field {
        case .stringMap, .bytesMap, .quantityMap: return true
        default: return false
        }
    }

    /// One field's value; nil for zero values that JSON would omit.
    static func decodeField(_ field: Field, wire: Int, _ reader: inout Reader, depth: Int) throws(DecodeError) -> JSONValue? {
        func expect(_ w: Int) throws(DecodeError) {
            if wire != w { throw DecodeError(message: "unexpected wire type \(wire)") }
        }
        switch field {
        case .string:
            try expect(2)
            let s = try reader.string()
            return s.isEmpty ? nil : .string(s)
        case .int, .keptInt:
            try expect(0)
            let v = Int64(bitPattern: try reader.varint())
            if case .int = field, v == 0 { return nil }
            return .int(v)
        case .bool, .keptBool:
            try expect(0)
            let v = try reader.varint() != 0
            if case .bool = field, !v { return nil }
            return .bool(v)
        case .base64:
            try expect(2)
            return .string(Data(try reader.lengthDelimited()).base64EncodedString())
        case .message(let m):
            try expect(2)
            var sub = try reader.subReader()
            let value = try decodeMessage(m, &sub, depth: depth + 1)
            return value.objectValue?.isEmpty == true ? nil : value
        case .repeated(let element):
            return try decodeField(element, wire: wire, &reader, depth: depth)
        case .stringMap, .bytesMap, .quantityMap:
            try expect(2)
            var entry = try reader.subReader()
            var key = ""
            var value: JSONValue = .string("")
            while !entry.atEnd {
                let (n, w) = try entry.key()
                switch (n, w) {
                case (1, 2): key = try entry.string()
                case (2, 2):
                    switch field {
                    case .bytesMap: value = .string(Data(try entry.lengthDelimited()).base64EncodedString())
                    case .quantityMap:
                        var q = try entry.subReader()
                        while !q.atEnd {
                            let (qn, qw) = try q.key()
                            if qn == 1 && qw == 2 { value = .string(try q.string()) } else { try q.skip(qw) }
                        }
                    default: value = .string(try entry.string())
                    }
                default: throw DecodeError(message: "malformed map entry")
                }
            }
            return .object(JSONObject([(key, value)]))
        case .intOrString:
            try expect(2)
            var sub = try reader.subReader()
            var type: UInt64 = 0, intVal: Int64 = 0, strVal = ""
            while !sub.atEnd {
                let (n, w) = try sub.key()
                switch (n, w) {
                case (1, 0): type = try sub.varint()
                case (2, 0): intVal = Int64(Int32(truncatingIfNeeded: try sub.varint()))
                case (3, 2): strVal = try sub.string()
                default: throw DecodeError(message: "malformed IntOrString")
                }
            }
            return type == 1 ? .string(strVal) : .int(intVal)
        case .ignored:
            try reader.skip(wire)
            return nil
        case .time:
            try expect(2)
            var sub = try reader.subReader()
            var seconds: Int64 = 0
            while !sub.atEnd {
                let (n, w) = try sub.key()
                if n == 1 && w == 0 { seconds = Int64(bitPattern: try sub.varint()) } else { try sub.skip(w) }
            }
            return seconds == 0 ? nil : .string(Timestamp.format(epochSeconds: seconds))
        }
    }

    /// A bounds-checked cursor over protobuf bytes.
    struct Reader {
        let bytes: [UInt8]
        var index: Int
        let end: Int

        var atEnd: Bool { index >= end }

        mutating func varint() throws(DecodeError) -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < end, shift < 64 else { throw DecodeError(message: "truncated or overlong varint") }
                let b = bytes[index]
                index += 1
                result |= UInt64(b & 0x7f) << shift
                if b < 0x80 { return result }
                shift += 7
            }
        }

        mutating func key() throws(DecodeError) -> (Int, Int) {
            let k = try varint()
            let number = k >> 3
            guard number > 0, number < 1 << 29 else { throw DecodeError(message: "invalid field number") }
            return (Int(number), Int(k & 7))
        }

        mutating func length() throws(DecodeError) -> Int {
            let n = try varint()
            guard n <= UInt64(end - index) else { throw DecodeError(message: "a length runs past the end of the body") }
            return Int(n)
        }

        mutating func lengthDelimited() throws(DecodeError) -> [UInt8] {
            let n = try length()
            defer { index += n }
            return Array(bytes[index..<index + n])
        }

        mutating func subReader() throws(DecodeError) -> Reader {
            let n = try length()
            defer { index += n }
            return Reader(bytes: bytes, index: index, end: index + n)
        }

        mutating func string() throws(DecodeError) -> String {
            let raw = try lengthDelimited()
            guard let s = String(validating: raw, as: UTF8.self) else { throw DecodeError(message: "a string is not valid UTF-8") }
            return s
        }

        mutating func skip(_ wire: Int) throws(DecodeError) {
            switch wire {
            case 0: _ = try varint()
            case 1: guard end - index >= 8 else { throw DecodeError(message: "truncated fixed64") }; index += 8
            case 2: index += try length()
            case 5: guard end - index >= 4 else { throw DecodeError(message: "truncated fixed32") }; index += 4
            default: throw DecodeError(message: "unsupported wire type \(wire)")
            }
        }
    }
}

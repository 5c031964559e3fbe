import Foundation
import Simulation
import Testing
@testable import ResourceModel

// The tree decoder and encoder against Foundation's JSONDecoder/JSONEncoder (default strategies): same values,
// same text, same errors at the same coding paths.

/// Foundation's encoding with sorted keys: the yardstick two decoded values are compared by.
private func canonical<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

private func foundationText<T: Encodable>(_ value: T, _ formatting: JSONEncoder.OutputFormatting) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = formatting
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

private enum Outcome: Equatable {
    case value(String)
    case failure(String)
}

private func foundationDecode<T: Codable>(_ type: T.Type, _ json: String) -> Outcome {
    do {
        return .value(try canonical(try JSONDecoder().decode(T.self, from: Data(json.utf8))))
    } catch let error as DecodingError {
        return .failure(JSONValue.describe(error))
    } catch {
        return .failure("\(error)")
    }
}

private func treeDecode<T: Codable>(_ type: T.Type, _ json: String) -> Outcome {
    do {
        return .value(try canonical(try JSONValue.parse(json).decode(T.self)))
    } catch {
        return .failure("\(error)")
    }
}

/// Decodes with both, encodes the result with both, and expects the same everywhere.
private func expectSameAsFoundation<T: Codable>(_ type: T.Type, _ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let theirs = foundationDecode(T.self, json)
    let ours = treeDecode(T.self, json)
    #expect(ours == theirs, sourceLocation: sourceLocation)
    guard case .value = theirs else {
        Issue.record("Foundation could not decode the \(T.self) fixture: \(theirs)", sourceLocation: sourceLocation)
        return
    }
    let value = try JSONValue.parse(json).decode(T.self)
    // The tree: what the old bridge made of JSONEncoder's text.
    let oldTree = try JSONValue.parse(try foundationText(value, [.withoutEscapingSlashes]))
    let newTree = try JSONValue.encode(value)
    #expect(newTree == oldTree, sourceLocation: sourceLocation)
    #expect(newTree.serialized(sortedKeys: true) == oldTree.serialized(sortedKeys: true), sourceLocation: sourceLocation)
    // The text, byte for byte, in the formattings the call sites use.
    for formatting: (JSONEncoder.OutputFormatting, JSONWriteOptions) in [([.sortedKeys], [.sortedKeys]),
                                                                          ([.sortedKeys, .withoutEscapingSlashes], [.sortedKeys, .withoutEscapingSlashes])] {
        let text = String(decoding: try JSONValue.encodeJSON(value, options: formatting.1), as: UTF8.self)
        #expect(text == (try foundationText(value, formatting.0)), sourceLocation: sourceLocation)
    }
}

// MARK: - Fixtures beyond Manifests

private enum MoreManifests {
    static let node = """
    {"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"kubernetes.io/hostname":"n1"},"resourceVersion":"17",
     "creationTimestamp":"2026-01-02T03:04:05Z"},
     "spec":{"podCIDR":"10.244.1.0/24","unschedulable":true,"taints":[{"key":"k","value":"v","effect":"NoSchedule"}]},
     "status":{"capacity":{"cpu":"2","memory":"24Gi","pods":"110"},"allocatable":{"cpu":"1900m","memory":"23Gi","pods":110},
      "conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":"2026-01-02T03:04:05Z"}],
      "addresses":[{"type":"InternalIP","address":"10.0.0.1"}],
      "nodeInfo":{"kernelVersion":"6.1","osImage":"Debian","containerRuntimeVersion":"runc://1.1","kubeletVersion":"v1.30.0",
       "operatingSystem":"linux","architecture":"amd64","machineID":"m","systemUUID":"s","bootID":"b","kubeProxyVersion":"v1.30.0"}}}
    """

    static let replicaSet = """
    {"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-5d","namespace":"default","generation":2,
     "ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"u-1","controller":true,"blockOwnerDeletion":true}]},
     "spec":{"replicas":2,"minReadySeconds":5,"selector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"NotIn","values":["db"]}]},
      "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"nginx","args":["-g","daemon off;"],
       "resources":{"requests":{"cpu":0.5,"memory":"1e3"}}}]}}},
     "status":{"replicas":2,"readyReplicas":1,"availableReplicas":1,"observedGeneration":2,"fullyLabeledReplicas":2}}
    """

    static let podWithStatus = """
    {"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default","uid":"abc","deletionGracePeriodSeconds":30,
     "finalizers":["x/y"],"annotations":{"a/b":"c\\/d \\u00e9 \\ud83d\\ude00 \\u0001"}},
     "spec":{"containers":[{"name":"c","image":"busybox","stdin":true,"tty":false,"workingDir":"/w","imagePullPolicy":"Always",
       "securityContext":{"privileged":false,"runAsNonRoot":true,"readOnlyRootFilesystem":true,"runAsGroup":0}}],
      "terminationGracePeriodSeconds":0,"activeDeadlineSeconds":9223372036854775807,"priority":-2147483648,"hostNetwork":false},
     "status":{"phase":"Running","podIP":"10.244.0.5","podIPs":[{"ip":"10.244.0.5"}],"hostIP":"10.0.0.1","qosClass":"BestEffort",
      "startTime":"2026-01-02T03:04:05Z",
      "containerStatuses":[{"name":"c","ready":true,"restartCount":3,"image":"busybox","imageID":"sha256:00","started":true,
        "containerID":"runc://1","state":{"running":{"startedAt":"2026-01-02T03:04:06Z"}},
        "lastState":{"terminated":{"exitCode":137,"signal":9,"reason":"OOMKilled","finishedAt":"2026-01-02T03:04:05Z"}}}],
      "conditions":[{"type":"Ready","status":"True"}]}}
    """

    static let event = """
    {"apiVersion":"v1","kind":"Event","metadata":{"name":"e.1","namespace":"default"},"involvedObject":{"kind":"Pod","name":"p",
     "namespace":"default","uid":"u","fieldPath":"spec.containers{c}"},"reason":"Pulled","message":"ok","type":"Normal","count":2,
     "source":{"component":"kubelet","host":"n1"},"firstTimestamp":"2026-01-02T03:04:05Z","lastTimestamp":"2026-01-02T03:04:06Z"}
    """

    static let status = """
    {"apiVersion":"v1","kind":"Status","metadata":{},"status":"Failure","message":"pods \\"x\\" not found","reason":"NotFound",
     "details":{"name":"x","kind":"pods","causes":[{"type":"FieldValueInvalid","message":"m","field":"spec.x"}]},"code":404}
    """

    static let endpoints = """
    {"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web","namespace":"default"},
     "subsets":[{"addresses":[{"ip":"10.244.0.5","nodeName":"n1","targetRef":{"kind":"Pod","name":"p","namespace":"default"}}],
      "notReadyAddresses":[{"ip":"10.244.0.6"}],"ports":[{"name":"http","port":80,"protocol":"TCP"}]}]}
    """

    static let scale = """
    {"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":4},
     "status":{"replicas":3,"selector":"app=web"}}
    """

    static let namespace = """
    {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns","labels":{"kubernetes.io/metadata.name":"ns"}},
     "spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}}
    """
}

@Suite struct JSONValueCodingTests {
    // MARK: Typed views

    @Test func everyTypedViewDecodesAndEncodesAsFoundationDoes() throws {
        try expectSameAsFoundation(Pod.self, Manifests.pod)
        try expectSameAsFoundation(Pod.self, MoreManifests.podWithStatus)
        try expectSameAsFoundation(Deployment.self, Manifests.deployment)
        try expectSameAsFoundation(Service.self, Manifests.service)
        try expectSameAsFoundation(Job.self, Manifests.job)
        try expectSameAsFoundation(DaemonSet.self, Manifests.daemonSet)
        try expectSameAsFoundation(ConfigMap.self, Manifests.configMap)
        try expectSameAsFoundation(Secret.self, Manifests.secret)
        try expectSameAsFoundation(Node.self, MoreManifests.node)
        try expectSameAsFoundation(ReplicaSet.self, MoreManifests.replicaSet)
        try expectSameAsFoundation(Event.self, MoreManifests.event)
        try expectSameAsFoundation(Status.self, MoreManifests.status)
        try expectSameAsFoundation(Endpoints.self, MoreManifests.endpoints)
        try expectSameAsFoundation(Scale.self, MoreManifests.scale)
        try expectSameAsFoundation(Namespace.self, MoreManifests.namespace)
        // The pod template and spec on their own, as controllers decode them.
        try expectSameAsFoundation(PodTemplateSpec.self, #"{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[]}}"#)
        try expectSameAsFoundation(PodSpec.self, #"{}"#)
    }

    @Test func rawSubtreesKeepTheirKeyOrder() throws {
        let tree = try JSONValue.parse(#"{"z":1,"a":{"y":[1,2.5,null],"b":"c"}}"#)
        let decoded = try tree.decode(JSONValue.self)
        #expect(decoded.serialized() == tree.serialized())
        #expect(try JSONValue.encode(decoded).serialized() == tree.serialized())
        // Foundation round-trips the same tree, keys aside.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(tree.serialized().utf8)) == decoded)
    }

    // MARK: Errors

    /// Bad inputs both decoders refuse, with the message `TypedViewError` carries.
    static let badInputs: [(type: String, json: String, message: String)] = [
        ("Pod", #"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80},{"containerPort":"x"}]}]}}"#,
         "spec.containers[0].ports[1].containerPort: expected Int"),
        ("Pod", #"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":null}]}]}}"#,
         "spec.containers[0].ports[0].containerPort: missing Int"),
        ("Pod", #"{"spec":{"containers":[{"ports":[]}]}}"#, "spec.containers[0].name: missing"),
        ("Pod", #"{"spec":{"containers":{"name":"c"}}}"#, "spec.containers: expected Array<Any>"),
        ("Pod", #"{"spec":"nope"}"#, "spec: expected Dictionary<String, Any>"),
        ("Pod", #"[]"#, ": expected Dictionary<String, Any>"),
        ("Pod", #"null"#, ": missing Dictionary<String, Any>"),
        ("Pod", #"{"metadata":{"labels":{"a":1}}}"#, "metadata.labels.a: expected String"),
        ("Pod", #"{"metadata":{"labels":{"a":null}}}"#, "metadata.labels.a: missing String"),
        ("Pod", #"{"metadata":{"finalizers":["a",null]}}"#, "metadata.finalizers[1]: missing String"),
        ("Pod", #"{"spec":{"hostNetwork":1}}"#, "spec.hostNetwork: expected Bool"),
        ("Pod", #"{"spec":{"hostNetwork":"true"}}"#, "spec.hostNetwork: expected Bool"),
        ("Pod", #"{"spec":{"nodeName":true}}"#, "spec.nodeName: expected String"),
        ("Pod", #"{"spec":{"containers":[{"name":"c","env":[{"name":"A","valueFrom":{"fieldRef":[]}}]}]}}"#,
         "spec.containers[0].env[0].valueFrom.fieldRef: expected Dictionary<String, Any>"),
        ("Pod", #"{"spec":{"containers":[{"name":"c","command":"sh"}]}}"#, "spec.containers[0].command: expected Array<Any>"),
        ("Pod", #"{"spec":{"containers":[{"name":"c","command":[1]}]}}"#, "spec.containers[0].command[0]: expected String"),
        ("Pod", #"{"status":{"containerStatuses":[{"name":"c","ready":true,"image":"i","imageID":"","restartCount":"3"}]}}"#,
         "status.containerStatuses[0].restartCount: expected Int32"),
        ("Deployment", #"{"spec":{"replicas":[3],"selector":{},"template":{}}}"#, "spec.replicas: expected Int32"),
        ("Deployment", #"{"spec":{"selector":{},"template":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":{}}]}]}}}}"#,
         "spec.template.spec.containers[0].ports[0].containerPort: expected Int"),
        ("Service", #"{"spec":{"ports":[{"port":80,"targetPort":true}]}}"#, "spec.ports[0].targetPort: expected String"),
        ("Service", #"{"spec":{"ports":[{"port":80},{"protocol":"TCP"}]}}"#, "spec.ports[1].port: missing"),
        ("ConfigMap", #"{"data":["a"]}"#, "data: expected Dictionary<String, Any>"),
        ("Node", #"{"status":{"capacity":{"cpu":true}}}"#, "status.capacity.cpu: expected String"),
        ("Job", #"{"spec":{"template":{},"completions":"1"}}"#, "spec.completions: expected Int32"),
    ]

    private static func decodeOutcomes(_ type: String, _ json: String) -> (ours: Outcome, theirs: Outcome) {
        switch type {
        case "Pod": return (treeDecode(Pod.self, json), foundationDecode(Pod.self, json))
        case "Deployment": return (treeDecode(Deployment.self, json), foundationDecode(Deployment.self, json))
        case "Service": return (treeDecode(Service.self, json), foundationDecode(Service.self, json))
        case "ConfigMap": return (treeDecode(ConfigMap.self, json), foundationDecode(ConfigMap.self, json))
        case "Node": return (treeDecode(Node.self, json), foundationDecode(Node.self, json))
        case "Job": return (treeDecode(Job.self, json), foundationDecode(Job.self, json))
        default: return (.failure("unknown type \(type)"), .failure("unknown type"))
        }
    }

    @Test(arguments: badInputs.indices)
    func badInputsFailAtTheSamePathAsFoundation(_ index: Int) {
        let bad = Self.badInputs[index]
        let (ours, theirs) = Self.decodeOutcomes(bad.type, bad.json)
        #expect(ours == .failure(bad.message), "\(bad.json)")
        #expect(theirs == .failure(bad.message), "\(bad.json)")
    }

    /// Numbers a field cannot hold. Foundation reports them without a path ("not valid JSON"); ours names the
    /// field, which is what the API's messages need.
    @Test(arguments: [
        (#"{"spec":{"priority":1.5}}"#, "spec.priority"),
        (#"{"spec":{"priority":3000000000}}"#, "spec.priority"),
        (#"{"spec":{"priority":-2147483649}}"#, "spec.priority"),
        (#"{"spec":{"containers":[{"name":"c","ports":[{"containerPort":1e19}]}]}}"#, "spec.containers[0].ports[0].containerPort"),
        (#"{"spec":{"terminationGracePeriodSeconds":1e19}}"#, "spec.terminationGracePeriodSeconds"),
    ])
    func unrepresentableNumbersAreDataCorrupted(_ json: String, _ path: String) throws {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Pod.self, from: Data(json.utf8)) }
        do {
            _ = try JSONTreeDecoder().decode(Pod.self, from: try JSONValue.parse(json))
            Issue.record("decoded \(json)")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(JSONValue.describe(.dataCorrupted(context)).hasPrefix(path + ": Number "))
        }
    }

    @Test func integersAcceptExactNumbersOnly() throws {
        #expect(try JSONValue.int(7).decode(Int32.self) == 7)
        #expect(try JSONValue.double(1.0).decode(Int.self) == 1)
        #expect(try JSONValue.double(1e2).decode(UInt8.self) == 100)
        #expect(try JSONValue.double(-0.0).decode(Int.self) == 0)
        #expect(try JSONValue.int(Int64.max).decode(Int64.self) == Int64.max)
        #expect(try JSONValue.int(Int64.max).decode(UInt64.self) == UInt64(Int64.max))
        #expect(try JSONValue.int(5).decode(Double.self) == 5)
        #expect(try JSONValue.int(9_007_199_254_740_993).decode(Double.self) == 9_007_199_254_740_992)
        for (value, type) in [(JSONValue.double(1.5), "Int"), (.int(-1), "UInt8"), (.int(256), "UInt8"), (.double(1e300), "Int64")] {
            #expect(throws: TypedViewError.self, "\(value) as \(type)") {
                switch type {
                case "Int": _ = try value.decode(Int.self)
                case "UInt8": _ = try value.decode(UInt8.self)
                default: _ = try value.decode(Int64.self)
                }
            }
        }
        // Foundation agrees on each of these, from text.
        #expect(try JSONDecoder().decode(Int.self, from: Data("1.0".utf8)) == 1)
        #expect(try JSONDecoder().decode(UInt8.self, from: Data("1e2".utf8)) == 100)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Int.self, from: Data("1.5".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(UInt8.self, from: Data("256".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Float.self, from: Data("1e300".utf8)) }
        #expect(throws: TypedViewError.self) { try JSONValue.double(1e300).decode(Float.self) }
    }

    @Test func scalarsComeOnlyFromTheirOwnJSONType() throws {
        #expect(try JSONValue.bool(true).decode(Bool.self))
        #expect(throws: TypedViewError.self) { try JSONValue.int(1).decode(Bool.self) }
        #expect(throws: TypedViewError.self) { try JSONValue.string("true").decode(Bool.self) }
        // A null Bool is a type mismatch for Foundation; any other null scalar is a missing value.
        #expect(#expect(throws: TypedViewError.self) { try JSONValue.null.decode(Bool.self) }?.description == ": expected Bool")
        #expect(#expect(throws: TypedViewError.self) { try JSONValue.null.decode(String.self) }?.description == ": missing String")
        #expect(#expect(throws: TypedViewError.self) { try JSONValue.array([.null]).decode([Double].self) }?.description
            == "[0]: missing Double")
        #expect(throws: TypedViewError.self) { try JSONValue.int(1).decode(String.self) }
        #expect(throws: TypedViewError.self) { try JSONValue.string("1").decode(Int.self) }
        #expect(throws: TypedViewError.self) { try JSONValue.string("1").decode(Double.self) }
        #expect(try JSONValue.null.decode(Int?.self) == nil)
        #expect(try JSONValue.array([.int(1), .null]).decode([Int?].self) == [1, nil])
        // IntOrString and Quantity take numbers and strings, as their init(from:) says.
        #expect(try JSONValue.int(8080).decode(IntOrString.self) == .int(8080))
        #expect(throws: TypedViewError.self) { try JSONValue.double(1.5).decode(IntOrString.self) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(IntOrString.self, from: Data("1.5".utf8)) }
        #expect(try JSONValue.string("http").decode(IntOrString.self) == .string("http"))
        for text in ["0.5", "2", "\"250m\"", "1e3"] {
            #expect(try JSONValue.parse(text).decode(Quantity.self) == (try JSONDecoder().decode(Quantity.self, from: Data(text.utf8))))
        }
    }

    // MARK: Encoding

    @Test func encodingFollowsJSONEncoder() throws {
        struct Numbers: Codable, Equatable {
            var doubles: [Double]
            var floats: [Float]
            var big: UInt64
            var small: Int8
            var missing: String?
            var byNumber: [Int: String]
        }
        let value = Numbers(doubles: [1e16, 1e15, 0.1, -0.0, 1e300, 2.5e-8, 123_456, Double(9_007_199_254_740_993 as Int64), -1.5, .leastNonzeroMagnitude],
                            floats: [0.1, 1e10, 3.4e38, -0.0], big: UInt64.max, small: -128, missing: nil,
                            byNumber: [1: "a", 20: "b", -3: "c"])
        let ours = String(decoding: try JSONValue.encodeJSON(value, options: [.sortedKeys]), as: UTF8.self)
        #expect(ours == (try foundationText(value, [.sortedKeys])))
        #expect(!ours.contains("missing"))
        // The tree is what parsing JSONEncoder's text gives (UInt64.max becomes a double there too).
        #expect(try JSONValue.encode(value) == (try JSONValue.parse(try foundationText(value, []))))
        // The text decodes back to the same value with both decoders.
        let text = Array(ours.utf8)
        #expect(try JSONDecoder().decode(Numbers.self, from: Data(text)).doubles == value.doubles)
        var tree = try JSONValue.parse(text)
        tree["big"] = .int(7)  // the tree holds integers up to Int64.max exactly
        #expect(try tree.decode(Numbers.self).doubles == value.doubles)
    }

    @Test func nonFiniteNumbersAndEmptyValuesThrowAsJSONEncoderDoes() throws {
        struct Wrapper: Encodable { var values: [Double] }
        for bad in [Double.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try JSONEncoder().encode(Wrapper(values: [1, bad])) }
            do {
                _ = try JSONValue.encode(Wrapper(values: [1, bad]))
                Issue.record("encoded \(bad)")
            } catch EncodingError.invalidValue(_, let context) {
                #expect(context.codingPath.map(\.stringValue) == ["values", "Index 1"])
            }
        }
        struct Nothing: Encodable { func encode(to encoder: any Encoder) throws {} }
        #expect(throws: EncodingError.self) { try JSONEncoder().encode(Nothing()) }
        #expect(throws: EncodingError.self) { try JSONValue.encode(Nothing()) }
        // Nested, an empty value is an empty object for both.
        #expect(try JSONValue.encodeJSON([Nothing()]) == Array((try JSONEncoder().encode([Nothing()]))))
    }

    @Test func stringsAreEscapedAsJSONEncoderEscapesThem() throws {
        var all = String(decoding: (0..<0x80).map { UInt8($0) }, as: UTF8.self)
        all += "é € 😀 \u{2028}\u{2029} a/b </script> e\u{301}"
        for options: (JSONEncoder.OutputFormatting, JSONWriteOptions) in [([], []), ([.withoutEscapingSlashes], [.withoutEscapingSlashes])] {
            #expect(String(decoding: try JSONValue.encodeJSON([all: all], options: options.1), as: UTF8.self)
                == (try foundationText([all: all], options.0)))
        }
        let keys = ["b", "B", "a10", "a9", "_", "Z", "é", "e\u{301}z", "ab", "a", "", "ä", "\u{1F600}", "\u{FF21}"]
        let map = Dictionary(uniqueKeysWithValues: keys.map { ($0, 1) })
        #expect(String(decoding: try JSONValue.encodeJSON(map, options: [.sortedKeys]), as: UTF8.self)
            == (try foundationText(map, [.sortedKeys])))
    }

    /// One walker writes both spellings: the API's (what clients have always had from us) and JSONEncoder's
    /// (typed views). They differ in key order beyond ASCII, `/`, `\b` and `\f`, and `-0`.
    @Test func theAPIAndTheEncoderSpellATreeEachTheirOwnWay() throws {
        let decomposed = "e\u{301}z"
        let tree: JSONValue = .object(JSONObject([
            ("z", .array([.double(-0.0), .double(1e20), .double(2.5), .double(3.0), .int(-7)])),
            ("é", .bool(true)), (decomposed, .null), ("a", .string("a/b\u{8}\u{c}\n\u{1}")),
        ]))
        #expect(tree.serialized(sortedKeys: true)
            == #"{"a":"a/b\u0008\u000c\n\u0001","z":[0,1e+20,2.5,3,-7],"é":true,"\#(decomposed)":null}"#)
        #expect(tree.serialized() == #"{"z":[0,1e+20,2.5,3,-7],"é":true,"\#(decomposed)":null,"a":"a/b\u0008\u000c\n\u0001"}"#)
        #expect(String(decoding: try JSONValue.encodeJSON(tree, options: [.sortedKeys]), as: UTF8.self)
            == #"{"a":"a\/b\b\f\n\u0001","\#(decomposed)":null,"z":[-0,1e+20,2.5,3,-7],"é":true}"#)
        #expect(String(decoding: try JSONValue.encodeJSON(tree, options: [.withoutEscapingSlashes]), as: UTF8.self)
            == #"{"z":[-0,1e+20,2.5,3,-7],"é":true,"\#(decomposed)":null,"a":"a/b\b\f\n\u0001"}"#)
    }

    /// The node agent's state files (PodRuntime's `Record`): written by either encoder, read by either decoder.
    @Test func stateFilesReadBothWays() throws {
        struct Record: Codable, Equatable {
            var id: String
            var podUID: String
            var attempt: Int
            var pid: Int32
            var startedAt: Int64
            var finishedAt: Int64?
            var exitCode: Int32?
            var oomKilled = false
            var logPath: String
        }
        let record = Record(id: "c/1", podUID: "u", attempt: 2, pid: 4242, startedAt: 1_764_000_000_000, finishedAt: nil,
                            exitCode: 137, oomKilled: true, logPath: "/var/log/pods/u/c/2.log")
        let ours = try JSONValue.encodeJSON(record)
        let theirs = Array(try JSONEncoder().encode(record))
        #expect(try JSONDecoder().decode(Record.self, from: Data(ours)) == record)
        #expect(try JSONValue.decode(Record.self, from: theirs) == record)
        #expect(try JSONValue.decode(Record.self, from: ours) == record)
        // Same bytes once keys are in the same order (JSONEncoder's unsorted order is its dictionary's).
        let sortedOurs = try JSONValue.encodeJSON(record, options: [.sortedKeys])
        #expect(sortedOurs == Array(try { let e = JSONEncoder(); e.outputFormatting = .sortedKeys; return try e.encode(record) }()))
        #expect(String(decoding: ours, as: UTF8.self).contains(#""logPath":"\/var\/log"#))
    }

    // MARK: Containers

    /// A type that uses every container kind, super coders and userInfo.
    final class Shape: Codable, Equatable {
        var name: String
        var corners: [[Int]]
        var meta: [String: Bool]
        var tag: String?

        init(name: String, corners: [[Int]], meta: [String: Bool], tag: String?) {
            self.name = name
            self.corners = corners
            self.meta = meta
            self.tag = tag
        }

        enum Keys: String, CodingKey { case name, geometry, meta, tag, base }
        enum GeometryKeys: String, CodingKey { case corners, count }

        static let flag = CodingUserInfoKey(rawValue: "flag")!  // justified: a constant, valid key

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(name, forKey: .name)
            var geometry = c.nestedContainer(keyedBy: GeometryKeys.self, forKey: .geometry)
            var list = geometry.nestedUnkeyedContainer(forKey: .corners)
            for corner in corners {
                var pair = list.nestedUnkeyedContainer()
                for x in corner { try pair.encode(x) }
            }
            try geometry.encode(corners.count, forKey: .count)
            try meta.encode(to: c.superEncoder(forKey: .meta))
            try c.encodeIfPresent(tag, forKey: .tag)
            var base = c.superEncoder().singleValueContainer()
            try base.encode(encoder.userInfo[Self.flag] as? String ?? "none")
            var shared = c.superEncoder(forKey: .base).unkeyedContainer()
            try shared.encode(1)
            try shared.encodeNil()
            var deep = shared.nestedContainer(keyedBy: GeometryKeys.self)
            try deep.encode(2, forKey: .count)
            var last = shared.superEncoder().singleValueContainer()
            try last.encode("s")
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            name = try c.decode(String.self, forKey: .name)
            let geometry = try c.nestedContainer(keyedBy: GeometryKeys.self, forKey: .geometry)
            var list = try geometry.nestedUnkeyedContainer(forKey: .corners)
            #expect(list.count == (try geometry.decode(Int.self, forKey: .count)))
            var corners: [[Int]] = []
            while !list.isAtEnd {
                var pair = try list.nestedUnkeyedContainer()
                var corner: [Int] = []
                while !pair.isAtEnd { corner.append(try pair.decode(Int.self)) }
                corners.append(corner)
            }
            self.corners = corners
            meta = try [String: Bool](from: c.superDecoder(forKey: .meta))
            tag = try c.decodeIfPresent(String.self, forKey: .tag)
            #expect(try c.superDecoder().singleValueContainer().decode(String.self) == (decoder.userInfo[Self.flag] as? String ?? "none"))
            var shared = try c.superDecoder(forKey: .base).unkeyedContainer()
            #expect(try shared.decode(Int.self) == 1)
            #expect(try shared.decodeNil())
            #expect(try shared.nestedContainer(keyedBy: GeometryKeys.self).decode(Int.self, forKey: .count) == 2)
            #expect(try shared.superDecoder().singleValueContainer().decode(String.self) == "s")
            #expect(shared.isAtEnd)
            #expect(throws: DecodingError.self) { try shared.decode(Int.self) }
            #expect(c.allKeys.count == (tag == nil ? 4 : 5))
            #expect(!c.contains(.tag) || tag != nil)
        }

        static func == (a: Shape, b: Shape) -> Bool {
            a.name == b.name && a.corners == b.corners && a.meta == b.meta && a.tag == b.tag
        }
    }

    @Test func everyContainerKindAndTheSuperCodersMatchFoundation() throws {
        for shape in [Shape(name: "sq", corners: [[0, 0], [0, 1], [], [1, 1]], meta: ["closed": true, "x/y": false], tag: nil),
                      Shape(name: "", corners: [], meta: [:], tag: "t")] {
            let theirs = try foundationText(shape, [.sortedKeys])
            let ours = String(decoding: try JSONValue.encodeJSON(shape, options: [.sortedKeys]), as: UTF8.self)
            #expect(ours == theirs)
            #expect(try JSONValue.parse(ours).decode(Shape.self) == shape)
            #expect(try JSONDecoder().decode(Shape.self, from: Data(ours.utf8)) == shape)
        }
    }

    @Test func userInfoReachesEveryLevel() throws {
        let shape = Shape(name: "n", corners: [[1]], meta: [:], tag: nil)
        var encoder = JSONTreeEncoder()
        encoder.userInfo[Shape.flag] = "on"
        let tree = try encoder.encode(shape)
        #expect(tree["super"] == "on")
        var decoder = JSONTreeDecoder()
        decoder.userInfo[Shape.flag] = "on"
        #expect(try decoder.decode(Shape.self, from: tree) == shape)
        // Without the flag the decoder expects "none", so the mismatch shows the value really came through userInfo.
        let foundation = JSONEncoder()
        foundation.userInfo[Shape.flag] = "on"
        #expect(try JSONValue.parse(try foundation.encode(shape)) == tree)
    }

    @Test func codingPathsOfNestedFailures() throws {
        struct Inner: Decodable { var x: [Int] }
        struct Outer: Decodable { var items: [String: [Inner]] }
        let json = #"{"items":{"k":[{"x":[1]},{"x":[2,"three"]}]}}"#
        let theirs = foundationDecodeError(Outer.self, json)
        #expect(theirs == "items.k[1].x[1]: expected Int")
        #expect(throws: TypedViewError.self) { try JSONValue.parse(json).decode(Outer.self) }
        do { _ = try JSONValue.parse(json).decode(Outer.self) } catch { #expect("\(error)" == theirs) }
    }

    private func foundationDecodeError<T: Decodable>(_ type: T.Type, _ json: String) -> String {
        do {
            _ = try JSONDecoder().decode(T.self, from: Data(json.utf8))
            return "decoded"
        } catch let error as DecodingError {
            return JSONValue.describe(error)
        } catch {
            return "\(error)"
        }
    }

    // MARK: Seeded random differential

    enum Kind: String, Codable, CaseIterable { case alpha, beta = "Beta/β", gamma = "" }

    struct Leaf: Codable, Equatable {
        var id: Int64
        var ratio: Double?
        var flags: [Bool]
        var label: String?
    }

    struct Sample: Codable, Equatable {
        var i: Int64
        var i32: Int32?
        var u8: UInt8
        var u64: UInt64
        var d: Double
        var f: Float?
        var s: String
        var b: Bool?
        var kind: Kind
        var kinds: [Kind]?
        var leaves: [Leaf]
        var grid: [[Double]]
        var map: [String: Int]
        var byNumber: [Int: String]?
        var nested: [String: [Leaf?]]
        var leaf: Leaf?
        var port: IntOrString?
    }

    private static func randomString(_ rng: inout SeededRandom) -> String {
        let alphabet: [String] = ["a", "Z", "/", "\\", "\"", "\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "é", "e\u{301}", "€", "😀",
                                  "\u{2028}", " ", "{", "}", "<", "ß", "\u{FEFF}", "0"]
        return (0..<Int.random(in: 0...8, using: &rng)).map { _ in alphabet.randomElement(using: &rng) ?? "" }.joined()
    }

    private static func randomDouble(_ rng: inout SeededRandom) -> Double {
        let edges: [Double] = [0, -0.0, 1, -1, 0.1, 1e300, -1e300, .leastNonzeroMagnitude, .leastNormalMagnitude, Double(9_007_199_254_740_993 as Int64),
                               1e15, 1e16, 123_456_789.125, .greatestFiniteMagnitude, Double(Int64.max), 1e-7]
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: return edges.randomElement(using: &rng) ?? 0
        case 1: return Double(Int.random(in: -1_000_000...1_000_000, using: &rng))
        default:
            let d = Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &rng))
            return d.isFinite ? d : 1.5
        }
    }

    private static func randomInt64(_ rng: inout SeededRandom) -> Int64 {
        let edges: [Int64] = [0, -1, 1, .max, .min, 9_007_199_254_740_993, -9_007_199_254_740_993, Int64(Int32.max) + 1]
        return Bool.random(using: &rng) ? edges.randomElement(using: &rng) ?? 0 : Int64.random(in: .min ... .max, using: &rng)
    }

    private static func randomLeaf(_ rng: inout SeededRandom) -> Leaf {
        Leaf(id: randomInt64(&rng), ratio: Bool.random(using: &rng) ? randomDouble(&rng) : nil,
             flags: (0..<Int.random(in: 0...3, using: &rng)).map { _ in Bool.random(using: &rng) },
             label: Bool.random(using: &rng) ? randomString(&rng) : nil)
    }

    private static func randomSample(_ rng: inout SeededRandom) -> Sample {
        func maybe<T>(_ make: () -> T) -> T? { Bool.random(using: &rng) ? make() : nil }
        return Sample(
            i: randomInt64(&rng),
            i32: Bool.random(using: &rng) ? Int32.random(in: .min ... .max, using: &rng) : nil,
            u8: UInt8.random(in: 0 ... .max, using: &rng),
            u64: UInt64.random(in: 0...UInt64(Int64.max), using: &rng),
            d: randomDouble(&rng),
            f: Bool.random(using: &rng) ? Float(Int.random(in: -1000...1000, using: &rng)) / 8 : nil,
            s: randomString(&rng),
            b: Bool.random(using: &rng) ? Bool.random(using: &rng) : nil,
            kind: Kind.allCases.randomElement(using: &rng) ?? .alpha,
            kinds: Bool.random(using: &rng) ? (0..<Int.random(in: 0...3, using: &rng)).map { _ in Kind.allCases.randomElement(using: &rng) ?? .alpha } : nil,
            leaves: (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomLeaf(&rng) },
            grid: (0..<Int.random(in: 0...3, using: &rng)).map { _ in (0..<Int.random(in: 0...3, using: &rng)).map { _ in randomDouble(&rng) } },
            map: Dictionary((0..<Int.random(in: 0...4, using: &rng)).map { _ in (randomString(&rng), Int.random(in: -9...9, using: &rng)) },
                            uniquingKeysWith: { a, _ in a }),
            byNumber: Bool.random(using: &rng)
                ? Dictionary((0..<Int.random(in: 0...3, using: &rng)).map { _ in (Int.random(in: -50...50, using: &rng), randomString(&rng)) },
                             uniquingKeysWith: { a, _ in a }) : nil,
            nested: Dictionary((0..<Int.random(in: 0...2, using: &rng)).map { _ in
                (randomString(&rng), (0..<Int.random(in: 0...2, using: &rng)).map { _ in Bool.random(using: &rng) ? randomLeaf(&rng) : nil })
            }, uniquingKeysWith: { a, _ in a }),
            leaf: Bool.random(using: &rng) ? randomLeaf(&rng) : nil,
            port: Bool.random(using: &rng) ? (Bool.random(using: &rng) ? .int(Int.random(in: 0...65535, using: &rng)) : .string(randomString(&rng))) : nil)
    }

    @Test func seededRandomValuesMatchFoundationBothWays() throws {
        let count = Int(ProcessInfo.processInfo.environment["JSON_CODING_SAMPLES"] ?? "") ?? 300
        var rng = SeededRandom(seed: 0x15_0_C0DE)
        for n in 0..<count {
            let sample = Self.randomSample(&rng)
            let theirs = try foundationText(sample, [.sortedKeys])
            let ours = String(decoding: try JSONValue.encodeJSON(sample, options: [.sortedKeys]), as: UTF8.self)
            try #require(ours == theirs, "sample \(n)")
            let tree = try JSONValue.encode(sample)
            #expect(tree == (try JSONValue.parse(theirs)), "sample \(n)")
            #expect(try tree.decode(Sample.self) == (try JSONDecoder().decode(Sample.self, from: Data(theirs.utf8))), "sample \(n)")
            #expect(try JSONValue.decode(Sample.self, from: Array(theirs.utf8)) == sample, "sample \(n)")
        }
    }

    /// Random damage to valid documents: both decoders accept or refuse together, at the same path.
    @Test func seededRandomDamageFailsLikeFoundation() throws {
        let count = Int(ProcessInfo.processInfo.environment["JSON_CODING_SAMPLES"] ?? "") ?? 300
        var rng = SeededRandom(seed: 42)
        let replacements: [JSONValue] = [.null, .bool(true), .int(-1), .int(300), .int(Int64.max), .double(2.5), .double(1e100),
                                         .string("x"), .array([]), .array([.int(1)]), .object(JSONObject())]
        func paths(_ value: JSONValue, _ prefix: [String]) -> [[String]] {
            switch value {
            case .object(let o): return [prefix] + o.flatMap { paths($0.value, prefix + [$0.key]) }
            case .array(let a): return [prefix] + a.indices.flatMap { paths(a[$0], prefix + ["#\($0)"]) }
            default: return [prefix]
            }
        }
        func replacing(_ value: JSONValue, at path: ArraySlice<String>, with new: JSONValue) -> JSONValue {
            guard let head = path.first else { return new }
            switch value {
            case .object(var o):
                o[head] = replacing(o[head] ?? .null, at: path.dropFirst(), with: new)
                return .object(o)
            case .array(var a):
                guard let i = Int(head.dropFirst()), a.indices.contains(i) else { return value }
                a[i] = replacing(a[i], at: path.dropFirst(), with: new)
                return .array(a)
            default: return value
            }
        }
        var refused = 0
        for n in 0..<count {
            let tree = try JSONValue.parse(try foundationText(Self.randomSample(&rng), []))
            let all = paths(tree, [])
            guard let path = all.randomElement(using: &rng), let replacement = replacements.randomElement(using: &rng) else { continue }
            let damaged = replacing(tree, at: path[...], with: replacement)
            let text = damaged.serialized()
            let theirs = foundationDecode(Sample.self, text)
            let ours = treeDecode(Sample.self, text)
            if case .failure(let message) = theirs, message.hasPrefix(": The given data was not valid JSON") {
                // A number the field cannot hold: Foundation gives no path; ours names the damaged field.
                // Dictionary keys that read as integers carry an intValue, so they print as indices.
                let where_ = path.map { $0.hasPrefix("#") ? "[\($0.dropFirst())]" : Int($0).map { "[\($0)]" } ?? ".\($0)" }
                    .joined().drop { $0 == "." }
                guard case .failure(let mine) = ours else {
                    Issue.record("sample \(n): \(text) decoded")
                    continue
                }
                #expect(mine.hasPrefix(where_ + ": Number"), "sample \(n): \(mine)")
            } else {
                #expect(ours == theirs, "sample \(n): \(text)")
            }
            if case .failure = theirs { refused += 1 }
        }
        #expect(refused > count / 4)
    }

    // MARK: Speed (a benchmark, behind an environment variable)

    @Test(.enabled(if: ProcessInfo.processInfo.environment["JSON_CODING_BENCH"] != nil))
    func decodingSpeedAgainstTheOldBridge() throws {
        let tree = Manifests.json(Manifests.pod)
        let rounds = 10_000
        let clock = ContinuousClock()
        var old: Pod?
        let oldTime = try clock.measure {
            for _ in 0..<rounds { old = try JSONDecoder().decode(Pod.self, from: tree.serializedData()) }
        }
        var new: Pod?
        let newTime = try clock.measure {
            for _ in 0..<rounds { new = try tree.decode(Pod.self) }
        }
        var encoded: JSONValue?
        let oldEncode = try clock.measure {
            for _ in 0..<rounds { encoded = try JSONValue.parse(try JSONEncoder().encode(new)) }
        }
        let newEncode = try clock.measure {
            for _ in 0..<rounds { encoded = try JSONValue.encode(new) }
        }
        print("decode Pod x\(rounds): old bridge \(oldTime), tree decoder \(newTime); encode: old \(oldEncode), tree encoder \(newEncode)")
        #expect(old == new)
        #expect(encoded == (try JSONValue.encode(old)))
    }
}

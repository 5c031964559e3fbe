import Testing
@testable import ResourceModel

@Suite struct MergePatchTests {
    // RFC 7386 appendix A.
    static let cases: [(String, String, String)] = [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, "null", "null"),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"e":null,"a":1}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ]

    @Test func rfc7386Appendix() throws {
        for (target, patch, result) in Self.cases {
            let out = MergePatch.apply(try JSONValue.parse(patch), to: try JSONValue.parse(target))
            #expect(out == (try JSONValue.parse(result)), "\(target) + \(patch)")
        }
    }

    @Test func kubectlLabelAndScale() throws {
        let d = Manifests.json(Manifests.deployment)
        let out = MergePatch.apply(try JSONValue.parse(#"{"metadata":{"labels":{"tier":"fe"}},"spec":{"replicas":5}}"#), to: d)
        #expect(out["metadata"]?["labels"] == ["app": "web", "tier": "fe"])
        #expect(out["spec"]?["replicas"] == .int(5))
        #expect(out["spec"]?["template"] == d["spec"]?["template"])
    }
}

@Suite struct JSONPatchTests {
    func run(_ doc: String, _ patch: String) throws -> JSONValue {
        try JSONPatch.apply(try JSONValue.parse(patch), to: try JSONValue.parse(doc))
    }

    // RFC 6902 appendix A.
    @Test func rfc6902Appendix() throws {
        #expect(try run(#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz","value":"qux"}]"#) == JSONValue.parse(#"{"baz":"qux","foo":"bar"}"#))
        #expect(try run(#"{"foo":["bar","baz"]}"#, #"[{"op":"add","path":"/foo/1","value":"qux"}]"#) == JSONValue.parse(#"{"foo":["bar","qux","baz"]}"#))
        #expect(try run(#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"remove","path":"/baz"}]"#) == JSONValue.parse(#"{"foo":"bar"}"#))
        #expect(try run(#"{"foo":["bar","qux","baz"]}"#, #"[{"op":"remove","path":"/foo/1"}]"#) == JSONValue.parse(#"{"foo":["bar","baz"]}"#))
        #expect(try run(#"{"baz":"qux","foo":"bar"}"#, #"[{"op":"replace","path":"/baz","value":"boo"}]"#) == JSONValue.parse(#"{"baz":"boo","foo":"bar"}"#))
        #expect(try run(#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#, #"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#)
            == JSONValue.parse(#"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#))
        #expect(try run(#"{"foo":["all","grass","cows","eat"]}"#, #"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#)
            == JSONValue.parse(#"{"foo":["all","cows","eat","grass"]}"#))
        #expect(try run(#"{"baz":"qux","foo":["a",2,"c"]}"#, #"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#)
            == JSONValue.parse(#"{"baz":"qux","foo":["a",2,"c"]}"#))
        #expect(throws: PatchError.self) { try run(#"{"baz":"qux"}"#, #"[{"op":"test","path":"/baz","value":"bar"}]"#) }
        #expect(try run(#"{"foo":"bar"}"#, #"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#) == JSONValue.parse(#"{"foo":"bar","child":{"grandchild":{}}}"#))
        #expect(throws: PatchError.self) { try run(#"{"foo":"bar"}"#, #"[{"op":"add","path":"/baz/bat","value":"qux"}]"#) }
        #expect(try run(#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":10},{"op":"test","path":"/~1","value":9}]"#) == JSONValue.parse(#"{"/":9,"~1":10}"#))
        #expect(throws: PatchError.self) { try run(#"{"/":9,"~1":10}"#, #"[{"op":"test","path":"/~01","value":"10"}]"#) }
        #expect(try run(#"{"foo":["bar"]}"#, #"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#) == JSONValue.parse(#"{"foo":["bar",["abc","def"]]}"#))
        #expect(try run(#"{"foo":"bar"}"#, #"[{"op":"copy","from":"/foo","path":"/baz"}]"#) == JSONValue.parse(#"{"foo":"bar","baz":"bar"}"#))
        #expect(try run(#"{"foo":1}"#, #"[{"op":"add","path":"","value":[1]}]"#) == JSONValue.parse("[1]"))
    }

    @Test func errors() throws {
        let bad = [
            #"{"op":"add","path":"/a"}"#, #"[{"op":"fly","path":"/a"}]"#, #"[{"path":"/a"}]"#, #"[{"op":"remove","path":"/missing"}]"#,
            #"[{"op":"add","path":"/arr/5","value":1}]"#, #"[{"op":"add","path":"/arr/01","value":1}]"#, #"[{"op":"remove","path":"/arr/-"}]"#,
            #"[{"op":"replace","path":"/nope","value":1}]"#, #"[{"op":"move","from":"/o","path":"/o/x"}]"#, #"[{"op":"add","path":"a","value":1}]"#,
            #"[{"op":"add","path":"/~2","value":1}]"#, #"[{"op":"copy","from":"/zz","path":"/y"}]"#, #"[1]"#,
        ]
        for p in bad {
            #expect(throws: PatchError.self, "\(p)") { try run(#"{"arr":[1,2],"o":{}}"#, p) }
        }
        do {
            _ = try run(#"{"metadata":{}}"#, #"[{"op":"replace","path":"/metadata/annotations","value":{}}]"#)
            Issue.record("expected failure")
        } catch let error as PatchError {
            #expect(error.message == "replace operation does not apply: doc is missing key: /metadata/annotations")
        }
    }

    @Test func rolloutUndoShape() throws {
        let d = Manifests.json(Manifests.deployment)
        let patch = #"[{"op":"replace","path":"/spec/template","value":{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.20","resources":{}}]}}},{"op":"replace","path":"/metadata/annotations","value":{"deployment.kubernetes.io/revision":"1"}}]"#
        let out = try JSONPatch.apply(try JSONValue.parse(patch), to: d)
        #expect(out.value(at: ["spec", "template", "spec", "containers"])?.arrayValue?.first?["image"] == "nginx:1.20")
        #expect(out["metadata"]?["annotations"] == ["deployment.kubernetes.io/revision": "1"])
    }
}

@Suite struct StrategicMergePatchTests {
    func smp(_ original: JSONValue, _ patch: String, kind: String = "Deployment") throws -> JSONValue {
        try StrategicMergePatch.apply(try JSONValue.parse(patch), to: original, kind: kind)
    }

    let twoContainers = Manifests.json(#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.20","env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],"ports":[{"containerPort":80},{"containerPort":443}]},{"name":"sidecar","image":"envoy"}]}}}}"#)

    func containers(_ v: JSONValue) -> [JSONValue] { v.value(at: ["spec", "template", "spec", "containers"])?.arrayValue ?? [] }

    @Test func setImageByName() throws {
        let out = try smp(twoContainers, #"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"}],"containers":[{"image":"nginx:1.21","name":"nginx"}]}}}}"#)
        let cs = containers(out)
        #expect(cs.count == 2)
        #expect(cs[0]["image"] == "nginx:1.21")
        #expect(cs[0]["env"]?.arrayValue?.count == 2)  // untouched fields survive
        #expect(cs[1]["image"] == "envoy")
    }

    @Test func envAddAndDelete() throws {
        let out = try smp(twoContainers, #"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":[{"name":"C","value":"3"},{"name":"A","$patch":"delete"},{"name":"B","value":"20"}]}]}}}}"#)
        let env = containers(out)[0]["env"]?.arrayValue ?? []
        #expect(env == [["name": "B", "value": "20"], ["name": "C", "value": "3"]])
    }

    @Test func deleteContainerAndPort() throws {
        let out = try smp(twoContainers, #"{"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"sidecar"},{"name":"nginx","ports":[{"$patch":"delete","containerPort":443},{"containerPort":8080,"name":"alt"}]}]}}}}"#)
        let cs = containers(out)
        #expect(cs.count == 1)
        #expect(cs[0]["ports"] == [["containerPort": 80], ["containerPort": 8080, "name": "alt"]])
    }

    @Test func nullDeletesAndMapsMerge() throws {
        let cm: JSONValue = ["data": ["a": "1", "b": "2"], "metadata": ["name": "c"]]
        let out = try smp(cm, #"{"data":{"a":null,"c":"3"}}"#, kind: "ConfigMap")
        #expect(out["data"] == ["b": "2", "c": "3"])
        let noEnv = try smp(twoContainers, #"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","env":null}]}}}}"#)
        #expect(containers(noEnv)[0]["env"] == nil)
    }

    @Test func retainKeysClearsRollingUpdate() throws {
        let d: JSONValue = ["spec": ["strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": "25%", "maxUnavailable": "25%"]]]]
        let out = try smp(d, #"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#)
        #expect(out["spec"]?["strategy"] == ["type": "Recreate"])
    }

    @Test func replaceDirectives() throws {
        let out = try smp(twoContainers, #"{"spec":{"template":{"spec":{"containers":[{"$patch":"replace"},{"name":"only","image":"x"}]}}}}"#)
        #expect(containers(out) == [["name": "only", "image": "x"]])
        let meta: JSONValue = ["metadata": ["labels": ["a": "1", "b": "2"]]]
        let replaced = try smp(meta, #"{"metadata":{"labels":{"$patch":"replace","c":"3"}}}"#)
        #expect(replaced["metadata"]?["labels"] == ["c": "3"])
        #expect(throws: PatchError.self) { try smp(meta, #"{"metadata":{"$patch":"explode"}}"#) }
    }

    @Test func atomicListsAreReplaced() throws {
        let p: JSONValue = ["spec": ["tolerations": [["key": "a", "operator": "Exists"]], "containers": [["name": "c", "command": ["a", "b"]]]]]
        let out = try smp(p, #"{"spec":{"tolerations":[{"key":"b","operator":"Exists"}],"containers":[{"name":"c","command":["z"]}]}}"#, kind: "Pod")
        #expect(out["spec"]?["tolerations"] == [["key": "b", "operator": "Exists"]])
        #expect(out["spec"]?["containers"]?.arrayValue?.first?["command"] == ["z"])
    }

    @Test func servicePortsMergeOnPort() throws {
        let svc = Manifests.json(Manifests.service)
        let out = try smp(svc, #"{"spec":{"$setElementOrder/ports":[{"port":443},{"port":80}],"ports":[{"port":443,"targetPort":9443},{"$patch":"delete","port":8080}]}}"#, kind: "Service")
        let ports = out["spec"]?["ports"]?.arrayValue ?? []
        #expect(ports.map { $0["port"] } == [.int(443), .int(80)])
        #expect(ports[0]["targetPort"] == .int(9443))
        #expect(ports[0]["name"] == "https")
    }

    @Test func finalizersAndPrimitiveDeletes() throws {
        let o: JSONValue = ["metadata": ["finalizers": ["a", "b"]]]
        let added = try smp(o, #"{"metadata":{"finalizers":["c","a"]}}"#, kind: "Namespace")
        #expect(added["metadata"]?["finalizers"] == ["a", "b", "c"])
        let removed = try smp(o, #"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}"#, kind: "Namespace")
        #expect(removed["metadata"]?["finalizers"] == ["b"])
    }

    @Test func kubectlApplyAnnotationAndRestart() throws {
        let d = Manifests.json(Manifests.deployment)
        let out = try smp(d, #"{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"new\":1}\n"}},"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2024-05-01T12:00:00Z"}}}}}"#)
        #expect(out.value(at: ["metadata", "annotations", "kubectl.kubernetes.io/last-applied-configuration"]) == "{\"new\":1}\n")
        #expect(out.value(at: ["spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]) == "2024-05-01T12:00:00Z")
        #expect(out.value(at: ["spec", "template", "metadata", "labels"]) == ["app": "web"])
        #expect(out.value(at: ["spec", "template", "spec", "dnsConfig"]) == d.value(at: ["spec", "template", "spec", "dnsConfig"]))
    }

    @Test func badPatches() throws {
        #expect(throws: PatchError.self) { try smp(twoContainers, "[1]") }
        #expect(throws: PatchError.self) { try smp(twoContainers, #"{"spec":{"template":{"spec":{"containers":[{"image":"no-name"}]}}}}"#) }
        #expect(throws: PatchError.self) { try smp(twoContainers, #"{"spec":{"template":{"spec":{"containers":["str"]}}}}"#) }
        // Patching a scalar field with an object just sets it.
        let out = try smp(["spec": ["replicas": 1]], #"{"spec":{"replicas":{"a":null,"b":1}}}"#)
        #expect(out["spec"]?["replicas"] == ["b": 1])
    }
}

import Foundation
import Simulation
import Testing
@testable import ResourceModel

@Suite struct SemanticsTests {
    @Test func rolloutUndoTemplateEqualsStoredTemplate() throws {
        var stored = try JSONValue.parse(#"{"metadata":{"labels":{"app":"web","pod-template-hash":"abc"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.20"}]}}"#)
        stored.update(["spec"]) { Defaulting.podSpec(&$0) }
        let sent = try JSONValue.parse(#"{"metadata":{"creationTimestamp":null,"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.20","resources":{}}]}}"#)
        #expect(PodTemplates.semanticallyEqual(stored, sent))
        #expect(PodTemplates.hash(stored) == PodTemplates.hash(sent))
        let changed = sent.setting(["spec", "containers"], [["name": "nginx", "image": "nginx:1.21"]])
        #expect(!PodTemplates.semanticallyEqual(stored, changed))
        #expect(PodTemplates.hash(stored) != PodTemplates.hash(changed))
        #expect(PodTemplates.hash(stored) != PodTemplates.hash(stored, collisionCount: 1))
        let h = PodTemplates.hash(sent)
        #expect(!h.isEmpty && NameValidation.dns1123Label(h).isEmpty)
    }

    @Test func podRequestsAndHostPorts() throws {
        let pod: Pod = try JSONValue.parse(#"{"spec":{"initContainers":[{"name":"i","resources":{"requests":{"cpu":"2"}}}],"containers":[{"name":"a","resources":{"requests":{"cpu":"500m","memory":"64Mi"}},"ports":[{"containerPort":80,"hostPort":8080}]},{"name":"b","resources":{"requests":{"cpu":"250m","memory":"64Mi"}}}]}}"#).decode()
        let spec = try #require(pod.spec)
        let r = PodResources.requests(spec)
        #expect(r["cpu"]?.description == "2")
        #expect(r["memory"]?.description == "128Mi")
        #expect(PodResources.hostPorts(spec).map(\.port) == [8080])
    }

    @Test func conditionHelpers() throws {
        let pod: Pod = try JSONValue.parse(#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#).decode()
        #expect(pod.isReady)
        #expect(!pod.isTerminal)
    }
}

/// Seeded random inputs: parsers and patch engines must return or throw, never crash.
@Suite struct RobustnessTests {
    /// `MODEL_FUZZ_ITERATIONS=200000 swift test` for a long run; a short sample by default.
    static let scale = Int(ProcessInfo.processInfo.environment["MODEL_FUZZ_ITERATIONS"] ?? "") ?? 1


    static let alphabet = Array("ab=!,() in notin.-_/~0123456789\"{}[]:$%eEiKMGm ")

    func randomString(_ rng: inout SeededRandom, _ max: Int) -> String {
        let n = Int(rng.next() % UInt64(max))
        return String((0..<n).map { _ in Self.alphabet[Int(rng.next() % UInt64(Self.alphabet.count))] })
    }

    @Test func randomSelectorsQuantitiesAndPointers() {
        var rng = SeededRandom(seed: 2024)
        for _ in 0..<(2000 * Self.scale) {
            let s = randomString(&rng, 24)
            _ = try? LabelSelectorMatcher(parsing: s)
            _ = try? FieldSelector(parsing: s)
            _ = try? Quantity.parse(s)
            _ = try? JSONPatch.parsePointer("/" + s)
            _ = Timestamp.parse(s)
            _ = try? JSONValue.parse(s)
        }
    }

    @Test func randomPatchesOnRealObjects() {
        var rng = SeededRandom(seed: 99)
        let target = Manifests.json(Manifests.pod)
        let pieces: [JSONValue] = [.null, 1, "x", [], [:], ["name": "db"], ["$patch": "delete", "name": "db"], ["$patch": "replace"],
                                   ["containerPort": 5432], ["$retainKeys": ["name"]], [["name": "db", "image": "y"]], ["op": "add", "path": "/spec/x", "value": 1]]
        func randomValue(_ depth: Int) -> JSONValue {
            if depth > 3 || rng.next() % 3 == 0 { return pieces[Int(rng.next() % UInt64(pieces.count))] }
            let keys = ["spec", "containers", "env", "ports", "metadata", "labels", "volumes", "$setElementOrder/containers", "image"]
            var o = JSONObject()
            for _ in 0..<(1 + Int(rng.next() % 3)) { o[keys[Int(rng.next() % UInt64(keys.count))]] = randomValue(depth + 1) }
            return rng.next() % 4 == 0 ? .array([.object(o)]) : .object(o)
        }
        var applied = 0
        for _ in 0..<(500 * Self.scale) {
            let patch = randomValue(0)
            if let out = try? StrategicMergePatch.apply(patch, to: target, kind: "Pod") {
                applied += 1
                // Whatever comes out is still valid JSON that round-trips.
                #expect((try? JSONValue.parse(out.serialized())) == out)
            }
            _ = MergePatch.apply(patch, to: target)
            _ = try? JSONPatch.apply(.array([patch]), to: target)
        }
        #expect(applied > 0)
    }
}

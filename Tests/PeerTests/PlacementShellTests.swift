import Consensus
import Gossip
@testable import PeerDaemon
import Placement
import ResourceModel
import Testing

/// The pieces between the store, gossip and Placement's pure cores, without processes.
@Suite("placement shell")
struct PlacementShellTests {
    @Test("a gossip member becomes a node: name, labels, capacity, and allocatable minus the reservation")
    func nodeFromMember() throws {
        let member = MemberState(address: "127.0.0.5:7946", incarnation: 1, status: .alive, metadata: MemberMetadata(version: 1, entries: [
            "name": "edge-1", "api": "127.0.0.5:6443", "cpu": "4", "memory": String(8 << 30), "pods": "200", "label.zone": "north",
        ]))
        let desired = try #require(NodeCapacity.desired(member))
        #expect(desired.name == "edge-1")
        #expect(desired.labels == ["kubernetes.io/hostname": "edge-1", "kubernetes.io/os": "linux", "zone": "north"])
        #expect(desired.capacity == ["cpu": "4", "memory": "\((8 << 30) / 1024)Ki", "pods": "200"])
        #expect(desired.allocatable == ["cpu": "3900m", "memory": "\(((8 << 30) - (256 << 20)) / 1024)Ki", "pods": "200"])
        #expect(desired.address == "127.0.0.5")

        // A user's label on the stored node survives; the member's win on conflict.
        var stored = NodeCapacity.newNode(desired, alive: true, now: 1_700_000_000)
        stored.set(.string("go"), at: ["metadata", "labels", "bench"])
        stored.set(.string("south"), at: ["metadata", "labels", "zone"])
        let updated = NodeCapacity.applying(desired, to: stored)
        #expect(updated["metadata"]?["labels"]?["bench"] == .string("go"))
        #expect(updated["metadata"]?["labels"]?["zone"] == .string("north"))
        let node = try updated.decode(Node.self)
        #expect(node.status?.conditions?.first(ofType: "Ready")?.status == "True")
        #expect(NodeCapacity.desired(MemberState(address: "x:1", incarnation: 1, status: .alive)) == nil, "a member without a name is no node")
    }

    @Test("the peer publishes its cpu count, memory and pod limit")
    func gossipEntries() {
        let entries = NodeCapacity.gossipEntries(maxPods: 150)
        #expect((Int(entries["cpu"] ?? "") ?? 0) >= 1)
        #expect((Int64(entries["memory"] ?? "") ?? 0) > 256 << 20)
        #expect(entries["pods"] == "150")
    }

    @Test("events: a repeat for the same object is dropped, and a burst is capped")
    func eventRateLimit() {
        var recorder = EventRecorder(reportingInstance: "peer-0")
        var counter = 0
        func uid() -> String { counter += 1; return "0000000\(counter)-aaaa-bbbb-cccc-dddddddddddd" }
        let ref = ObjectReference(apiVersion: "v1", kind: "Pod", namespace: "default", name: "web-1", uid: "u1")
        let record = EventRecord(involvedObject: ref, reason: "Scheduled", message: "Successfully assigned default/web-1 to n1", type: .normal)
        let first = recorder.objects(for: [record, record], now: 100, uid: uid)
        #expect(first.count == 1)
        #expect(first[0].object["source"]?["component"] == .string("default-scheduler"))
        #expect(first[0].object["involvedObject"]?["name"] == .string("web-1"))
        #expect(first[0].key.hasPrefix("/registry/core/events/default/web-1."))
        #expect(recorder.objects(for: [record], now: 101, uid: uid).isEmpty, "deduplicated")

        let burst = (0..<2000).map { i in
            EventRecord(involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: "default", name: "p\(i)", uid: "u\(i)"),
                        reason: "Scheduled", message: "Successfully assigned default/p\(i) to n1", type: .normal)
        }
        let written = recorder.objects(for: burst, now: 101, uid: uid)
        #expect(written.count == 500, "the burst allowance")
        #expect(recorder.dropped == 1500)
        #expect(recorder.objects(for: [burst[1999]], now: 103, uid: uid).count == 1, "tokens come back with time")
    }

    @Test("the mirror follows the store: list, then events; its own acknowledged writes are not decoded again")
    func mirrorFollowsStore() throws {
        var store = ClusterStore()
        let info = try #require(ResourceRegistry.lookup(kind: "Pod"))
        let codec = ObjectCodec(secrets: .plaintext)
        func podBytes(_ name: String, node: String? = nil) throws -> [UInt8] {
            var pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": .string(name), "namespace": "default", "uid": .string("u-\(name)")],
                                  "spec": ["containers": [["name": "c", "image": "busybox"]]]]
            if let node { pod.set(.string(node), at: ["spec", "nodeName"]) }
            return try codec.encode(pod, as: info)
        }
        let keyA = ObjectKeys.key(info, namespace: "default", name: "a")
        let keyB = ObjectKeys.key(info, namespace: "default", name: "b")
        _ = store.apply(.put(key: keyA, value: try podBytes("a")))
        _ = store.apply(.put(key: "/registry/core/configmaps/default/x", value: Array("{}".utf8)))
        var mirror = ObjectMirror(codec: codec)
        let loaded = mirror.load(try store.range(prefix: "/registry/core/pods/").items, revision: store.revision)
        #expect(loaded.count == 1)
        #expect(mirror.pods[keyA]?.name == "a")

        _ = store.apply(.put(key: keyB, value: try podBytes("b")))
        let result = store.apply(.put(key: keyA, value: try podBytes("a", node: "n1")))
        guard case .applied(let revision) = result else { Issue.record("write refused: \(result)"); return }
        // The leader recorded its binding of `a` when the store acknowledged it.
        var bound = try #require(mirror.entry("Pod", key: keyA)).json
        bound.set(.string("n1"), at: ["spec", "nodeName"])
        mirror.recordWrite(kind: "Pod", key: keyA, json: bound, modRevision: revision)
        let batch = try store.events(after: mirror.revision, matching: .prefix("/registry/"))
        let changes = mirror.apply(batch.events, through: batch.nextAfter)
        #expect(changes.map(\.key) == [keyB], "only b is news; a's echo is skipped")
        #expect(mirror.pods[keyA]?.view.spec?.nodeName == "n1")
        #expect(mirror.revision == store.revision)

        _ = store.apply(.delete(key: keyB))
        let deletion = try store.events(after: mirror.revision, matching: .prefix("/registry/"))
        let removed = mirror.apply(deletion.events, through: deletion.nextAfter)
        #expect(removed.count == 1 && removed[0].new == nil && removed[0].old != nil)
        #expect(mirror.pods[keyB] == nil)
    }
}

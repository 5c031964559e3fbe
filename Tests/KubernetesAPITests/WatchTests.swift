import Foundation
@testable import PeerDaemon
import ResourceModel
import Testing

@Suite("Watch streams")
struct WatchTests {
    static let pods = "/api/v1/namespaces/default/pods"

    @Test("from a resource version: events in order, selectors turn updates into ADDED/DELETED")
    func fromRevision() async throws {
        try await TestServer.with { s in
            let list = await s.call("GET", Self.pods)
            let rv = try #require(list.json["metadata"]?["resourceVersion"]?.stringValue)
            _ = try await s.create(Self.pods, podJSON("a", labels: #"{"app":"web"}"#))
            _ = try await s.create("/api/v1/namespaces/kube-system/pods", podJSON("elsewhere"))
            _ = await s.call("PATCH", Self.pods + "/a", #"{"metadata":{"labels":{"x":"1"}}}"#, contentType: "application/merge-patch+json")
            _ = await s.call("DELETE", Self.pods + "/a")
            let w = await s.call("GET", Self.pods + "?resourceVersion=\(rv)&watch=true&timeoutSeconds=1")
            #expect(w.status == 200 && w.headers["Content-Type"] == "application/json")
            let events = w.events
            #expect(events.compactMap { $0["type"]?.stringValue } == ["ADDED", "MODIFIED", "DELETED"])
            let rvs = events.compactMap { $0["object"]?["metadata"]?["resourceVersion"]?.stringValue.flatMap { UInt64($0) } }
            #expect(rvs == rvs.sorted() && rvs.count == 3 && rvs[0] > UInt64(rv)!)
            #expect(events.allSatisfy { $0["object"]?["metadata"]?["name"] == "a" })
            #expect(w.text.hasSuffix("\n") && !w.text.contains("\n\n"))

            _ = try await s.create(Self.pods, podJSON("b", labels: #"{"app":"web"}"#))
            let start = s.node.revision
            _ = await s.call("PATCH", Self.pods + "/b", #"{"metadata":{"labels":{"app":"db"}}}"#, contentType: "application/merge-patch+json")
            _ = await s.call("PATCH", Self.pods + "/b", #"{"metadata":{"labels":{"app":"web"}}}"#, contentType: "application/merge-patch+json")
            let sel = await s.call("GET", Self.pods + "?labelSelector=app%3Dweb&resourceVersion=\(start)&watch=1&timeoutSeconds=1")
            #expect(sel.events.compactMap { $0["type"]?.stringValue } == ["DELETED", "ADDED"])
        }
    }

    @Test("without a resource version: synthetic ADDED, then live changes until timeoutSeconds")
    func liveStream() async throws {
        try await TestServer.with { s in
            _ = try await s.create(Self.pods, podJSON("a"))
            async let stream = s.call("GET", Self.pods + "?watch=True&timeoutSeconds=2")
            try await Task.sleep(for: .milliseconds(300))
            _ = try await s.create(Self.pods, podJSON("b"))
            let events = await stream.events
            #expect(events.compactMap { $0["type"]?.stringValue } == ["ADDED", "ADDED"])
            #expect(events.compactMap { $0["object"]?["metadata"]?["name"]?.stringValue } == ["a", "b"])
        }
    }

    @Test("a compacted resource version gets one ERROR event with 410 Expired")
    func gone() async throws {
        try await TestServer.with(historyRevisions: 8) { s in
            for i in 0..<30 { _ = try await s.create("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"c\#(i)"}}"#) }
            let w = await s.call("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2&timeoutSeconds=1")
            #expect(w.status == 200 && w.events.count == 1)
            let error = try #require(w.events.first)
            #expect(error["type"] == "ERROR" && error["object"]?["kind"] == "Status" && error["object"]?["code"] == 410)
            #expect(error["object"]?["reason"] == "Expired" && error["object"]?["message"]?.stringValue?.hasPrefix("too old resource version: 2") == true)
            #expect(await s.call("GET", "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=abc").status == 400)
        }
    }

    @Test("Table watch: one row per event, column definitions only first")
    func tableWatch() async throws {
        try await TestServer.with { s in
            _ = try await s.create(Self.pods, podJSON("a"))
            _ = try await s.create(Self.pods, podJSON("b"))
            let w = await s.call("GET", Self.pods + "?watch=true&timeoutSeconds=1", accept: tableAccept)
            let events = w.events
            #expect(events.count == 2)
            #expect(events.allSatisfy { $0["object"]?["kind"] == "Table" && $0["object"]?["rows"]?.arrayValue?.count == 1 })
            #expect(events[0]["object"]?["columnDefinitions"]?.arrayValue?.isEmpty == false)
            #expect(events[1]["object"]?["columnDefinitions"] == [])
            #expect(events[1]["object"]?["rows"]?[0]?["cells"]?[0] == "b")
        }
    }

    @Test("deleting a gracefully terminating pod ends with DELETED (kubectl delete-wait)")
    func deleteWait() async throws {
        try await TestServer.with { s in
            _ = try await s.create(Self.pods, podJSON("p", extra: #","nodeName":"n1""#))
            _ = await s.call("DELETE", Self.pods + "/p")
            let listed = await s.call("GET", Self.pods + "?fieldSelector=metadata.name%3Dp")
            let rv = try #require(listed.json["metadata"]?["resourceVersion"]?.stringValue)
            #expect(listed.json["items"]?.arrayValue?.count == 1)
            async let watch = s.call("GET", Self.pods + "?fieldSelector=metadata.name%3Dp&resourceVersion=\(rv)&watch=true&timeoutSeconds=2")
            try await Task.sleep(for: .milliseconds(200))
            _ = await s.call("DELETE", Self.pods + "/p", #"{"gracePeriodSeconds":0}"#)
            #expect(await watch.events.compactMap { $0["type"]?.stringValue } == ["DELETED"])
        }
    }
}

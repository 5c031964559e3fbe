import Testing
@testable import ResourceModel

@Suite struct EventObjectTests {
    @Test("an Event from the one builder validates, and carries its reason, source and timestamps where kubectl reads them")
    func validEvent() throws {
        let info = try #require(ResourceRegistry.lookup(kind: "Event"))
        for metadata: JSONValue in [["name": "web-1.abc", "namespace": "default", "uid": "u-1"],
                                    ["generateName": "web-1.", "namespace": "default"]] {
            let event = EventObject.make(
                metadata: metadata, involvedObject: ["kind": "Pod", "apiVersion": "v1", "namespace": "default", "name": "web-1"],
                type: "Warning", reason: "ErrImageSignature", message: "image is not signed", component: "kubelet", host: "n1",
                timestamp: "2026-11-27T06:00:00Z")
            #expect(Validation.validate(event, as: info).map(\.description) == [])
            #expect(event["reason"] == "ErrImageSignature" && event["type"] == "Warning")
            #expect(event["source"]?["component"] == "kubelet" && event["source"]?["host"] == "n1")
            #expect(event["reportingComponent"] == "kubelet" && event["reportingInstance"] == "n1")
            #expect(event["firstTimestamp"] == "2026-11-27T06:00:00Z" && event["lastTimestamp"] == event["firstTimestamp"])
            #expect(event["count"] == 1 && event["involvedObject"]?["name"] == "web-1")
        }
        let unnamed = EventObject.make(metadata: ["namespace": "default"], involvedObject: ["kind": "Pod", "name": "x"], type: "Normal",
                                       reason: "Pulled", message: "m", component: "kubelet", host: "n1", timestamp: "2026-11-27T06:00:00Z")
        #expect(!Validation.validate(unnamed, as: info).isEmpty, "a name or generateName is required")
    }
}

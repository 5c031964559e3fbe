import ResourceModel

/// An Event the shell should record (it fills in name, timestamps, count and source).
public struct EventRecord: Sendable, Equatable {
    public enum Kind: String, Sendable { case normal = "Normal", warning = "Warning" }
    public var involvedObject: ObjectReference
    public var reason: String
    public var message: String
    public var type: Kind
    public init(involvedObject: ObjectReference, reason: String, message: String, type: Kind) {
        self.involvedObject = involvedObject; self.reason = reason; self.message = message; self.type = type
    }
}

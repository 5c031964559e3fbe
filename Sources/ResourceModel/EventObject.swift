/// A core/v1 Event as Kubernetes components write them: the scheduling leader's (scheduler and controllers) and
/// the node agent's (kubelet) are built here alike, so `kubectl describe` and `kubectl get events` read both the
/// same way.
public enum EventObject {
    /// `metadata` carries the identity the writer chooses: a `name` and `uid` when the leader writes the
    /// object into the store itself, a `generateName` when it goes through the API.
    public static func make(metadata: JSONValue, involvedObject: JSONValue, type: String, reason: String, message: String,
                            component: String, host: String, timestamp: String) -> JSONValue {
        let ts = JSONValue.string(timestamp)
        return .object(JSONObject([
            ("apiVersion", "v1"), ("kind", "Event"),
            ("metadata", metadata),
            ("involvedObject", involvedObject),
            ("reason", .string(reason)), ("message", .string(message)), ("type", .string(type)),
            ("source", ["component": .string(component), "host": .string(host)]),
            ("firstTimestamp", ts), ("lastTimestamp", ts), ("count", 1),
            ("reportingComponent", .string(component)), ("reportingInstance", .string(host)),
        ]))
    }
}

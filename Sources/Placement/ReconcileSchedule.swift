/// When a level-triggered controller pass must run again, so that a shell runs it on change instead of on a
/// fixed tick: at once when one of its inputs changed, soon after a pass that acted (its writes may not have
/// landed, and the next pass must see what did), else at the deadline the pass itself computed (a grace
/// period running out), else never. Times are the controllers' epoch seconds.
public struct ReconcileSchedule: Sendable, Equatable {
    /// How soon a pass that acted runs again, in seconds.
    public static let retrySeconds: Int64 = 1

    /// An input changed since the last pass (a new schedule starts out so: nothing has been seen yet).
    public private(set) var changed = true
    /// When the next pass is due without any change; nil: only a change makes one due.
    public private(set) var deadline: Int64?

    public init() {}

    /// Something the pass reads changed.
    public mutating func inputsChanged() { changed = true }

    public func isDue(now: Int64) -> Bool { changed || deadline.map { now >= $0 } ?? false }

    /// The earliest moment a pass is due; nil while nothing is pending.
    public var dueAt: Int64? { changed ? Int64.min : deadline }

    /// Records a pass at `now`: whether it produced actions, and the deadline it computed for itself.
    public mutating func ran(now: Int64, acted: Bool, next: Int64?) {
        changed = false
        let retry = acted ? now + Self.retrySeconds : nil
        deadline = [retry, next].compactMap { $0 }.min()
    }
}

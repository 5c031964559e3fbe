/// Lifeguard dynamic suspicion: the timeout starts at the maximum and shrinks as
/// distinct members independently confirm the suspicion.
struct Suspicion: Sendable, Hashable {
    let startedAt: SWIMTime
    let minimum: Duration
    let maximum: Duration
    /// Confirmations after which the timeout is the minimum.
    let needed: Int
    private(set) var confirmers: Set<String>
    private(set) var confirmations: Int = 0
    private(set) var deadline: SWIMTime

    init(startedAt: SWIMTime, from: String, needed: Int, minimum: Duration, maximum: Duration) {
        self.startedAt = startedAt
        self.minimum = minimum
        self.maximum = maximum
        self.needed = needed
        self.confirmers = [from]
        self.deadline = startedAt + SWIMConfiguration.suspicionTimeout(confirmations: 0, k: needed, minimum: minimum, maximum: maximum)
    }

    /// Records a confirmation; true if it was new (and so worth re-gossiping).
    mutating func confirm(from: String) -> Bool {
        guard confirmations < needed, !confirmers.contains(from) else { return false }
        confirmers.insert(from)
        confirmations += 1
        deadline = startedAt + SWIMConfiguration.suspicionTimeout(confirmations: confirmations, k: needed, minimum: minimum, maximum: maximum)
        return true
    }
}

import Foundation

/// Polls `/v1/members` on the watched peers and records every new dead verdict: an observer that saw a
/// subject alive or suspect during the watch and then dead (or left). A verdict left over from an earlier
/// fault is not new; `leftovers` lists those.
final class MembershipWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var verdicts: [String] = []
    private var leftovers: Set<String> = []
    private var seenLive: Set<String> = []
    private var polls = 0
    private var stopped = false
    private var task: Task<Void, Never>?

    /// Watches `observers`' views of `subjects` until `stop()`.
    init(_ cluster: Cluster, observers: [Int], subjects: [Int], every interval: Duration = .milliseconds(250)) {
        let names = Set(subjects.map { cluster.hosts[$0].name })
        task = Task {
            while !self.lock.withLock({ self.stopped }) {
                for i in observers {
                    guard let members = await cluster.members(i) else { continue }
                    self.lock.withLock {
                        self.polls += 1
                        for member in members where names.contains(member.name) {
                            let pair = "\(cluster.hosts[i].name) saw \(member.name)"
                            if member.state == "dead" || member.state == "left" {
                                if self.seenLive.contains(pair) {
                                    self.verdicts.append("\(pair) \(member.state) (incarnation \(member.incarnation))")
                                    self.seenLive.remove(pair)
                                } else {
                                    self.leftovers.insert(pair)
                                }
                            } else {
                                self.seenLive.insert(pair)
                            }
                        }
                    }
                }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Stops watching; answers (polls answered, new dead verdicts, dead verdicts already there).
    /// Not by cancelling the task: cancelling a task while its URLSession request completes deadlocks
    /// swift-corelibs-foundation (the cancel handler waits for the session's queue, which waits for the
    /// task's status lock to resume it); two soaks hung there. The loop sees the flag within one poll.
    func stop() async -> (polls: Int, deadVerdicts: [String], leftovers: [String]) {
        lock.withLock { stopped = true }
        await task?.value
        return lock.withLock { (polls, verdicts, leftovers.sorted()) }
    }
}

enum Probe {
    /// Time from `since` until a write through one of `hosts` is acknowledged (tries each in turn, quickly),
    /// or nil when none is within `timeout`.
    static func timeToWrite(through hosts: [Int], in cluster: Cluster, since: ContinuousClock.Instant,
                            timeout: Duration = .seconds(30)) async -> Duration? {
        var attempt = 0
        while ContinuousClock.now - since < timeout {
            let host = hosts[attempt % hosts.count]
            attempt += 1
            if case .answered(let answer) = await HTTPClient.request("PUT", cluster.url(host, "/v1/kv/probe"), body: "p\(attempt)", timeout: 1),
               answer.status == 200 {
                return ContinuousClock.now - since
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
    var formatted: String { String(format: "%.2f s", seconds) }
}

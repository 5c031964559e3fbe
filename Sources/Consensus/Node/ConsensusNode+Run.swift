import Logging
import NIOConcurrencyHelpers
import NIOPosix

extension ConsensusNode {
    /// Runs the node until the task is cancelled, then syncs the log and returns. Throws
    /// `ConsensusError.storage` when the log cannot be opened or written: a node that cannot persist
    /// must not keep voting. Call once per instance.
    public func run() async throws(ConsensusError) {
        let started = shared.withLockedValue { s -> Bool in
            guard s.phase == .idle else { return false }
            s.phase = .running
            return true
        }
        guard started else { throw .stopped }
        // The log's writes and fsyncs block, so the loop owns one thread of its own. Callers wake it through
        // a condition variable: one wake-up per turn, where a task hop plus a thread-pool hop per turn cost
        // several (they were most of the futex calls per put).
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        let failure: ConsensusError? = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ConsensusError?, Never>) in
                thread.submit { _ in continuation.resume(returning: self.loop()) }
            }
        } onCancel: {
            shared.withLockedValue { s in
                s.cancelRequested = true
                s.wakeLoop()
            }
        }
        try? await thread.shutdownGracefully()
        if let failure { throw failure }
    }

    /// The loop on its own thread: opens the log, then takes turns until cancelled or the log fails.
    func loop() -> ConsensusError? {
        let driver: ConsensusDriver
        do throws(ConsensusError) {
            driver = try ConsensusDriver(node: self)
            do throws(WALError) {
                try driver.start()
            } catch {
                throw .storage(error.description)
            }
        } catch {
            logger.critical("cannot start the Raft node", metadata: ["directory": "\(dataDirectory)/raft", "error": "\(error)"])
            stop()
            return error
        }
        let waiting = shared.withLockedValue { s in
            s.loaded = true
            defer { s.loadWaiters = [] }
            return s.loadWaiters
        }
        for w in waiting { w.resume(returning: .success(())) }

        var failure: ConsensusError?
        var nextTick = ContinuousClock.now + settings.tickInterval
        while failure == nil, let batch = nextBatch(nextTick: &nextTick, ticksUntilDue: driver.ticksUntilDue) {
            do throws(WALError) {
                try driver.turn(batch)
            } catch {
                failure = .storage(error.description)
            }
        }
        if failure == nil {
            do throws(WALError) {
                try driver.close()
            } catch {
                failure = .storage(error.description)
            }
        }
        if let failure { logger.critical("the Raft log failed; this node stopped", metadata: ["error": "\(failure)"]) }
        driver.failAll(failure ?? .stopped)
        stop()
        return failure
    }

    /// Everything queued since the last turn (ticks included), blocking while there is nothing; nil once
    /// cancelled. Ticks that can change nothing (`ticksUntilDue` of them, less one) are not woken for: they
    /// arrive with the next one that can, or earlier with a message.
    func nextBatch(nextTick: inout ContinuousClock.Instant, ticksUntilDue: Int) -> MailboxBatch? {
        let interval = settings.tickInterval
        while true {
            let now = ContinuousClock.now
            var due = 0
            if now >= nextTick {
                while nextTick <= now && due < 1_000 {
                    nextTick += interval
                    due += 1
                }
                // Asleep far longer than a tick (a stopped process): restart the beat from now.
                if nextTick <= now { nextTick = now + interval }
            }
            let taken: MailboxBatch?? = shared.withLockedValue { s in
                s.ticks += due
                if s.cancelRequested { return .some(nil) }
                guard s.hasWork else {
                    s.loopWaiting = true
                    return .none
                }
                defer {
                    s.inbound = []
                    s.proposals = []
                    s.reads = []
                    s.admin = []
                    s.ticks = 0
                }
                return .some(MailboxBatch(inbound: s.inbound, proposals: s.proposals, reads: s.reads, admin: s.admin, ticks: s.ticks))
            }
            if let taken { return taken }
            // An idle follower wakes for its leader's heartbeats only, a learner for every few of them, the
            // leader for its heartbeats: not ten times a second each (most of an idle peer's wake-ups).
            // Capped so the published status never lags for long.
            let wakeAt = nextTick + interval * (min(ticksUntilDue, 100) - 1)
            let seconds = max(0, Double((wakeAt - ContinuousClock.now) / .microseconds(1)) / 1_000_000)
            if doorbell.lock(whenValue: true, timeoutSeconds: seconds) {
                doorbell.unlock(withValue: false)
            }
            shared.withLockedValue { $0.loopWaiting = false }
        }
    }

    /// Refuses new work and fails every caller still waiting.
    func stop() {
        let (proposals, reads, revisions, admin, loads, roles, status) = shared.withLockedValue { s in
            s.phase = .stopped
            defer {
                s.roleWaiters = [:]
                s.loadWaiters = []
                s.proposalWaiters = [:]
                s.readWaiters = [:]
                s.revisionWaiters = [:]
                s.admin = []
                s.proposals = []
                s.reads = []
                s.inbound = []
            }
            return (Array(s.proposalWaiters.values), Array(s.readWaiters.values), Array(s.revisionWaiters.values), s.admin, s.loadWaiters,
                    Array(s.roleWaiters.values), s.status)
        }
        for w in roles { w.continuation.resume(returning: status) }
        for w in proposals { w.continuation.resume(returning: .failure(.stopped)) }
        for w in reads { w.continuation.resume(returning: .failure(.stopped)) }
        for w in revisions { w.continuation.resume(returning: .failure(.stopped)) }
        for w in loads { w.resume(returning: .failure(.stopped)) }
        for a in admin { a.waiter.continuation.resume(returning: .failure(.stopped)) }
    }
}

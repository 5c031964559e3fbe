import Logging
import NIOPosix

/// Carries the driver to the I/O thread and back, one turn at a time.
struct DriverHandle: @unchecked Sendable {  // justified: turns are awaited one after another, never overlapping
    let driver: ConsensusDriver
}

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
        // The log's writes and fsyncs block, so every turn runs on the blocking-I/O pool, never on the
        // cooperative pool; turns stay strictly sequential, so the driver is never touched concurrently.
        let pool = NIOThreadPool.singleton
        // Closures hand back a Result: typed throws through the pool's generic closure trip the compiler.
        let opened = try? await pool.runIfActive { () -> Result<DriverHandle, ConsensusError> in
            do throws(ConsensusError) {
                let d = try ConsensusDriver(node: self)
                do throws(WALError) {
                    try d.start()
                } catch {
                    return .failure(.storage(error.description))
                }
                return .success(DriverHandle(driver: d))
            } catch {
                return .failure(error)
            }
        }
        let driver: DriverHandle
        switch opened {
        case .success(let d):
            driver = d
        case .failure(let error):
            logger.critical("cannot start the Raft node", metadata: ["directory": "\(dataDirectory)/raft", "error": "\(error)"])
            stop()
            throw error
        case nil:
            stop()
            throw .stopped
        }
        let waiting = shared.withLockedValue { s in
            s.loaded = true
            defer { s.loadWaiters = [] }
            return s.loadWaiters
        }
        for w in waiting { w.resume(returning: .success(())) }

        let ticker = Task { [settings] in
            while !Task.isCancelled {
                try? await Task.sleep(for: settings.tickInterval)
                shared.withLockedValue { s in
                    s.ticks += 1
                    s.wakeLoop()
                }
            }
        }
        defer { ticker.cancel() }
        var failure: ConsensusError?
        while failure == nil, let batch = await nextBatch() {
            let turn = try? await pool.runIfActive { () -> Result<Void, WALError> in
                do throws(WALError) {
                    try driver.driver.turn(batch)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            switch turn {
            case .success: continue
            case .failure(let error): failure = .storage(error.description)
            case nil:
                // Cancelled while the turn was queued. Its proposals and reads are failed by `stop()`;
                // administrative requests live only in the batch.
                for a in batch.admin { a.waiter.continuation.resume(returning: .failure(.stopped)) }
            }
        }
        if failure == nil {
            // Once, at shutdown: blocking here is fine.
            do {
                try driver.driver.close()
            } catch {
                failure = .storage(error.description)
            }
        }
        if let failure { logger.critical("the Raft log failed; this node stopped", metadata: ["error": "\(failure)"]) }
        driver.driver.failAll(failure ?? .stopped)
        stop()
        if let failure { throw failure }
    }

    /// Everything queued since the last turn, waiting while there is nothing; nil once cancelled.
    func nextBatch() async -> MailboxBatch? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = shared.withLockedValue { s -> Bool in
                    if s.hasWork || s.cancelRequested { return true }
                    s.wakeup = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            shared.withLockedValue { s in
                s.cancelRequested = true
                s.wakeLoop()
            }
        }
        return shared.withLockedValue { s -> MailboxBatch? in
            if s.cancelRequested { return nil }
            defer {
                s.inbound = []
                s.proposals = []
                s.reads = []
                s.admin = []
                s.ticks = 0
            }
            return MailboxBatch(inbound: s.inbound, proposals: s.proposals, reads: s.reads, admin: s.admin, ticks: s.ticks)
        }
    }

    /// Refuses new work and fails every caller still waiting.
    func stop() {
        let (proposals, reads, revisions, admin, loads) = shared.withLockedValue { s in
            s.phase = .stopped
            defer {
                s.loadWaiters = []
                s.proposalWaiters = [:]
                s.readWaiters = [:]
                s.revisionWaiters = [:]
                s.admin = []
                s.proposals = []
                s.reads = []
                s.inbound = []
            }
            return (Array(s.proposalWaiters.values), Array(s.readWaiters.values), Array(s.revisionWaiters.values), s.admin, s.loadWaiters)
        }
        for w in proposals { w.continuation.resume(returning: .failure(.stopped)) }
        for w in reads { w.continuation.resume(returning: .failure(.stopped)) }
        for w in revisions { w.continuation.resume(returning: .failure(.stopped)) }
        for w in loads { w.resume(returning: .failure(.stopped)) }
        for a in admin { a.waiter.continuation.resume(returning: .failure(.stopped)) }
    }
}

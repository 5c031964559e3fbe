import Testing
import Simulation
@testable import Consensus

private func entries(_ range: ClosedRange<UInt64>, term: UInt64, tag: UInt8 = 0) -> [WALEntry] {
    range.map { WALEntry(index: $0, term: term, kind: 1, data: [tag, UInt8(truncatingIfNeeded: $0), 0xAB]) }
}

private func open(_ fs: any StorageFileSystem, limit: Int = 64 << 20) throws -> (log: WriteAheadLog, recovered: WALRecoveredState) {
    try WriteAheadLog.open(directory: "data", fileSystem: fs, options: WALOptions(segmentSizeLimit: limit))
}

@Suite struct WALBasicTests {
    @Test func roundTripOfEntriesAndHardState() throws {
        let fs = SimDiskFileSystem()
        let (log, fresh) = try open(fs)
        #expect(fresh.entries.isEmpty && fresh.hardState == nil && fresh.snapshot == nil)
        try log.save(entries: entries(1...5, term: 1), hardState: WALHardState(term: 1, vote: 2, commit: 3))
        try log.sync()
        #expect(fs.disk.list() == ["data/wal/0000000000000001-0000000000000001.wal"])

        fs.disk.crash()
        let (reopened, recovered) = try open(fs)
        #expect(recovered.entries == entries(1...5, term: 1))
        #expect(recovered.hardState == WALHardState(term: 1, vote: 2, commit: 3))
        #expect(recovered.truncatedTornBytes == 0)
        #expect(reopened.lastIndex == 5)
    }

    @Test func groupCommitIsOneFsyncAndNothingIsDurableBeforeIt() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        for i in 1...100 as ClosedRange<UInt64> {
            try log.append(entries(i...i, term: 1))
            try log.save(hardState: WALHardState(term: 1, vote: 0, commit: i - 1))
        }
        #expect(fs.disk.fsyncCount == 0)
        fs.disk.crash()
        #expect(try open(fs).recovered.entries.isEmpty)

        let (log2, _) = try open(fs)
        for i in 1...100 as ClosedRange<UInt64> { try log2.append(entries(i...i, term: 1)) }
        let before = fs.disk.fsyncCount
        try log2.sync()
        #expect(fs.disk.fsyncCount == before + 1)
        fs.disk.crash()
        #expect(try open(fs).recovered.entries.count == 100)
    }

    @Test func overwrittenSuffixIsNeverResurrected() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...10, term: 1))
        try log.sync()
        try log.append(entries(8...9, term: 2, tag: 7))
        try log.sync()
        fs.disk.crash()
        let recovered = try open(fs).recovered
        #expect(recovered.entries == entries(1...7, term: 1) + entries(8...9, term: 2, tag: 7))
    }

    @Test func aFailedSyncPoisonsTheLogUntilReopened() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...2, term: 1))
        try log.sync()
        try log.append(entries(3...3, term: 1))
        fs.disk.failing = true
        #expect(throws: WALError.self) { try log.sync() }
        fs.disk.failing = false
        // The durable state is unknown after a failed fsync: no retry on the same object.
        let again = #expect(throws: WALError.self) { try log.sync() }
        if case .failed? = again {} else { Issue.record("expected .failed, got \(String(describing: again))") }
        #expect(throws: WALError.self) { try log.append(entries(4...4, term: 1)) }
        let (reopened, recovered) = try open(fs)
        #expect(recovered.entries.map(\.index) == [1, 2])
        try reopened.append(entries(3...3, term: 2))
        try reopened.sync()
    }

    @Test func truncationRecordDeletesASuffixWithoutAppending() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...10, term: 1))
        try log.truncate(from: 6)
        #expect(log.lastIndex == 5)
        try log.sync()
        #expect(try open(fs).recovered.entries == entries(1...5, term: 1))
        try log.truncate(from: 1)
        try log.append(entries(1...2, term: 3))
        try log.sync()
        #expect(try open(fs).recovered.entries == entries(1...2, term: 3))
    }

    @Test func invalidAppendsAreRejected() throws {
        let (log, _) = try open(SimDiskFileSystem())
        try log.append(entries(1...3, term: 1))
        #expect(throws: WALError.self) { try log.append(entries(5...6, term: 1)) }
        #expect(throws: WALError.self) {
            try log.append([WALEntry(index: 4, term: 1, data: []), WALEntry(index: 6, term: 1, data: [])])
        }
    }

    @Test func segmentsRollOverAndSnapshotsReleaseThem() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs, limit: 4096)
        let hard = WALHardState(term: 3, vote: 1, commit: 150)
        try log.save(hardState: hard)
        for start in stride(from: 1 as UInt64, through: 291, by: 10) {
            try log.append((start...(start + 9)).map { WALEntry(index: $0, term: 3, data: Array(repeating: 1, count: 100)) })
        }
        try log.sync()
        #expect(log.segmentCount >= 7)
        let before = try open(fs, limit: 4096).recovered
        #expect(before.entries.map(\.index) == Array(1...300))
        #expect(before.hardState == hard)

        let snapshot = WALSnapshot(index: 200, term: 3, configuration: [1, 2, 3], data: Array(repeating: 9, count: 1000))
        try log.saveSnapshot(snapshot)
        #expect(log.segmentCount < 7)
        #expect(fs.disk.list().filter { $0.hasPrefix("data/snap/") } == ["data/snap/0000000000000003-00000000000000c8.snap"])
        fs.disk.crash()
        let (reopened, after) = try open(fs, limit: 4096)
        #expect(after.snapshot == snapshot)
        #expect(after.hardState == hard)
        #expect(after.entries.map(\.index) == Array(201...300))
        #expect(throws: WALError.self) { try reopened.append(entries(150...151, term: 4)) }

        // A later snapshot removes the earlier snapshot file.
        try reopened.append(entries(301...301, term: 4))
        try reopened.saveSnapshot(WALSnapshot(index: 301, term: 4, configuration: [], data: []))
        #expect(fs.disk.list().filter { $0.hasPrefix("data/snap/") } == ["data/snap/0000000000000004-000000000000012d.snap"])
        let last = try open(fs, limit: 4096).recovered
        #expect(last.entries.isEmpty)
        #expect(last.snapshot?.index == 301)
        #expect(last.hardState == hard)
    }

    @Test func snapshotFromLeaderCanDiscardTheLocalLog() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...10, term: 1))
        try log.sync()
        try log.saveSnapshot(WALSnapshot(index: 5, term: 2, configuration: [], data: [1]), discardingLaterEntries: true)
        #expect(log.lastIndex == 5)
        var recovered = try open(fs).recovered
        #expect(recovered.entries.isEmpty)
        try log.append(entries(6...7, term: 2))
        try log.sync()
        recovered = try open(fs).recovered
        #expect(recovered.entries == entries(6...7, term: 2))
        #expect(recovered.snapshot?.index == 5)
    }
}

@Suite struct WALDamageTests {
    private func segmentPath(_ fs: SimDiskFileSystem) -> String {
        fs.disk.list().first { $0.hasSuffix(".wal") } ?? ""
    }

    @Test func tornTailIsTruncatedAndTheLogStaysWritable() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...3, term: 1))
        try log.sync()
        let path = segmentPath(fs)
        let syncedSize = try fs.disk.size(path)
        try log.append(entries(4...4, term: 1))
        try log.sync()
        // Keep only part of the last record, as a torn write would.
        try fs.disk.truncate(path, to: syncedSize + 5)
        try fs.disk.fsync(path)

        let (reopened, recovered) = try open(fs)
        #expect(recovered.entries == entries(1...3, term: 1))
        #expect(recovered.truncatedTornBytes == 5)
        #expect(try fs.disk.size(path) == syncedSize)
        try reopened.append(entries(4...5, term: 2))
        try reopened.sync()
        #expect(try open(fs).recovered.entries == entries(1...3, term: 1) + entries(4...5, term: 2))
    }

    @Test func badChecksumOfTheLastRecordIsATornTail() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...3, term: 1))
        try log.sync()
        let path = segmentPath(fs)
        var bytes = try fs.disk.read(path)
        bytes[bytes.count - 1] ^= 0xFF
        try fs.disk.write(path, bytes)
        try fs.disk.fsync(path)
        let recovered = try open(fs).recovered
        #expect(recovered.entries == entries(1...2, term: 1))
        #expect(recovered.truncatedTornBytes > 0)
    }

    @Test func corruptionFollowedByValidRecordsRefusesToOpen() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...3, term: 1))
        try log.sync()
        let path = segmentPath(fs)
        let recordSize = WALRecord.headerSize + 17 + 3
        var bytes = try fs.disk.read(path)
        bytes[recordSize + 12] ^= 0x01  // inside the second record's payload
        try fs.disk.write(path, bytes)
        try fs.disk.fsync(path)
        let failure = corruption { _ = try open(fs) }
        #expect(failure?.file == path)
        #expect(failure?.offset == recordSize)
        #expect(failure?.reason.contains("checksum") == true)
        let text = WALError.corrupt(file: path, offset: recordSize, reason: failure?.reason ?? "").description
        #expect(text.contains(path) && text.contains("offset \(recordSize)"))
    }

    @Test func damagedLengthFieldMidFileIsNotMistakenForATornTail() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...5, term: 1))
        try log.sync()
        let path = segmentPath(fs)
        var bytes = try fs.disk.read(path)
        bytes[2] = 0x7F  // first record's length now reaches past the end of the file
        try fs.disk.write(path, bytes)
        try fs.disk.fsync(path)
        let failure = corruption { _ = try open(fs) }
        #expect(failure?.file == path)
        #expect(failure?.offset == 0)
        #expect(failure?.reason.contains("followed by intact records") == true)
    }

    @Test func damageInAnEarlierSegmentRefusesToOpen() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs, limit: 4096)
        for start in stride(from: 1 as UInt64, through: 91, by: 10) {
            try log.append((start...(start + 9)).map { WALEntry(index: $0, term: 1, data: Array(repeating: 2, count: 100)) })
        }
        try log.sync()
        let first = fs.disk.list().first { $0.hasSuffix(".wal") } ?? ""
        var bytes = try fs.disk.read(first)
        let cut = bytes.count - 3
        bytes.removeLast(3)  // a torn end is only acceptable in the last segment
        try fs.disk.write(first, bytes)
        try fs.disk.fsync(first)
        let failure = corruption { _ = try open(fs, limit: 4096) }
        #expect(failure?.file == first)
        #expect((failure?.offset ?? Int.max) < cut)
        #expect(failure?.reason.contains("not the last") == true)
    }

    @Test func corruptSnapshotFileRefusesToOpen() throws {
        let fs = SimDiskFileSystem()
        let (log, _) = try open(fs)
        try log.append(entries(1...3, term: 1))
        try log.saveSnapshot(WALSnapshot(index: 2, term: 1, configuration: [], data: [1, 2, 3, 4]))
        let path = fs.disk.list().first { $0.hasSuffix(".snap") } ?? ""
        var bytes = try fs.disk.read(path)
        bytes[20] ^= 0x10
        try fs.disk.write(path, bytes)
        try fs.disk.fsync(path)
        #expect(throws: WALError.self) { try open(fs) }
    }

    @Test func tornTailSearchIsBoundedAndErrsOnTheSafeSide() {
        let zeros = [UInt8](repeating: 0, count: 100)
        #expect(!WALSegmentParser.intactRecordExists(in: zeros, after: 0))
        // Out of budget: we cannot prove the tail is torn, so it counts as damage.
        #expect(WALSegmentParser.intactRecordExists(in: zeros, after: 0, budget: 10))
        var withRecord = zeros
        WALRecord.hardState(WALHardState(term: 1, vote: 2, commit: 3)).append(to: &withRecord)
        #expect(WALSegmentParser.intactRecordExists(in: withRecord, after: 0))
    }

    @Test func garbageSegmentsNeverCrashRecovery() throws {
        var rng = SeededRandom(seed: 99)
        for _ in 0..<300 {
            let fs = SimDiskFileSystem()
            try fs.disk.append("data/wal/0000000000000001-0000000000000001.wal", rng.bytes(count: rng.int(in: 0..<200)))
            try fs.disk.fsync("data/wal/0000000000000001-0000000000000001.wal")
            do {
                _ = try open(fs)
            } catch is WALError {
                // refusing is fine; trapping is not
            }
        }
    }
}

/// Crashes at random points (also in the middle of a sync or a snapshot), with torn writes.
/// After every crash the recovered log must equal the last synced state or a state reached by
/// a prefix of the records written after it: nothing synced is lost and nothing overwritten returns.
@Suite struct WALCrashTests {
    struct View: Equatable, CustomStringConvertible {
        var snapshot: WALSnapshot?
        var hardState: WALHardState?
        var entries: [WALEntry]

        var description: String {
            "snapshot \(snapshot.map { "\($0.index)/\($0.term)" } ?? "-") hard \(hardState.map { "\($0)" } ?? "-") entries \(entries.first?.index ?? 0)...\(entries.last?.index ?? 0) terms \(entries.map(\.term))"
        }
    }

    @Test func randomCrashesNeverLoseSyncedOrResurrectOverwrittenRecords() throws {
        var tornRecoveries = 0
        var midCallCrashes = 0
        try forEachSeed(defaultCount: 40) { seed in
            var rng = SeededRandom(seed: seed)
            let fs = SimDiskFileSystem(seed: seed &* 31 &+ 7)
            let limit = 2048
            var (log, recovered) = try open(fs, limit: limit)
            var current = View(snapshot: nil, hardState: nil, entries: [])
            var candidates = [current]
            var term: UInt64 = 1
            var crashes = 0
            var history: [String] = []

            func reopen() throws {
                fs.operationsUntilCrash = nil
                (log, recovered) = try open(fs, limit: limit)
                let seen = View(snapshot: recovered.snapshot, hardState: recovered.hardState, entries: recovered.entries)
                try simCheck(candidates.contains(seen), "recovered \(seen) is none of the \(candidates.count) allowed states; last synced \(candidates[0]); recent steps: \(history.suffix(12).joined(separator: "; "))")
                history.append("reopened to \(seen)")
                current = seen
                candidates = [seen]
                if recovered.truncatedTornBytes > 0 { tornRecoveries += 1 }
                crashes += 1
            }

            for _ in 0..<150 {
                if fs.operationsUntilCrash == nil, rng.chance(0.15) {
                    fs.operationsUntilCrash = rng.int(in: 0..<6)
                    fs.crashMode = rng.chance(0.5) ? .tornAnywhere : .tornLastWrite
                }
                do {
                    switch rng.int(in: 0..<10) {
                    case 0..<5:
                        let last = current.entries.last?.index ?? current.snapshot?.index ?? 0
                        let floor = (current.snapshot?.index ?? 0) + 1
                        let start = max(floor, last + 1 - min(last, UInt64(rng.int(in: 0...3))))
                        if rng.chance(0.3) { term += 1 }
                        let batch = (start...(start + UInt64(rng.int(in: 0...4)))).map {
                            WALEntry(index: $0, term: term, kind: 1, data: rng.bytes(count: rng.int(in: 0..<120)))
                        }
                        history.append("append \(batch.map(\.index)) term \(term)")
                        try log.append(batch)
                        for entry in batch {
                            current.entries.removeAll { $0.index >= entry.index }
                            current.entries.append(entry)
                            candidates.append(current)
                        }
                    case 5..<7:
                        let state = WALHardState(term: term, vote: UInt64(rng.int(in: 0...4)), commit: current.entries.last?.index ?? 0)
                        history.append("hard \(state)")
                        try log.save(hardState: state)
                        current.hardState = state
                        candidates.append(current)
                    case 7:
                        guard let last = current.entries.last?.index else { continue }
                        let from = UInt64(rng.int(in: Int(current.entries[0].index)...Int(last)))
                        history.append("truncate from \(from)")
                        try log.truncate(from: from)
                        current.entries.removeAll { $0.index >= from }
                        candidates.append(current)
                    case 8:
                        history.append("sync")
                        try log.sync()
                        candidates = [current]
                    default:
                        guard let last = current.entries.last?.index, last > (current.snapshot?.index ?? 0) else { continue }
                        try log.sync()
                        candidates = [current]
                        let index = UInt64(rng.int(in: Int(current.entries[0].index)...Int(last)))
                        let snapshotTerm = current.entries.first { $0.index == index }?.term ?? term
                        let discards = rng.chance(0.2)
                        let snapshot = WALSnapshot(index: index, term: snapshotTerm, configuration: [1], data: rng.bytes(count: 50))
                        // The snapshot file may land without its marker: entries after it are then kept.
                        var fileOnly = current
                        fileOnly.snapshot = snapshot
                        fileOnly.entries.removeAll { $0.index <= index }
                        candidates.append(fileOnly)
                        if discards {
                            var discarded = fileOnly
                            discarded.entries.removeAll()
                            candidates.append(discarded)
                        }
                        history.append("snapshot \(index) discards \(discards)")
                        try log.saveSnapshot(snapshot, discardingLaterEntries: discards)
                        current = fileOnly
                        if discards { current.entries.removeAll() }
                        candidates = [current]
                    }
                } catch is SimDiskFileSystem.SimulatedPowerLoss {
                    try reopen()
                } catch WALError.io {
                    history.append("power loss during a call")
                    midCallCrashes += 1
                    try reopen()
                }
                if rng.chance(0.05) {
                    // Power loss between calls: only what was synced may survive.
                    fs.operationsUntilCrash = nil
                    history.append("power loss between calls")
                    fs.disk.crash(.tornAnywhere, using: &fs.rng)
                    candidates = [candidates[0]]
                    try reopen()
                }
            }
            fs.disk.crash()
            candidates = [candidates[0]]
            try reopen()
            try simCheck(crashes > 1, "the run should have crashed a few times")
        }
        // The fault injection must really exercise torn tails and crashes inside sync/snapshot.
        #expect(tornRecoveries > 0)
        #expect(midCallCrashes > 0)
    }
}

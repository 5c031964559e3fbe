import Glibc
import Testing
@testable import Consensus

/// Throughput numbers for the store and the WAL; run with
/// `STORE_BENCH=1 swift test -c release --filter StorageBenchmarkTests`.
@Suite(.enabled(if: getenv("STORE_BENCH") != nil))
struct StorageBenchmarkTests {
    private func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    @Test func storeApplyAndRange() throws {
        var store = ClusterStore(historyRevisions: 10_000)
        let value = [UInt8](repeating: 7, count: 300)
        let n = 100_000
        var start = now()
        for i in 0..<n {
            _ = store.apply(encoded: StoreCommand.put(key: "/pods/ns\(i % 50)/pod-\(i)", value: value, expectedModRevision: 0).encoded())
        }
        let applySeconds = now() - start
        start = now()
        var listed = 0
        for i in 0..<1_000 {
            listed += try store.range(prefix: "/pods/ns\(i % 50)/", limit: 500).items.count
        }
        let rangeSeconds = now() - start
        start = now()
        let snapshot = store.snapshot()
        let restored = try ClusterStore(restoring: snapshot)
        let snapshotSeconds = now() - start
        print("store: \(Int(Double(n) / applySeconds)) creates/s with \(n) keys; 1000 lists of 500 keys in \(Int(rangeSeconds * 1000)) ms (\(listed) items); snapshot+restore of \(snapshot.count >> 20) MiB in \(Int(snapshotSeconds * 1000)) ms")
        #expect(restored.count == n)
    }

    @Test func walGroupCommitOnTmp() throws {
        let root = try makeTemporaryDirectory("wal-bench")
        let fs = POSIXFileSystem()
        defer { removeDataDirectory(fs, root) }
        let (log, _) = try WriteAheadLog.open(directory: root, fileSystem: fs, options: WALOptions(segmentSizeLimit: 8 << 20))
        let data = [UInt8](repeating: 1, count: 300)
        for batch in [1, 64] {
            let syncs = 2_000
            var index = log.lastIndex
            let start = now()
            for _ in 0..<syncs {
                try log.append((0..<batch).map { i in WALEntry(index: index + 1 + UInt64(i), term: 1, data: data) })
                index += UInt64(batch)
                try log.save(hardState: WALHardState(term: 1, vote: 1, commit: index))
                try log.sync()
            }
            let seconds = now() - start
            print("wal: batch \(batch): \(Int(Double(syncs) / seconds)) syncs/s, \(Int(Double(syncs * batch) / seconds)) entries/s, \(log.segmentCount) segments")
        }
        let reopenStart = now()
        let recovered = try WriteAheadLog.open(directory: root, fileSystem: fs).recovered
        print("wal: recovery of \(recovered.entries.count) entries in \(Int((now() - reopenStart) * 1000)) ms")
        #expect(recovered.entries.count == 2_000 * 65)
    }
}

import Simulation
import Testing
@testable import Consensus

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct StoreCASTests {
    @Test func putCreatesThenModifiesWithRevisionsAndVersions() {
        var store = ClusterStore()
        #expect(store.revision == 0)
        #expect(store.apply(.put(key: "/pods/a", value: bytes("v1"))) == .applied(revision: 1))
        #expect(store.apply(.put(key: "/pods/b", value: bytes("x"))) == .applied(revision: 2))
        #expect(store.apply(.put(key: "/pods/a", value: bytes("v2"))) == .applied(revision: 3))
        let a = store.get("/pods/a")
        #expect(a == StoreKeyValue(key: "/pods/a", value: bytes("v2"), createRevision: 1, modRevision: 3, version: 2))
        #expect(store.get("/pods/b")?.modRevision == 2)
        #expect(store.get("/pods/missing") == nil)
    }

    @Test func createOnlyGuardRejectsExistingKey() {
        var store = ClusterStore()
        #expect(store.apply(.put(key: "k", value: [1], expectedModRevision: 0)) == .applied(revision: 1))
        #expect(store.apply(.put(key: "k", value: [2], expectedModRevision: 0)) == .conflict(key: "k", currentModRevision: 1))
        #expect(store.revision == 1)
        #expect(store.get("k")?.value == [1])
    }

    @Test func modRevisionGuardMatchesOnlyCurrentRevision() {
        var store = ClusterStore()
        _ = store.apply(.put(key: "k", value: [1]))
        _ = store.apply(.put(key: "other", value: [1]))
        #expect(store.apply(.put(key: "k", value: [2], expectedModRevision: 2)) == .conflict(key: "k", currentModRevision: 1))
        #expect(store.apply(.put(key: "k", value: [2], expectedModRevision: 1)) == .applied(revision: 3))
        #expect(store.apply(.put(key: "absent", value: [2], expectedModRevision: 3)) == .conflict(key: "absent", currentModRevision: 0))
        #expect(store.apply(.delete(key: "k", expectedModRevision: 1)) == .conflict(key: "k", currentModRevision: 3))
        #expect(store.apply(.delete(key: "k", expectedModRevision: 3)) == .applied(revision: 4))
        #expect(store.get("k") == nil)
    }

    @Test func deleteOfMissingKeyIsNotFoundAndRecreateResetsVersion() {
        var store = ClusterStore()
        #expect(store.apply(.delete(key: "k")) == .notFound(key: "k"))
        #expect(store.revision == 0)
        _ = store.apply(.put(key: "k", value: [1]))
        _ = store.apply(.put(key: "k", value: [2]))
        _ = store.apply(.delete(key: "k"))
        _ = store.apply(.put(key: "k", value: [3]))
        #expect(store.get("k") == StoreKeyValue(key: "k", value: [3], createRevision: 4, modRevision: 4, version: 1))
    }

    @Test func batchAppliesAtOneRevisionAllOrNothing() {
        var store = ClusterStore()
        _ = store.apply(.put(key: "/pods/a", value: bytes("pending")))
        _ = store.apply(.put(key: "/pods/b", value: bytes("pending")))
        let failing = StoreCommand.batch([
            .put(key: "/pods/a", value: bytes("bound"), expectedModRevision: 1),
            .put(key: "/pods/b", value: bytes("bound"), expectedModRevision: 1),  // stale: b is at 2
        ])
        #expect(store.apply(failing) == .conflict(key: "/pods/b", currentModRevision: 2))
        #expect(store.get("/pods/a")?.value == bytes("pending"))
        #expect(store.revision == 2)

        let ok = StoreCommand.batch([
            .put(key: "/pods/a", value: bytes("bound"), expectedModRevision: 1),
            .put(key: "/pods/b", value: bytes("bound"), expectedModRevision: 2),
            .delete(key: "/pods/a-old", expectedModRevision: nil),
        ])
        #expect(store.apply(ok) == .notFound(key: "/pods/a-old"))
        let ok2 = StoreCommand.batch([
            .put(key: "/pods/a", value: bytes("bound"), expectedModRevision: 1),
            .put(key: "/pods/b", value: bytes("bound"), expectedModRevision: 2),
            .put(key: "/nodes/n1", value: bytes("x")),
        ])
        #expect(store.apply(ok2) == .applied(revision: 3))
        #expect(store.get("/pods/a")?.modRevision == 3)
        #expect(store.get("/pods/b")?.modRevision == 3)
        #expect(store.get("/nodes/n1")?.createRevision == 3)
    }

    @Test func invalidCommandsAreRejectedWithoutEffect() {
        var store = ClusterStore()
        #expect(store.apply(.batch([])) == .invalid(reason: "empty batch"))
        #expect(store.apply(.put(key: "", value: [])) == .invalid(reason: "empty key"))
        if case .invalid = store.apply(.batch([.put(key: "a", value: []), .delete(key: "a")])) {} else {
            Issue.record("duplicate key in a batch must be invalid")
        }
        if case .invalid = store.apply(encoded: [9, 9, 9]) {} else {
            Issue.record("garbage bytes must be invalid")
        }
        #expect(store.revision == 0)
        #expect(store.count == 0)
    }
}

@Suite struct StoreCodecTests {
    @Test func commandsRoundTrip() throws {
        let commands: [StoreCommand] = [
            .put(key: "/a", value: [], expectedModRevision: nil),
            .put(key: "/ünïcode/ключ", value: [0, 255, 7], expectedModRevision: 0),
            .delete(key: "/b", expectedModRevision: UInt64.max),
            .delete(key: "/b", expectedModRevision: nil),
            .batch([.put(key: "/x", value: [1], expectedModRevision: 5), .delete(key: "/y", expectedModRevision: nil)]),
            .batch([]),
        ]
        for command in commands {
            let decoded = try StoreCommand(decoding: command.encoded())
            #expect(decoded == command)
        }
    }

    @Test func everyTruncationOfAnEncodingThrows() {
        let command = StoreCommand.batch([
            .put(key: "/pods/default/web", value: Array(repeating: 7, count: 20), expectedModRevision: 9),
            .delete(key: "/pods/default/old", expectedModRevision: nil),
        ])
        let encoded = command.encoded()
        for length in 0..<encoded.count {
            #expect(throws: StoreCodecError.self) { try StoreCommand(decoding: Array(encoded[0..<length])) }
        }
        #expect(throws: StoreCodecError.trailingBytes(count: 1)) { try StoreCommand(decoding: encoded + [0]) }
        var wrongVersion = encoded
        wrongVersion[0] = 2
        #expect(throws: StoreCodecError.unsupportedVersion(2)) { try StoreCommand(decoding: wrongVersion) }
    }

    @Test func randomBytesNeverCrashTheDecoders() {
        var rng = SeededRandom(seed: 42)
        var decodedCount = 0
        for _ in 0..<20_000 {
            let length = Int.random(in: 0..<48, using: &rng)
            var input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the time start with a valid version so decoding gets past the first byte.
            if !input.isEmpty, Bool.random(using: &rng) { input[0] = 1 }
            if (try? StoreCommand(decoding: input)) != nil { decodedCount += 1 }
            _ = try? ClusterStore(restoring: input)
            var store = ClusterStore()
            _ = store.apply(encoded: input)
        }
        // Random input almost never forms a valid command; the point is that nothing trapped.
        #expect(decodedCount < 20_000)
    }
}

@Suite struct StoreRangeTests {
    private func populated() -> ClusterStore {
        var store = ClusterStore()
        for name in ["c", "a", "e", "b", "d"] {
            _ = store.apply(.put(key: "/pods/default/\(name)", value: bytes(name)))
        }
        _ = store.apply(.put(key: "/pods/kube-system/dns", value: []))
        _ = store.apply(.put(key: "/pods0", value: []))
        _ = store.apply(.put(key: "/nodes/n1", value: []))
        return store
    }

    @Test func prefixRangeIsSortedAndBounded() throws {
        let store = populated()
        let result = try store.range(prefix: "/pods/default/")
        #expect(result.items.map(\.key) == ["a", "b", "c", "d", "e"].map { "/pods/default/\($0)" })
        #expect(result.revision == store.revision)
        #expect(result.continueToken == nil)
        #expect(try store.range(prefix: "/pods/").items.count == 6)
        #expect(try store.range(prefix: "/").items.count == 8)
        #expect(try store.range(prefix: "/zzz").items.isEmpty)
        #expect(store.count(prefix: "/pods/") == 6)
    }

    @Test func paginationVisitsEveryKeyOnceEvenWithWritesBetweenPages() throws {
        var store = populated()
        var seen: [String] = []
        var token: String? = nil
        var pages = 0
        repeat {
            let page = try store.range(prefix: "/pods/default/", limit: 2, continueToken: token)
            #expect(page.items.count <= 2)
            seen += page.items.map(\.key)
            token = page.continueToken
            pages += 1
            if pages == 1 {
                // A key deleted behind the cursor and one added ahead of it.
                _ = store.apply(.delete(key: "/pods/default/a"))
                _ = store.apply(.put(key: "/pods/default/f", value: []))
            }
        } while token != nil
        #expect(seen == ["a", "b", "c", "d", "e", "f"].map { "/pods/default/\($0)" })
        #expect(pages == 3)
    }

    @Test func badContinueTokensAreRejected() {
        let store = populated()
        #expect(throws: StoreReadError.invalidContinueToken) { try store.range(prefix: "/pods/", continueToken: "zz") }
        #expect(throws: StoreReadError.invalidContinueToken) { try store.range(prefix: "/pods/", continueToken: "abc") }
        // A token from another prefix cannot be replayed to escape the prefix.
        let other = ClusterStore.encodeContinueToken(bytes("/nodes/n1"))
        #expect(throws: StoreReadError.invalidContinueToken) { try store.range(prefix: "/pods/", continueToken: other) }
    }
}

@Suite struct StoreWatchTests {
    @Test func eventsArriveInRevisionOrderWithTypesAndPrevValues() throws {
        var store = ClusterStore()
        _ = store.apply(.put(key: "/pods/a", value: [1]))  // 1 added
        _ = store.apply(.put(key: "/nodes/n", value: [9]))  // 2 other prefix
        _ = store.apply(.put(key: "/pods/a", value: [2]))  // 3 modified
        _ = store.apply(.batch([.put(key: "/pods/b", value: [3]), .delete(key: "/pods/a")]))  // 4 added + deleted
        let batch = try store.events(after: 0, matching: .prefix("/pods/"))
        #expect(batch.events.map(\.type) == [.added, .modified, .added, .deleted])
        #expect(batch.events.map(\.revision) == [1, 3, 4, 4])
        #expect(batch.events[1].prevValue == [1])
        #expect(batch.events[3].kv.key == "/pods/a")
        #expect(batch.events[3].prevValue == [2])
        #expect(batch.events[3].kv.value.isEmpty)
        #expect(batch.nextAfter == 4)

        let single = try store.events(after: 1, matching: .key("/pods/a"))
        #expect(single.events.map(\.revision) == [3, 4])
        #expect(try store.events(after: 4, matching: .prefix("/")).events.isEmpty)
    }

    @Test func limitNeverSplitsARevisionAndCursorResumes() throws {
        var store = ClusterStore()
        _ = store.apply(.batch([.put(key: "/a", value: []), .put(key: "/b", value: []), .put(key: "/c", value: [])]))
        _ = store.apply(.put(key: "/d", value: []))
        let first = try store.events(after: 0, matching: .prefix("/"), limit: 1)
        #expect(first.events.map(\.kv.key) == ["/a", "/b", "/c"])
        #expect(first.nextAfter == 1)
        let second = try store.events(after: first.nextAfter, matching: .prefix("/"), limit: 1)
        #expect(second.events.map(\.kv.key) == ["/d"])
        #expect(second.nextAfter == 2)
    }

    @Test func cursorAdvancesPastNonMatchingRevisions() throws {
        var store = ClusterStore()
        for i in 0..<5 { _ = store.apply(.put(key: "/other/\(i)", value: [])) }
        let batch = try store.events(after: 0, matching: .prefix("/pods/"))
        #expect(batch.events.isEmpty)
        #expect(batch.nextAfter == 5)
    }

    @Test func historyBeyondTheWindowAnswersCompacted() throws {
        var store = ClusterStore(historyRevisions: 3)
        for i in 1...10 { _ = store.apply(.put(key: "/k", value: [UInt8(i)])) }
        #expect(store.oldestWatchableRevision == 7)
        #expect(throws: StoreReadError.compacted(requested: 6, oldestAvailable: 7)) {
            try store.events(after: 6, matching: .key("/k"))
        }
        let kept = try store.events(after: 7, matching: .key("/k"))
        #expect(kept.events.map(\.revision) == [8, 9, 10])
        let error = StoreReadError.compacted(requested: 6, oldestAvailable: 7)
        #expect(error.description.contains("oldest available revision is 7"))
    }

    @Test func longRunsTrimTheRingWithoutLosingTheWindow() throws {
        var store = ClusterStore(historyRevisions: 100)
        for i in 1...5_000 { _ = store.apply(.put(key: "/k\(i % 7)", value: [])) }
        let batch = try store.events(after: 4_900, matching: .prefix("/"))
        #expect(batch.events.map(\.revision) == Array(4_901...5_000))
    }
}

@Suite struct StoreSnapshotTests {
    @Test func snapshotRoundTripPreservesKeysAndRevisions() throws {
        var store = ClusterStore()
        _ = store.apply(.put(key: "/b", value: [2]))
        _ = store.apply(.put(key: "/a", value: [1]))
        _ = store.apply(.put(key: "/b", value: [3]))
        _ = store.apply(.put(key: "/c", value: []))
        _ = store.apply(.delete(key: "/c"))
        let restored = try ClusterStore(restoring: store.snapshot())
        #expect(restored.revision == 5)
        #expect(try restored.range(prefix: "/").items == store.range(prefix: "/").items)
        #expect(restored.get("/b") == StoreKeyValue(key: "/b", value: [3], createRevision: 1, modRevision: 3, version: 2))
        #expect(restored.snapshot() == store.snapshot())
    }

    @Test func restoreRestartsWatchHistoryAtTheSnapshotRevision() throws {
        var store = ClusterStore()
        for i in 1...4 { _ = store.apply(.put(key: "/k", value: [UInt8(i)])) }
        var restored = try ClusterStore(restoring: store.snapshot())
        #expect(throws: StoreReadError.compacted(requested: 2, oldestAvailable: 4)) {
            try restored.events(after: 2, matching: .prefix("/"))
        }
        #expect(restored.apply(.put(key: "/k", value: [5], expectedModRevision: 4)) == .applied(revision: 5))
        #expect(try restored.events(after: 4, matching: .prefix("/")).events.map(\.type) == [.modified])
    }

    @Test func snapshotsWithImpossibleRevisionsAreRejected() throws {
        var w = StoreBytesWriter()
        w.writeUInt8(1)
        w.writeUInt64(5)  // store revision
        w.writeUInt64(1)
        w.writeBlob(Array("/a".utf8))
        w.writeBlob([])
        w.writeUInt64(2)  // create
        w.writeUInt64(9)  // mod beyond the store revision
        w.writeUInt64(1)
        #expect(throws: StoreCodecError.inconsistent("impossible revisions for /a")) { try ClusterStore(restoring: w.bytes) }
    }

    @Test func truncatedSnapshotsThrow() throws {
        var store = ClusterStore()
        _ = store.apply(.put(key: "/a", value: [1, 2, 3]))
        _ = store.apply(.put(key: "/b", value: []))
        let snapshot = store.snapshot()
        for length in 0..<snapshot.count {
            #expect(throws: StoreCodecError.self) { try ClusterStore(restoring: Array(snapshot[0..<length])) }
        }
    }
}

/// The store against a plain dictionary model, with random commands (seeded).
@Suite struct StoreModelTests {
    struct ModelEntry: Equatable { var value: [UInt8]; var create: UInt64; var mod: UInt64; var version: UInt64 }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func matchesReferenceModel(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed)
        var store = ClusterStore(historyRevisions: 50)
        var model: [String: ModelEntry] = [:]
        var revision: UInt64 = 0
        var modelEvents: [(revision: UInt64, key: String, type: StoreEventType)] = []
        let keys = (0..<12).map { "/r/\($0 % 3)/k\($0)" }

        func guardFor(_ key: String) -> UInt64? {
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: return nil
            case 1: return model[key]?.mod ?? 0  // correct guard
            case 2: return 0
            default: return UInt64.random(in: 0...revision + 1, using: &rng)
            }
        }

        for _ in 0..<600 {
            var ops: [StoreOperation] = []
            let n = Int.random(in: 1...3, using: &rng)
            for key in keys.shuffled(using: &rng).prefix(n) {
                if Bool.random(using: &rng) {
                    ops.append(.put(key: key, value: [UInt8.random(in: 0...255, using: &rng)], expectedModRevision: guardFor(key)))
                } else {
                    ops.append(.delete(key: key, expectedModRevision: guardFor(key)))
                }
            }
            let command: StoreCommand = ops.count == 1 ? (ops[0].isPut ? ops[0].asPutCommand : ops[0].asDeleteCommand) : .batch(ops)

            // Reference semantics.
            var expected: StoreApplyResult? = nil
            for op in ops {
                let current = model[op.key]
                if let guardRevision = op.expectedModRevision, (current?.mod ?? 0) != guardRevision {
                    expected = .conflict(key: op.key, currentModRevision: current?.mod ?? 0)
                    break
                }
                if case .delete = op, current == nil { expected = .notFound(key: op.key); break }
            }
            if expected == nil {
                revision += 1
                for op in ops {
                    switch op {
                    case .put(let key, let value, _):
                        if var e = model[key] {
                            e.value = value; e.mod = revision; e.version += 1
                            model[key] = e
                            modelEvents.append((revision, key, .modified))
                        } else {
                            model[key] = ModelEntry(value: value, create: revision, mod: revision, version: 1)
                            modelEvents.append((revision, key, .added))
                        }
                    case .delete(let key, _):
                        model[key] = nil
                        modelEvents.append((revision, key, .deleted))
                    }
                }
                expected = .applied(revision: revision)
            }
            // Replicas apply the encoded form.
            #expect(store.apply(encoded: command.encoded()) == expected)
        }

        #expect(store.revision == revision)
        let all = try store.range(prefix: "/").items
        #expect(all.map(\.key) == model.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        for kv in all {
            #expect(model[kv.key] == ModelEntry(value: kv.value, create: kv.createRevision, mod: kv.modRevision, version: kv.version))
        }
        let from = store.oldestWatchableRevision
        let watched = try store.events(after: from, matching: .prefix("/r/1/"))
        let expectedEvents = modelEvents.filter { $0.revision > from && $0.key.hasPrefix("/r/1/") }
        #expect(watched.events.map(\.revision) == expectedEvents.map(\.revision))
        #expect(watched.events.map(\.kv.key) == expectedEvents.map(\.key))
        #expect(watched.events.map(\.type) == expectedEvents.map(\.type))

        let restored = try ClusterStore(restoring: store.snapshot())
        #expect(try restored.range(prefix: "/").items == all)
    }
}

extension StoreOperation {
    var isPut: Bool { if case .put = self { true } else { false } }
    var asPutCommand: StoreCommand {
        guard case .put(let k, let v, let e) = self else { return .batch([self]) }
        return .put(key: k, value: v, expectedModRevision: e)
    }
    var asDeleteCommand: StoreCommand {
        guard case .delete(let k, let e) = self else { return .batch([self]) }
        return .delete(key: k, expectedModRevision: e)
    }
}

@Suite struct StoreIndexTests {
    @Test func chunkedIndexMatchesASortedArrayThroughSplitsAndMerges() {
        var rng = SeededRandom(seed: 7)
        var index = SortedKeyIndex()
        var model: [[UInt8]] = []
        var present = Set<[UInt8]>()
        func modelPosition(_ key: [UInt8]) -> Int {
            var low = 0
            var high = model.count
            while low < high {
                let mid = (low + high) / 2
                if model[mid].lexicographicallyPrecedes(key) { low = mid + 1 } else { high = mid }
            }
            return low
        }
        for step in 0..<6_000 {
            let key = Array("/k/\(Int.random(in: 0..<3_000, using: &rng))".utf8)
            let isPresent = present.contains(key)
            // Mostly inserts first, then mostly removals, to cross both split and merge paths.
            let insert = step < 4_000 ? Int.random(in: 0..<10, using: &rng) < 8 : Int.random(in: 0..<10, using: &rng) < 2
            if insert, !isPresent {
                index.insert(key)
                model.insert(key, at: modelPosition(key))
                present.insert(key)
            } else if !insert, isPresent {
                index.remove(key)
                model.remove(at: modelPosition(key))
                present.remove(key)
            }
        }
        var walked: [[UInt8]] = []
        var position = index.startPosition
        while let key = index.key(at: position) {
            walked.append(key)
            position = index.position(after: position)
        }
        #expect(walked == model)
        #expect(index.count == model.count)
        #expect(model.count > SortedKeyIndex.chunkCapacity)
        let probe = Array("/k/15".utf8)
        let expectedFirst = model.first { !$0.lexicographicallyPrecedes(probe) }
        #expect(index.key(at: index.lowerBound(probe)) == expectedFirst)
        let rebuilt = SortedKeyIndex(sortedKeys: model)
        #expect(rebuilt.count == model.count)
        #expect(rebuilt.key(at: rebuilt.lowerBound(probe)) == expectedFirst)

        // Draining most keys in random order must merge chunks back together.
        let chunksBefore = index.chunkCount
        for key in model.shuffled(using: &rng).dropFirst(10) { index.remove(key) }
        #expect(index.count == 10)
        #expect(index.chunkCount < chunksBefore)
        #expect(index.chunkCount <= 2)
    }

    @Test func watchCursorFollowsAPrefixAcrossPulls() throws {
        var store = ClusterStore()
        var cursor = StoreWatchCursor(filter: .prefix("/pods/"), after: store.revision)
        _ = store.apply(.put(key: "/pods/a", value: [1]))
        _ = store.apply(.put(key: "/nodes/x", value: [1]))
        #expect(try cursor.pull(from: store).map(\.kv.key) == ["/pods/a"])
        #expect(cursor.after == 2)
        #expect(try cursor.pull(from: store).isEmpty)
        _ = store.apply(.delete(key: "/pods/a"))
        #expect(try cursor.pull(from: store).map(\.type) == [.deleted])
    }
}

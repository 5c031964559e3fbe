import Foundation
import Simulation

/// Concurrent clients doing put, get and compare-and-swap on a few keys through different peers, recording
/// every call in the linearizability checker's history format (`KVModel`). Values are unique, so a CAS on
/// the revision that was read is a CAS on the value that was read.
///
/// Keys rotate in generations (`nextGeneration()`): a long soak keeps every key's history short enough
/// for the checker while the whole run is still checked.
final class KVWorkload: @unchecked Sendable {
    struct Counts: Sendable, CustomStringConvertible {
        var ok = 0
        /// Answered with an error that says the operation did nothing (503 no leader, refused, 409 on a put).
        var failed = 0
        /// No answer, or an answer that does not say whether a write happened: recorded as unknown.
        var indeterminate = 0
        var description: String { "\(ok) ok, \(failed) failed, \(indeterminate) indeterminate" }
    }

    struct Report: Sendable {
        var operations: Int
        var counts: Counts
        var acknowledgedWrites: Int
        var lostWrites: [String]
        var verdict: String
        var linearizable: Bool
    }

    let cluster: Cluster
    let workers: Int
    let keysPerGeneration: Int
    private let lock = NSLock()
    private var recorder = HistoryRecorder<KVInput, KVOutput>()
    private var counts = Counts()
    private var generation = 0
    private var stopped = false
    private var tasks: [Task<Void, Never>] = []
    private let origin = ContinuousClock.now
    /// Hosts the workers send to; tests narrow it (e.g. to the majority) and widen it again.
    private var targets: [Int]

    init(cluster: Cluster, workers: Int = 4, keysPerGeneration: Int = 4) {
        self.cluster = cluster
        self.workers = workers
        self.keysPerGeneration = keysPerGeneration
        self.targets = Array(0..<cluster.count)
    }

    func now() -> UInt64 {
        let elapsed = (ContinuousClock.now - origin).components
        return UInt64(elapsed.seconds) * 1_000_000_000 + UInt64(elapsed.attoseconds / 1_000_000_000)
    }

    var currentCounts: Counts { lock.withLock { counts } }

    func nextGeneration() { lock.withLock { generation += 1 } }

    private func keys() -> [String] {
        let generation = lock.withLock { self.generation }
        return (0..<keysPerGeneration).map { "g\(generation)-k\($0)" }
    }

    /// Every key any worker may have touched.
    var allKeys: [String] {
        let last = lock.withLock { generation }
        return (0...last).flatMap { g in (0..<keysPerGeneration).map { "g\(g)-k\($0)" } }
        // Every key starts with "g": the final read lists them all with one `GET /v1/kv/g?recurse`.
    }

    func setTargets(_ hosts: [Int]) { lock.withLock { targets = hosts } }

    func start(seed: UInt64) {
        for worker in 0..<workers {
            let task = Task { await self.run(worker: worker, seed: seed &+ UInt64(worker) &* 7919) }
            lock.withLock { tasks.append(task) }
        }
    }

    func stop() async {
        let running = lock.withLock { stopped = true; return tasks }
        for task in running { await task.value }
    }

    private func invoke(_ client: Int, _ input: KVInput) -> Int { lock.withLock { recorder.invoke(client: client, input, at: now()) } }

    private func complete(_ handle: Int, _ output: KVOutput) {
        lock.withLock {
            recorder.complete(handle, output: output, at: now())
            counts.ok += 1
        }
    }

    /// Known to have had no effect.
    private func fail(_ handle: Int) {
        lock.withLock {
            recorder.discard(handle)
            counts.failed += 1
        }
    }

    /// May have taken effect at any time after its call: it stays pending in the history.
    private func unknown(_ handle: Int) { lock.withLock { counts.indeterminate += 1 } }

    /// A write refused before it reached a log: no leader was known, so it was never proposed.
    static func certainlyNotProposed(_ answer: HTTPClient.Answer) -> Bool {
        answer.status == 503 && answer.body.contains("no Raft leader is known")
    }

    private func run(worker: Int, seed: UInt64) async {
        var rng = SeededRandom(seed: seed)
        var counter = 0
        while !lock.withLock({ stopped }) {
            let targets = lock.withLock { self.targets }
            guard let host = rng.element(of: targets), let key = rng.element(of: keys()) else {
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            counter += 1
            let value = "w\(worker)-\(counter)"
            let url = cluster.url(host, "/v1/kv/\(key)")
            let roll = rng.int(in: 0..<10)
            if roll < 4 {
                let handle = invoke(worker, .put(key: key, value: value))
                switch await HTTPClient.request("PUT", url, body: value) {
                case .answered(let answer) where answer.status == 200: complete(handle, .ok)
                case .answered(let answer) where Self.certainlyNotProposed(answer): fail(handle)
                case .refused: fail(handle)
                default: unknown(handle)
                }
            } else if roll < 7 {
                let handle = invoke(worker, .get(key: key))
                switch await HTTPClient.request("GET", url) {
                case .answered(let answer) where answer.status == 200: complete(handle, .value(answer.body))
                case .answered(let answer) where answer.status == 404: complete(handle, .value(nil))
                // A read that failed changed nothing.
                default: fail(handle)
                }
            } else {
                // Read-modify-write: CAS on the revision of what was read.
                guard case .answered(let read) = await HTTPClient.request("GET", url), read.status == 200 || read.status == 404 else {
                    try? await Task.sleep(for: .milliseconds(20))
                    continue
                }
                let expected = read.status == 200 ? read.body : nil
                let revision = read.status == 200 ? read.headers["x-mod-revision"] ?? "" : "0"
                let handle = invoke(worker, .cas(key: key, expected: .value(expected), newValue: value))
                switch await HTTPClient.request("PUT", url + "?cas=\(revision)", body: value) {
                case .answered(let answer) where answer.status == 200: complete(handle, .cas(true))
                case .answered(let answer) where answer.status == 409: complete(handle, .cas(false))
                case .answered(let answer) where Self.certainlyNotProposed(answer): fail(handle)
                case .refused: fail(handle)
                default: unknown(handle)
                }
            }
        }
    }

    /// After the faults are healed: reads every key once, linearizably, at one revision (a recursive read),
    /// adds those reads to the history, then checks that no acknowledged write was lost and that the whole
    /// history is linearizable.
    func finish(through host: Int) async -> Report {
        await stop()
        let keys = allKeys
        var finalValues: [String: String]? = nil
        for attempt in 0..<30 {
            let invokedAt = now()
            if let answer = await HTTPClient.get(cluster.url((host + attempt) % cluster.count, "/v1/kv/g?recurse"), timeout: 5), answer.status == 200,
               let listing = try? JSONDecoder().decode(Listing.self, from: Data(answer.body.utf8)) {
                var values: [String: String] = [:]
                for item in listing.items {
                    values[item.key] = Data(base64Encoded: item.value).map { String(decoding: $0, as: UTF8.self) }
                }
                let respondedAt = now()
                lock.withLock {
                    for key in keys {
                        let handle = recorder.invoke(client: 1_000, .get(key: key), at: invokedAt)
                        recorder.complete(handle, output: .value(values[key]), at: respondedAt)
                    }
                }
                finalValues = values
                break
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        let history = lock.withLock { recorder.history }
        let counts = lock.withLock { self.counts }
        let acknowledged = history.filter { $0.output == .ok || $0.output == .cas(true) }.count
        guard let finalValues else {
            return Report(operations: history.count, counts: counts, acknowledgedWrites: acknowledged,
                          lostWrites: ["the final read of every key never succeeded"], verdict: "no final read", linearizable: false)
        }
        let lost = Self.lostWrites(history, finalValues: finalValues)
        let verdict = LinearizabilityChecker(model: KVModel()).check(history)
        var text = "\(verdict)"
        if case .notLinearizable(let key, let indexes) = verdict {
            let path = cluster.lab.directory.deletingLastPathComponent().appendingPathComponent("\(cluster.lab.runID)-\(key).history").path
            let lines = indexes.map { history[$0] }
                .map { "\($0.invoke) \($0.response.map(String.init) ?? "-") client \($0.client) \($0.input) -> \($0.output.map { "\($0)" } ?? "unknown")" }
            try? lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
            text += " (the operations on \(key) are in \(path))"
        }
        return Report(operations: history.count, counts: counts, acknowledgedWrites: acknowledged, lostWrites: lost,
                      verdict: text, linearizable: verdict == .linearizable)
    }

    /// An acknowledged write is lost when the key's final value was written by an operation that had
    /// already returned before that write was invoked (so it cannot have superseded it), or when the key's
    /// final value is one nobody wrote, or the key is gone (nothing deletes).
    static func lostWrites(_ history: [KVOperation], finalValues: [String: String]) -> [String] {
        var writers: [String: KVOperation] = [:]
        for op in history {
            switch op.input {
            case .put(_, let value), .cas(_, _, let value): writers[value] = op
            default: break
            }
        }
        var lost: [String] = []
        for op in history where op.output == .ok || op.output == .cas(true) {
            let key = op.input.key
            guard let final = finalValues[key] else {
                lost.append("\(op.input) was acknowledged but \(key) is absent at the end")
                continue
            }
            guard let writer = writers[final] else {
                lost.append("\(key) ends as \(final), which nobody wrote")
                continue
            }
            if let returned = writer.response, writer.output != nil, returned < op.invoke {
                lost.append("\(op.input) was acknowledged, but \(key) ends as \(final), written before it began")
            }
        }
        return lost
    }

    struct Listing: Decodable {
        struct Item: Decodable {
            var key: String
            var value: String
        }
        var items: [Item]
    }
}

import Foundation  // ProcessInfo, for the SIM_SEED / SIM_SEEDS environment variables

/// A failed check inside a simulation body; throw it (or use `simCheck`) so the seed
/// runner can attach the seed and the replay command.
public struct SimulationFailure: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Throws `SimulationFailure(message)` when `condition` is false.
public func simCheck(
    _ condition: Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) throws(SimulationFailure) {
    if !condition { throw SimulationFailure("\(file):\(line): \(message())") }
}

/// The error `forEachSeed` throws: which seed failed, why, and how to replay it.
public struct SeedFailure: Error, CustomStringConvertible, Sendable {
    public let seed: UInt64
    public let testName: String
    public let underlying: String
    public var replayCommand: String { "SIM_SEED=\(seed) swift test --filter \(testName)" }
    public var description: String {
        "seed \(seed) failed: \(underlying)\nreplay: \(replayCommand)"
    }
}

public enum SeedPlan: Equatable, Sendable {
    case single(UInt64)
    case range(ClosedRange<UInt64>)

    /// `SIM_SEED=n` runs exactly seed n; `SIM_SEEDS=n` runs seeds 1...n; `SIM_SEEDS=a-b` runs seeds a...b
    /// (to split a long run into pieces); otherwise 1...defaultCount.
    public static func fromEnvironment(defaultCount: Int, environment: [String: String] = ProcessInfo.processInfo.environment) -> SeedPlan {
        if let text = environment["SIM_SEED"], let seed = UInt64(text.trimmingCharacters(in: .whitespaces)) {
            return .single(seed)
        }
        var count = UInt64(max(1, defaultCount))
        if let text = environment["SIM_SEEDS"]?.trimmingCharacters(in: .whitespaces) {
            let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 2, let first = UInt64(bounds[0]), let last = UInt64(bounds[1]), first > 0, first <= last {
                return .range(first...last)
            }
            if let n = UInt64(text), n > 0 { count = n }
        }
        return .range(1...count)
    }

    public var seeds: [UInt64] {
        switch self {
        case let .single(seed): [seed]
        case let .range(range): Array(range)
        }
    }
}

/// Runs `body` once per seed (see `SeedPlan.fromEnvironment`) and stops at the first
/// seed that throws, rethrowing a `SeedFailure` naming the seed and the replay command.
///
/// Use `try #require(...)`, `try simCheck(...)` or any thrown error inside `body`;
/// a non-throwing `#expect` would be recorded but not tied to a seed.
/// - Parameter testName: the `--filter` argument for the replay command; defaults to
///   the calling function's name.
/// - Returns: the seeds that ran.
@discardableResult
public func forEachSeed(
    defaultCount: Int = 20, testName: String = #function,
    _ body: (UInt64) throws -> Void
) throws(SeedFailure) -> [UInt64] {
    let name = testName.split(separator: "(").first.map(String.init) ?? testName
    let seeds = SeedPlan.fromEnvironment(defaultCount: defaultCount).seeds
    let progress = SeedProgress(testName: name)
    for seed in seeds {
        do {
            try body(seed)
        } catch {
            throw SeedFailure(seed: seed, testName: name, underlying: String(describing: error))
        }
        progress.passed(seed)
    }
    return seeds
}

/// `SIM_PROGRESS=n`: a line on standard error every n passed seeds, so a long run that is stopped
/// still tells how far it got.
struct SeedProgress {
    let testName: String
    let every: UInt64?

    init(testName: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.testName = testName
        every = environment["SIM_PROGRESS"].flatMap { UInt64($0) }.flatMap { $0 > 0 ? $0 : nil }
    }

    func passed(_ seed: UInt64) {
        guard let every, seed % every == 0 else { return }
        let line = "\(testName): seeds through \(seed) passed\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

/// Variant for bodies that await.
@discardableResult
public func forEachSeedAsync(
    defaultCount: Int = 20, testName: String = #function,
    _ body: (UInt64) async throws -> Void
) async throws(SeedFailure) -> [UInt64] {
    let name = testName.split(separator: "(").first.map(String.init) ?? testName
    let seeds = SeedPlan.fromEnvironment(defaultCount: defaultCount).seeds
    let progress = SeedProgress(testName: name)
    for seed in seeds {
        do {
            try await body(seed)
        } catch {
            throw SeedFailure(seed: seed, testName: name, underlying: String(describing: error))
        }
        progress.passed(seed)
    }
    return seeds
}

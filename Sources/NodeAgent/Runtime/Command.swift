import ResourceModel
#if canImport(Glibc)
import Glibc
#endif

/// Runs helper programs (runc, CNI plugins, unshare) and waits for them without blocking a thread of the
/// cooperative pool.
struct Command {
    struct Result: Sendable {
        /// The exit code, 124 after a timeout, or the number of the signal that ended the program.
        var status: Int32
        var output: [UInt8]
        var error: String
        var text: String { String(decoding: output, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `stdoutPath`: append the child's stdout and stderr to this file instead of capturing them.
    static func run(_ executable: String, _ arguments: [String], input: [UInt8]? = nil, environment: [String: String]? = nil,
                    stdoutPath: String? = nil, currentDirectory: String? = nil, timeout: Duration? = nil) async throws -> Result {
        var logFD: Int32?
        if let stdoutPath {
            let fd = open(stdoutPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw Failure(description: "cannot open \(stdoutPath): \(String(cString: strerror(errno)))") }
            logFD = fd
        }
        defer { if let logFD { close(logFD) } }
        let output: ChildProcess.Stream = logFD.map { .descriptor($0) } ?? .pipe
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(executable, arguments, environment: environment, currentDirectory: currentDirectory,
                                           stdin: input == nil ? .null : .pipe, stdout: output, stderr: output)
        } catch {
            throw Failure(description: error.description)
        }
        if let fd = logFD {
            close(fd)
            logFD = nil
        }

        var watchdog: Task<Void, any Error>?
        let began = ContinuousClock.now
        if let timeout {
            watchdog = Task {
                try await Task.sleep(for: timeout)
                child.signal(SIGTERM)
                try await Task.sleep(for: .seconds(2))
                child.signal(SIGKILL)
            }
        }
        let outcome = await child.wait(input: input ?? [])
        watchdog?.cancel()
        var status = outcome.termination.status
        if let timeout, ContinuousClock.now - began >= timeout { status = 124 }
        return Result(status: status, output: outcome.output, error: String(decoding: outcome.error, as: UTF8.self))
    }

    /// Runs and throws with the program's own words unless it exits 0.
    @discardableResult
    static func check(_ executable: String, _ arguments: [String], input: [UInt8]? = nil, environment: [String: String]? = nil,
                      timeout: Duration? = .seconds(30)) async throws -> Result {
        let result = try await run(executable, arguments, input: input, environment: environment, timeout: timeout)
        guard result.status == 0 else {
            let words = (result.error.isEmpty ? result.text : result.error).trimmedWhitespace()
            let program = executable.split(separator: "/").last.map(String.init) ?? executable
            throw Failure(description: "\(program) \(arguments.prefix(3).joined(separator: " ")) exited \(result.status): \(words)")
        }
        return result
    }
}

/// Process-wide facts the runtime relies on.
enum HostProcess {
    /// Makes this process the subreaper of everything it starts, so a detached container's init (whose parent runc
    /// exits) becomes our child and `waitpid` gives its exit status.
    static func becomeSubreaper() -> Bool {
        // justified: glibc's prctl is variadic, which Swift cannot call; on x86-64 and arm64 Linux integer
        // arguments travel the same way through a fixed prototype.
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") else { return false }
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        return prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0) == 0
    }

    enum WaitResult { case running, exited(code: Int32, signal: Int32?), notOurChild }

    static func poll(pid: Int32) -> WaitResult {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        if r == 0 { return .running }
        if r < 0 { return .notOurChild }
        let signal = status & 0x7f
        if signal == 0 { return .exited(code: (status >> 8) & 0xff, signal: nil) }
        return .exited(code: 128 + signal, signal: signal)
    }

    static func alive(pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        // A zombie that is not ours still answers kill(0).
        guard let stat = Files.readText("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].dropFirst().first
        return state != "Z" && state != "X"
    }
}

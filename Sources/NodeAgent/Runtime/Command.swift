import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs helper programs (runc, CNI plugins, unshare) and waits for them without blocking a thread of the
/// cooperative pool.
struct Command {
    /// Foundation's `Process.run()` is not safe to call from several threads at once (seen: a crash in its
    /// memcpy with pods starting side by side), so launches take turns; waiting for exits does not.
    static let launching = Mutex(())

    struct Result: Sendable {
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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        // Only the pipes that are used: an unused Pipe leaks its descriptors in corelibs Foundation (measured: 12
        // descriptors over 20 launches), which ran the agent out of them after ~700 pod cycles.
        var outPipe: Pipe?, errPipe: Pipe?, inPipe: Pipe?
        var logHandle: FileHandle?
        if let stdoutPath {
            let fd = open(stdoutPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw Failure(description: "cannot open \(stdoutPath): \(String(cString: strerror(errno)))") }
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
            logHandle = handle
            process.standardOutput = handle
            process.standardError = handle
        } else {
            let out = Pipe(), err = Pipe()
            outPipe = out
            errPipe = err
            process.standardOutput = out
            process.standardError = err
        }
        if input != nil {
            let pipe = Pipe()
            inPipe = pipe
            process.standardInput = pipe
        } else {
            process.standardInput = FileHandle.nullDevice
        }

        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { p in
            exited.continuation.yield(p.terminationStatus)
            exited.continuation.finish()
        }
        do {
            try Self.launching.withLock { _ in try process.run() }
        } catch {
            throw Failure(description: "cannot start \(executable): \(error)")
        }
        try? logHandle?.close()
        // Drain the pipes on their own threads so a chatty child never blocks on a full pipe.
        let stdoutTask = outPipe.map { Self.drain($0.fileHandleForReading) }
        let stderrTask = errPipe.map { Self.drain($0.fileHandleForReading) }
        if let input, let inPipe {
            let writer = inPipe.fileHandleForWriting
            try? writer.write(contentsOf: Data(input))
            try? writer.close()
            try? inPipe.fileHandleForReading.close()
        }

        var status: Int32 = -1
        if let timeout {
            let pid = process.processIdentifier
            let began = ContinuousClock.now
            let watchdog = Task {
                try await Task.sleep(for: timeout)
                kill(pid, SIGTERM)
                try await Task.sleep(for: .seconds(2))
                kill(pid, SIGKILL)
            }
            for await s in exited.stream { status = s }
            watchdog.cancel()
            if ContinuousClock.now - began >= timeout { status = 124 }
        } else {
            for await s in exited.stream { status = s }
        }
        let out = await stdoutTask?.value ?? []
        let err = await stderrTask?.value ?? []
        return Result(status: status, output: out, error: String(decoding: err, as: UTF8.self))
    }

    static func drain(_ handle: FileHandle) -> Task<[UInt8], Never> {
        Task.detached {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    let data = (try? handle.readToEnd()) ?? Data()
                    try? handle.close()
                    continuation.resume(returning: [UInt8](data))
                }
            }
        }
    }

    /// Runs and throws with the program's own words unless it exits 0.
    @discardableResult
    static func check(_ executable: String, _ arguments: [String], input: [UInt8]? = nil, environment: [String: String]? = nil,
                      timeout: Duration? = .seconds(30)) async throws -> Result {
        let result = try await run(executable, arguments, input: input, environment: environment, timeout: timeout)
        guard result.status == 0 else {
            let words = (result.error.isEmpty ? result.text : result.error).trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "\((executable as NSString).lastPathComponent) \(arguments.prefix(3).joined(separator: " ")) exited \(result.status): \(words)")
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

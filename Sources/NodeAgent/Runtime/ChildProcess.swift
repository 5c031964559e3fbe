import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A helper program started with `posix_spawn` and waited for on a thread of its own that lives only while the
/// child runs. Foundation's `Process` would do the same, but it keeps a run-loop thread and CoreFoundation
/// resident for the life of the peer (issue #3: idle RSS).
final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    enum Stream: Sendable {
        /// `/dev/null`.
        case null
        /// A pipe to this process: the child's input is written to it, its output collected from it.
        case pipe
        /// A descriptor of ours, duplicated into the child (the caller keeps and closes its own).
        case descriptor(Int32)
    }

    /// How the child ended.
    enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)

        /// The exit code, or the number of the signal that ended the child (as Foundation's `terminationStatus`).
        var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): signal
            }
        }
    }

    struct Outcome: Sendable {
        var termination: Termination
        var output: [UInt8]
        var error: [UInt8]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    private let inputFD: Int32?
    private let outputFD: Int32?
    private let errorFD: Int32?
    /// True once the child is reaped: its pid may then belong to another process, so it is never signalled again.
    private let reaped = Mutex(false)
    private let waitStarted = Atomic(false)

    private init(pid: pid_t, inputFD: Int32?, outputFD: Int32?, errorFD: Int32?) {
        self.pid = pid
        self.inputFD = inputFD
        self.outputFD = outputFD
        self.errorFD = errorFD
    }

    deinit {
        // A child that was never waited for: close our ends so its pipes do not leak.
        if !waitStarted.load(ordering: .relaxed) {
            for fd in [inputFD, outputFD, errorFD].compactMap({ $0 }) { close(fd) }
        }
    }

    /// Starts `executable` (a path; no search of `PATH`) with `arguments` (without the program's name). `environment`
    /// nil inherits ours. Descriptors of ours other than the three streams never reach the child.
    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                      currentDirectory: String? = nil, stdin: Stream = .null, stdout: Stream = .pipe,
                      stderr: Stream = .pipe) throws(Failure) -> ChildProcess {
        // A relative path means relative to our directory, not to the child's `currentDirectory`.
        var path = executable
        if !path.hasPrefix("/"), let cwd = Self.currentDirectory() { path = cwd + "/" + path }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        // Ours to close after the spawn (the child's ends), and ours to keep (the parent's ends).
        var childEnds: [Int32] = []
        var parentEnds: [Int32?] = [nil, nil, nil]
        func cleanUp() {
            for fd in childEnds { close(fd) }
            for fd in parentEnds.compactMap({ $0 }) { close(fd) }
        }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            case .pipe:
                var ends: [Int32] = [-1, -1]
                guard Self.makePipe(&ends) else {
                    let reason = Self.errnoText(errno)
                    cleanUp()
                    throw Failure(description: "cannot start \(executable): cannot make a pipe: \(reason)")
                }
                // The child reads stdin's read end and writes the others' write ends.
                let (childEnd, parentEnd) = target == 0 ? (ends[0], ends[1]) : (ends[1], ends[0])
                childEnds.append(childEnd)
                parentEnds[Int(target)] = parentEnd
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
            }
        }
        if let closeFrom = SpawnExtensions.closeFrom { _ = closeFrom(&actions, 3) }
        if let currentDirectory {
            guard let changeDirectory = SpawnExtensions.changeDirectory else {
                cleanUp()
                throw Failure(description: "cannot start \(executable): this C library cannot set a child's working directory")
            }
            _ = changeDirectory(&actions, currentDirectory)
        }

        // The child starts with default signal handling and nothing blocked, whatever this process ignores or masks
        // (NIO ignores SIGPIPE, which would otherwise be inherited).
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = [path] + arguments
        let envp = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        var pid: pid_t = 0
        let result = Self.withCStrings(argv) { argvPointer in
            if let envp {
                return Self.withCStrings(envp) { envpPointer in posix_spawn(&pid, path, &actions, &attributes, argvPointer, envpPointer) }
            }
            return posix_spawn(&pid, path, &actions, &attributes, argvPointer, environ)
        }
        for fd in childEnds { close(fd) }
        childEnds = []
        guard result == 0 else {
            cleanUp()
            throw Failure(description: "cannot start \(executable): \(Self.errnoText(result))")
        }
        return ChildProcess(pid: pid, inputFD: parentEnds[0], outputFD: parentEnds[1], errorFD: parentEnds[2])
    }

    /// Sends `signal` unless the child was already reaped. Returns false when it was.
    @discardableResult
    func signal(_ signal: Int32) -> Bool {
        reaped.withLock { reaped in
            guard !reaped else { return false }
            return kill(pid, signal) == 0
        }
    }

    /// Writes `input` to the child's stdin pipe, collects its stdout and stderr pipes to their end, and reaps it —
    /// on a thread of its own, so no thread of the cooperative pool blocks. Call once.
    func wait(input: [UInt8] = []) async -> Outcome {
        await withCheckedContinuation { continuation in
            ChildProcess.startThread { continuation.resume(returning: self.waitBlocking(input: input)) }
        }
    }

    /// `wait(input:)` on the calling thread.
    func waitBlocking(input: [UInt8] = []) -> Outcome {
        waitStarted.store(true, ordering: .relaxed)
        // A write to a broken stdin pipe must give EPIPE, never kill the peer: SIGPIPE stays blocked on this thread
        // while it writes, and the signal such a write leaves pending is taken before the mask is restored.
        var blocked = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let (output, error, brokenPipe) = pump(input: input)
        if brokenPipe {
            var none = timespec(tv_sec: 0, tv_nsec: 0)
            while sigtimedwait(&blocked, nil, &none) == SIGPIPE {}
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        // Wait without reaping first, so `signal(_:)` can never hit a recycled pid.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
        var status: Int32 = 0
        let termination: Termination = reaped.withLock { reaped in
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            reaped = true
            let signal = status & 0x7f
            return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        }
        return Outcome(termination: termination, output: output, error: error)
    }

    /// Moves bytes between our pipe ends and the child until both output pipes reach their end.
    private func pump(input: [UInt8]) -> (output: [UInt8], error: [UInt8], brokenPipe: Bool) {
        var inputFD = self.inputFD, outputFD = self.outputFD, errorFD = self.errorFD
        var output: [UInt8] = [], error: [UInt8] = []
        var written = 0, brokenPipe = false
        if let fd = inputFD {
            if input.isEmpty {
                close(fd)
                inputFD = nil
            } else {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while inputFD != nil || outputFD != nil || errorFD != nil {
            var polled: [pollfd] = []
            if let fd = inputFD { polled.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
            if let fd = outputFD { polled.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if let fd = errorFD { polled.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if poll(&polled, nfds_t(polled.count), -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for entry in polled where entry.revents != 0 {
                if entry.fd == inputFD {
                    let n = input.withUnsafeBytes { write(entry.fd, $0.baseAddress! + written, $0.count - written) }
                    if n > 0 { written += n }
                    if n < 0 && errno == EPIPE { brokenPipe = true }
                    if (n < 0 && errno != EAGAIN && errno != EINTR) || written == input.count {
                        close(entry.fd)
                        inputFD = nil
                    }
                } else {
                    let n = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        if entry.fd == outputFD { output += buffer[0..<n] } else { error += buffer[0..<n] }
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        close(entry.fd)
                        if entry.fd == outputFD { outputFD = nil } else { errorFD = nil }
                    }
                }
            }
        }
        for fd in [inputFD, outputFD, errorFD].compactMap({ $0 }) { close(fd) }
        return (output, error, brokenPipe)
    }

    // MARK: - Helpers

    private static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func errnoText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// A pipe whose both ends are close-on-exec from the start, so a child spawned meanwhile by another thread never
    /// inherits it.
    private static func makePipe(_ ends: inout [Int32]) -> Bool {
        if let pipe2 = SpawnExtensions.pipe2 { return ends.withUnsafeMutableBufferPointer { pipe2($0.baseAddress!, O_CLOEXEC) } == 0 }
        guard pipe(&ends) == 0 else { return false }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// A detached POSIX thread for `body`: a child is waited for on a thread that exists only while it runs.
    static func startThread(_ body: @escaping @Sendable () -> Void) {
        final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        // Waiting needs little stack.
        pthread_attr_setstacksize(&attributes, 256 * 1024)
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { context in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            box.body()
            return nil
        }, context)
        if created != 0 {
            // No thread to be had: wait here rather than never.
            Unmanaged<Box>.fromOpaque(context).takeRetainedValue().body()
        }
    }
}

/// glibc calls the Glibc module map leaves out (they need _GNU_SOURCE / newer headers), looked up once at run time.
private enum SpawnExtensions {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map { unsafeBitCast($0, to: CloseFrom.self) }
    static let changeDirectory: ChangeDirectory? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map { unsafeBitCast($0, to: ChangeDirectory.self) }
    static let pipe2: Pipe2? = dlsym(nil, "pipe2").map { unsafeBitCast($0, to: Pipe2.self) }
}

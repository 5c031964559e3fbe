@testable import NodeAgent
import ResourceModel
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The posix_spawn runner against real programs.
@Suite struct ChildProcessTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func reportsTheExitCode() async throws {
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "exit 7"])
        #expect(await child.wait().termination == .exited(7))
        let success = try ChildProcess.spawn("/bin/true", [])
        #expect(await success.wait().termination == .exited(0))
    }

    @Test func reportsDeathBySignal() async throws {
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "kill -USR1 $$"])
        let termination = await child.wait().termination
        #expect(termination == .signalled(SIGUSR1))
        #expect(termination.status == SIGUSR1)
    }

    @Test func capturesStdoutAndStderrApart() async throws {
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "echo out; echo err >&2; echo more"])
        let outcome = await child.wait()
        #expect(text(outcome.output) == "out\nmore\n")
        #expect(text(outcome.error) == "err\n")
    }

    @Test func collectsOutputLargerThanAPipe() async throws {
        // 1 MiB on each stream, more than a pipe holds: both must be drained while the child runs.
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2"])
        let outcome = await child.wait()
        #expect(outcome.termination == .exited(0))
        #expect(outcome.output.count == 1 << 20)
        #expect(outcome.error.count == 1 << 20)
    }

    @Test func feedsStdin() async throws {
        let input = Array(repeating: UInt8(ascii: "x"), count: 300_000) + Array("\nend".utf8)
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "wc -c"], stdin: .pipe)
        let outcome = await child.wait(input: input)
        #expect(text(outcome.output).trimmedWhitespace() == String(input.count))
    }

    @Test func aChildThatIgnoresStdinDoesNotHangOrKillUs() async throws {
        let child = try ChildProcess.spawn("/bin/true", [], stdin: .pipe)
        let outcome = await child.wait(input: Array(repeating: 0, count: 1 << 20))
        #expect(outcome.termination == .exited(0))
    }

    @Test func passesExactlyTheGivenEnvironment() async throws {
        let child = try ChildProcess.spawn("/usr/bin/env", [], environment: ["ONLY": "this one"])
        #expect(text(await child.wait().output) == "ONLY=this one\n")
    }

    @Test func inheritsOurEnvironmentByDefault() async throws {
        setenv("CHILD_PROCESS_TEST_MARK", "inherited", 1)
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "echo $CHILD_PROCESS_TEST_MARK"])
        #expect(text(await child.wait().output) == "inherited\n")
    }

    @Test func runsInTheGivenDirectory() async throws {
        let child = try ChildProcess.spawn("/bin/pwd", [], currentDirectory: "/usr/lib")
        #expect(text(await child.wait().output) == "/usr/lib\n")
    }

    @Test func aMissingExecutableIsAClearError() throws {
        let error = #expect(throws: ChildProcess.Failure.self) {
            try ChildProcess.spawn("/nonexistent/program", ["a"])
        }
        #expect(error?.description == "cannot start /nonexistent/program: No such file or directory")
    }

    @Test func aMissingDirectoryIsAClearError() throws {
        let error = #expect(throws: ChildProcess.Failure.self) {
            try ChildProcess.spawn("/bin/true", [], currentDirectory: "/nonexistent/directory")
        }
        #expect(error?.description == "cannot start /bin/true: No such file or directory")
    }

    @Test func killEndsARunningChildAndNeverSignalsAReapedOne() async throws {
        let child = try ChildProcess.spawn("/bin/sleep", ["30"])
        let waiting = Task { await child.wait() }
        #expect(child.signal(SIGKILL))
        #expect(await waiting.value.termination == .signalled(SIGKILL))
        #expect(!child.signal(SIGKILL))
    }

    @Test func writesToAGivenDescriptor() async throws {
        let path = "/tmp/child-process-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "echo to-file; echo also >&2"], stdout: .descriptor(fd), stderr: .descriptor(fd))
        close(fd)
        let outcome = await child.wait()
        #expect(outcome.output.isEmpty)
        var buffer = [UInt8](repeating: 0, count: 64)
        let readFD = open(path, O_RDONLY)
        defer { close(readFD) }
        let n = read(readFD, &buffer, buffer.count)
        #expect(text(Array(buffer[0..<max(n, 0)])) == "to-file\nalso\n")
    }

    @Test func doesNotLeakOurDescriptorsIntoTheChild() async throws {
        let fd = open("/dev/null", O_RDONLY)  // deliberately without O_CLOEXEC
        defer { close(fd) }
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "ls /proc/self/fd"])
        let listed = text(await child.wait().output).split(separator: "\n").compactMap { Int32($0) }
        #expect(!listed.contains(fd))
    }

    @Test func commandKeepsItsTimeoutAndErrorWords() async throws {
        let slow = try await Command.run("/bin/sleep", ["10"], timeout: .milliseconds(200))
        #expect(slow.status == 124)
        let error = await #expect(throws: Command.Failure.self) {
            try await Command.check("/bin/sh", ["-c", "echo '  it broke  ' >&2; exit 3"])
        }
        #expect(error?.description == "sh -c echo '  it broke  ' >&2; exit 3 exited 3: it broke")
        let missing = await #expect(throws: Command.Failure.self) {
            try await Command.run("/nonexistent/runc", [])
        }
        #expect(missing?.description == "cannot start /nonexistent/runc: No such file or directory")
    }

    @Test func commandAppendsToALogFile() async throws {
        let path = "/tmp/child-process-log-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(path) }
        _ = try await Command.run("/bin/sh", ["-c", "echo one; echo two >&2"], stdoutPath: path)
        _ = try await Command.run("/bin/sh", ["-c", "echo three"], stdoutPath: path)
        let bytes = try ImageFiles.readFile(path, limit: 1024)
        #expect(text(bytes) == "one\ntwo\nthree\n")
    }
}

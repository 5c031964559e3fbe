import Foundation

/// The faults edge sites see, applied to a `Cluster`; `heal` undoes what `inject` did. Every peer runs under
/// a small LD_PRELOAD shim (`clockShimSource`) that offsets its wall clock only, so a clock jump is a fault
/// like the others; `Cluster(fakeClock:)` starts chosen peers 3 hours behind.
struct Nemesis: Sendable {
    enum Fault: Sendable, CustomStringConvertible, Hashable {
        /// kill -9, then restart on the same data directory at heal.
        case kill(Int)
        /// SIGSTOP, SIGCONT at heal: a peer that stops answering without dying.
        case pause(Int)
        /// The host's cable: its link on the hub side goes down (packets vanish both ways).
        case cutLink(Int)
        /// Hosts on different sides drop each other's packets (iptables in each host); the client still
        /// reaches every side, so it can watch the minority.
        case partition([[Int]])
        /// Random loss on the listed hosts' incoming packets from other hosts.
        case loss([Int], probability: Double)
        /// The host's wall clock (CLOCK_REALTIME) jumps by this many seconds (either way) and jumps back at
        /// heal; monotonic time is untouched, as when NTP steps a clock.
        case clockJump(Int, seconds: Int)

        var description: String {
            switch self {
            case .kill(let i): "kill -9 h\(i + 1)"
            case .pause(let i): "SIGSTOP h\(i + 1)"
            case .cutLink(let i): "cut the link of h\(i + 1)"
            case .partition(let sides): "partition " + sides.map { "{" + $0.map { "h\($0 + 1)" }.joined(separator: ",") + "}" }.joined(separator: " | ")
            case .loss(let hosts, let p): "\(Int(p * 100))% loss on " + hosts.map { "h\($0 + 1)" }.joined(separator: ",")
            case .clockJump(let i, let seconds): "wall clock of h\(i + 1) jumps \(seconds >= 0 ? "+" : "-")\(Self.span(abs(seconds)))"
            }
        }

        static func span(_ seconds: Int) -> String {
            seconds % 3600 == 0 ? "\(seconds / 3600)h" : seconds % 60 == 0 ? "\(seconds / 60)min" : "\(seconds)s"
        }

        /// A short name for reports ("kill", "partition", …).
        var kind: String {
            switch self {
            case .kill: "kill -9"
            case .pause: "SIGSTOP"
            case .cutLink: "link cut"
            case .partition: "partition"
            case .loss: "packet loss"
            case .clockJump: "clock jump"
            }
        }
    }

    let cluster: Cluster

    func inject(_ fault: Fault) async throws {
        switch fault {
        case .kill(let i):
            await cluster.kill9(i)
        case .pause(let i):
            cluster.pause(i)
        case .cutLink(let i):
            try Command.ip("-n", cluster.lab.hubNamespace, "link", "set", cluster.hosts[i].hubLink, "down")
        case .partition(let sides):
            for side in sides {
                let others = sides.filter { $0 != side }.flatMap { $0 }
                for i in side {
                    for j in others {
                        let address = cluster.hosts[j].address
                        try Command.iptables(in: cluster.hosts[i].namespace, ["-A", "E2E-PART", "-s", address, "-j", "DROP"])
                        try Command.iptables(in: cluster.hosts[i].namespace, ["-A", "E2E-PART", "-d", address, "-j", "DROP"])
                    }
                }
            }
        case .loss(let hosts, let probability):
            for i in hosts {
                try Command.iptables(in: cluster.hosts[i].namespace, [
                    "-A", "E2E-LOSS", "-m", "statistic", "--mode", "random", "--probability", "\(probability)", "-j", "DROP",
                ])
            }
        case .clockJump(let i, let seconds):
            try Self.setClockOffset(lab: cluster.lab, host: i, seconds: Self.clockOffset(lab: cluster.lab, host: i) + seconds)
        }
    }

    func heal(_ fault: Fault) async throws {
        switch fault {
        case .kill(let i):
            try cluster.start(i)
        case .pause(let i):
            cluster.resume(i)
        case .cutLink(let i):
            try Command.ip("-n", cluster.lab.hubNamespace, "link", "set", cluster.hosts[i].hubLink, "up")
        case .partition(let sides):
            for i in sides.flatMap({ $0 }) { try Command.iptables(in: cluster.hosts[i].namespace, ["-F", "E2E-PART"]) }
        case .loss(let hosts, _):
            for i in hosts { try Command.iptables(in: cluster.hosts[i].namespace, ["-F", "E2E-LOSS"]) }
        case .clockJump(let i, let seconds):
            try Self.setClockOffset(lab: cluster.lab, host: i, seconds: Self.clockOffset(lab: cluster.lab, host: i) - seconds)
        }
    }

    /// Undoes every network fault and restarts or resumes every peer: the state a test ends in.
    func healAll() async throws {
        for host in cluster.hosts {
            try Command.ip("-n", cluster.lab.hubNamespace, "link", "set", host.hubLink, "up")
            try Command.iptables(in: host.namespace, ["-F", "E2E-PART"])
            try Command.iptables(in: host.namespace, ["-F", "E2E-LOSS"])
            cluster.resume(host.index)
            if !cluster.isRunning(host.index) { try cluster.start(host.index) }
        }
    }

    // MARK: Wall clock

    /// How far a skewed host's wall clock is off from its start (`Cluster(fakeClock:)`).
    static let skewSeconds = -3 * 3600

    /// An LD_PRELOAD shim that offsets the wall clock only: CLOCK_REALTIME and CLOCK_REALTIME_COARSE in
    /// clock_gettime, gettimeofday and time(), by the whole seconds written in the file named by
    /// E2E_CLOCK_OFFSET_FILE (re-read at most every 100 ms, so a jump lands mid-run). Monotonic clocks,
    /// sleeps and timed waits are untouched, unlike libfaketime, which stalled the peer's timers.
    static let clockShimSource = #"""
    #define _GNU_SOURCE
    #include <dlfcn.h>
    #include <fcntl.h>
    #include <stdatomic.h>
    #include <stdlib.h>
    #include <sys/time.h>
    #include <time.h>
    #include <unistd.h>

    typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
    static _Atomic(clock_gettime_fn) real_clock_gettime;
    static const char *offset_path;
    static _Atomic long long offset_seconds;
    static _Atomic long long next_read_ns;

    static clock_gettime_fn real(void) {
        clock_gettime_fn fn = atomic_load(&real_clock_gettime);
        if (!fn) {
            fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
            atomic_store(&real_clock_gettime, fn);
        }
        return fn;
    }

    __attribute__((constructor)) static void shim_init(void) {
        real();
        offset_path = getenv("E2E_CLOCK_OFFSET_FILE");
    }

    static long long offset(void) {
        if (!offset_path) return 0;
        struct timespec now;
        if (real()(CLOCK_MONOTONIC, &now) != 0) return atomic_load(&offset_seconds);
        long long ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
        long long due = atomic_load(&next_read_ns);
        /* One thread re-reads the file; the others use the value last stored. */
        if (ns >= due && atomic_compare_exchange_strong(&next_read_ns, &due, ns + 100000000LL)) {
            int fd = open(offset_path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                char text[32];
                ssize_t n = read(fd, text, sizeof text - 1);
                close(fd);
                if (n > 0) {
                    text[n] = 0;
                    char *end;
                    long long value = strtoll(text, &end, 10);
                    if (end != text) atomic_store(&offset_seconds, value);
                }
            }
        }
        return atomic_load(&offset_seconds);
    }

    int clock_gettime(clockid_t clock, struct timespec *ts) {
        int result = real()(clock, ts);
        if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset();
        return result;
    }

    int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
        struct timespec ts;
        int result = clock_gettime(CLOCK_REALTIME, &ts);
        if (result == 0) {
            tv->tv_sec = ts.tv_sec;
            tv->tv_usec = ts.tv_nsec / 1000;
        }
        if (tz) {
            struct timezone *zone = tz;
            zone->tz_minuteswest = 0;
            zone->tz_dsttime = 0;
        }
        return result;
    }

    time_t time(time_t *out) {
        struct timespec ts;
        time_t now = clock_gettime(CLOCK_REALTIME, &ts) == 0 ? ts.tv_sec : (time_t)-1;
        if (out) *out = now;
        return now;
    }
    """#

    /// A C compiler: Debian's cc, else the Swift toolchain's clang.
    static var compiler: String? {
        ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang", "/opt/swift/usr/bin/clang"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func clockOffsetPath(lab: NetworkLab, host: Int) -> String {
        lab.directory.appendingPathComponent("clock-offset-\(lab.hosts[host].name)").path
    }

    /// Compiles the shim into the lab's directory (once) and answers the environment that runs host i's
    /// peer under it, its wall clock `offsetSeconds` off to begin with.
    static func wallClockEnvironment(lab: NetworkLab, host: Int, offsetSeconds: Int = 0) throws -> [String: String] {
        let library = lab.directory.appendingPathComponent("clockshim.so").path
        if !FileManager.default.fileExists(atPath: library) {
            guard let compiler else {
                throw Command.Failure(arguments: ["cc"], status: 127, output: "no C compiler for the clock shim (apt-get install gcc)")
            }
            let source = lab.directory.appendingPathComponent("clockshim.c").path
            try clockShimSource.write(toFile: source, atomically: true, encoding: .utf8)
            try Command.run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", library, source, "-ldl"])
        }
        try setClockOffset(lab: lab, host: host, seconds: offsetSeconds)
        return ["LD_PRELOAD": library, "E2E_CLOCK_OFFSET_FILE": clockOffsetPath(lab: lab, host: host)]
    }

    static func setClockOffset(lab: NetworkLab, host: Int, seconds: Int) throws {
        try "\(seconds)\n".write(toFile: clockOffsetPath(lab: lab, host: host), atomically: true, encoding: .utf8)
    }

    static func clockOffset(lab: NetworkLab, host: Int) -> Int {
        let text = (try? String(contentsOfFile: clockOffsetPath(lab: lab, host: host), encoding: .utf8)) ?? ""
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

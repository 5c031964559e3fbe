import Foundation

/// The faults edge sites see, applied to a `Cluster`; `heal` undoes what `inject` did. A wrong wall clock
/// is not a fault here but a host property: `Cluster(fakeClock:)` runs a peer 3 hours behind throughout.
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

        var description: String {
            switch self {
            case .kill(let i): "kill -9 h\(i + 1)"
            case .pause(let i): "SIGSTOP h\(i + 1)"
            case .cutLink(let i): "cut the link of h\(i + 1)"
            case .partition(let sides): "partition " + sides.map { "{" + $0.map { "h\($0 + 1)" }.joined(separator: ",") + "}" }.joined(separator: " | ")
            case .loss(let hosts, let p): "\(Int(p * 100))% loss on " + hosts.map { "h\($0 + 1)" }.joined(separator: ",")
            }
        }

        /// A short name for reports ("kill", "partition", …).
        var kind: String {
            switch self {
            case .kill: "kill -9"
            case .pause: "SIGSTOP"
            case .cutLink: "link cut"
            case .partition: "partition"
            case .loss: "packet loss"
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

    static let libfaketime = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"]
        .first { FileManager.default.fileExists(atPath: $0) }

    /// How far the skewed host's wall clock is off.
    static let skew = "-3h"

    /// The environment that runs a peer with its wall clock (CLOCK_REALTIME) `skew` off for its whole life,
    /// and monotonic time untouched. A jump in a running process is not offered: libfaketime also rewrites
    /// sleeps and timed waits, and after a jump they fail with EINVAL (seen with python3's time.sleep) —
    /// a fault of the tool, not of the peer. Nil when libfaketime is not installed.
    static func fakeTimeEnvironment() -> [String: String]? {
        guard let library = libfaketime else { return nil }
        return ["LD_PRELOAD": library, "FAKETIME": skew, "FAKETIME_DONT_FAKE_MONOTONIC": "1"]
    }
}

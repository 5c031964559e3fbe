import Consensus
import Simulation

/// The simulator's disk seen through `StorageFileSystem`. SimDisk has flat names, so a
/// directory is a name prefix; creations and renames are durable at once there, so
/// directory syncs are no-ops.
///
/// For crash tests it can also cut the power in the middle of an operation: when the
/// countdown reaches zero, the disk crashes (optionally after performing the operation, so
/// that write can be torn) and the operation throws `SimulatedPowerLoss`.
final class SimDiskFileSystem: StorageFileSystem {
    struct SimulatedPowerLoss: Error {}

    let disk: SimDisk
    /// Operations (writes, syncs, renames, removals...) left before the power fails; nil = never.
    var operationsUntilCrash: Int?
    var crashMode: SimCrashMode = .tornAnywhere
    var rng: SeededRandom
    private(set) var crashed = false

    init(disk: SimDisk = SimDisk(), seed: UInt64 = 1) {
        self.disk = disk
        self.rng = SeededRandom(seed: seed)
    }

    private func operation(_ body: () throws -> Void) throws {
        guard let remaining = operationsUntilCrash else {
            try body()
            return
        }
        if remaining > 0 {
            operationsUntilCrash = remaining - 1
            try body()
            return
        }
        operationsUntilCrash = nil
        crashed = true
        // Half the time the interrupted operation reached the disk's cache first.
        if rng.chance(0.5) { try? body() }
        disk.crash(crashMode, using: &rng)
        throw SimulatedPowerLoss()
    }

    func listDirectory(_ directory: String) throws -> [String] {
        let prefix = directory.isEmpty ? "" : directory + "/"
        return disk.list().compactMap { name in
            guard name.hasPrefix(prefix) else { return nil }
            let rest = String(name.dropFirst(prefix.count))
            return rest.contains("/") ? nil : rest
        }
    }

    func createDirectory(_ directory: String) throws {}

    func fileExists(_ path: String) -> Bool { disk.exists(path) }

    func readFile(_ path: String) throws -> [UInt8] { try disk.read(path) }

    func append(_ bytes: [UInt8], to path: String) throws {
        try operation { try disk.append(path, bytes) }
    }

    func write(_ bytes: [UInt8], at offset: Int, to path: String) throws {
        try operation {
            if !disk.exists(path) { try disk.create(path) }
            try disk.write(path, at: offset, bytes)
        }
    }

    func truncate(_ path: String, to size: Int) throws {
        try operation { try disk.truncate(path, to: size) }
    }

    func sync(_ path: String) throws {
        try operation { try disk.fsync(path) }
    }

    func syncDirectory(_ directory: String) throws {
        try operation {}
    }

    func rename(_ source: String, to destination: String) throws {
        try operation { try disk.rename(source, to: destination) }
    }

    func remove(_ path: String) throws {
        try operation { try disk.remove(path) }
    }
}

import Simulation
import Testing

@Suite struct SimDiskTests {
    @Test func unsyncedDataIsLostOnCrash() throws {
        let disk = SimDisk()
        try disk.append("wal", [1, 2, 3])
        try disk.fsync("wal")
        try disk.append("wal", [4, 5])
        #expect(try disk.read("wal") == [1, 2, 3, 4, 5])
        disk.crash()
        #expect(try disk.read("wal") == [1, 2, 3])
    }

    @Test func replaceWithoutFsyncKeepsOldContent() throws {
        let disk = SimDisk()
        try disk.write("meta", [9, 9])
        try disk.fsync("meta")
        try disk.write("meta", [1])
        try disk.truncate("meta", to: 0)
        disk.crash()
        #expect(try disk.read("meta") == [9, 9])
    }

    @Test func tornLastWriteKeepsStrictPrefixOfIt() throws {
        var rng = SeededRandom(seed: 1)
        var sawPartial = false
        for _ in 0..<50 {
            let disk = SimDisk()
            try disk.append("wal", [1, 2])
            try disk.fsync("wal")
            try disk.append("wal", [3, 4])
            try disk.append("wal", [5, 6, 7, 8, 9, 10])
            disk.crash(.tornLastWrite, using: &rng)
            let content = try disk.read("wal")
            #expect(content.count >= 4 && content.count < 10)
            #expect(content == Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].prefix(content.count)))
            if content.count > 4 { sawPartial = true }
        }
        #expect(sawPartial)
    }

    @Test func tornAnywhereCutsInOrder() throws {
        var rng = SeededRandom(seed: 2)
        var lengths = Set<Int>()
        for _ in 0..<200 {
            let disk = SimDisk()
            try disk.fsync(try { try disk.create("f"); return "f" }())
            for chunk in 0..<4 { try disk.append("f", Array(repeating: UInt8(chunk + 1), count: 3)) }
            disk.crash(.tornAnywhere, using: &rng)
            let content = try disk.read("f")
            let full: [UInt8] = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
            #expect(content.count < 12)
            #expect(content == Array(full.prefix(content.count)))
            lengths.insert(content.count)
        }
        #expect(lengths.count > 6)
    }

    @Test func simulationCrashTearsWhenAsked() throws {
        let sim = Simulation<Int>(seed: 3, nodes: 1)
        let disk = sim.disk(0)
        try disk.append("wal", Array(repeating: 1, count: 100))
        sim.crash(0, tearingWrites: true)
        #expect(try disk.read("wal").count < 100)
        sim.restart(0)
        try disk.append("wal", [2])
        try disk.fsync("wal")
        sim.crash(0, tearingWrites: true)
        #expect(try disk.read("wal").last == 2)
        #expect(disk.crashCount == 2)
    }

    @Test func errorsAreTypedAndNeverCrash() throws {
        let disk = SimDisk()
        #expect(throws: SimDiskError.noSuchFile("x")) { try disk.read("x") }
        #expect(throws: SimDiskError.noSuchFile("x")) { try disk.fsync("x") }
        #expect(throws: SimDiskError.noSuchFile("x")) { try disk.remove("x") }
        #expect(throws: SimDiskError.noSuchFile("x")) { try disk.truncate("x", to: 0) }
        try disk.write("a", [1, 2, 3])
        #expect(throws: SimDiskError.outOfRange(file: "a", offset: 2, size: 3)) { try disk.read("a", offset: 2, count: 5) }
        #expect(throws: SimDiskError.outOfRange(file: "a", offset: 4, size: 3)) { try disk.write("a", at: 4, [0]) }
        #expect(throws: SimDiskError.outOfRange(file: "a", offset: -1, size: 3)) { try disk.read("a", offset: -1, count: 1) }
        disk.failing = true
        #expect(throws: SimDiskError.ioError("a")) { try disk.append("a", [1]) }
        disk.failing = false
        try disk.write("a", at: 1, [9, 9, 9])
        #expect(try disk.read("a") == [1, 9, 9, 9])
        try disk.rename("a", to: "b")
        #expect(disk.list() == ["b"])
        #expect(try disk.read("b", offset: 1, count: 2) == [9, 9])
    }
}

@Suite struct SeededRandomTests {
    @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
        var a = SeededRandom(seed: 123)
        var b = SeededRandom(seed: 123)
        var c = SeededRandom(seed: 124)
        let sa = (0..<16).map { _ in a.next() }
        #expect(sa == (0..<16).map { _ in b.next() })
        #expect(sa != (0..<16).map { _ in c.next() })
    }

    /// Pins the stream so it stays identical across platforms and releases. Seed 0 expands
    /// through SplitMix64 to its published first outputs (e220a839..., 6e789e6a..., ...);
    /// the expected values come from an independent port of the xoshiro256** reference C code.
    @Test func matchesReferenceAlgorithm() {
        var rng = SeededRandom(seed: 0)
        let first = (0..<4).map { _ in rng.next() }
        #expect(first == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0, 0x6AA5_94F1_262D_2D2C])
    }

    @Test func rangesAreRespectedAndCovered() {
        var rng = SeededRandom(seed: 5)
        var seen = Set<Int>()
        for _ in 0..<1000 {
            let x = rng.int(in: -3..<4)
            #expect((-3..<4).contains(x))
            seen.insert(x)
            let y = rng.int(in: 10...12)
            #expect((10...12).contains(y))
            let d = rng.duration(in: .milliseconds(1) ... .milliseconds(2))
            #expect(d >= .milliseconds(1) && d <= .milliseconds(2))
        }
        #expect(seen.count == 7)
    }

    @Test func chanceFrequency() {
        var rng = SeededRandom(seed: 6)
        let hits = (0..<10_000).filter { _ in rng.chance(0.25) }.count
        #expect((2300...2700).contains(hits))
        #expect(!rng.chance(0) && rng.chance(1))
    }

    @Test func shuffleIsAPermutationAndSplitIsIndependent() {
        var rng = SeededRandom(seed: 7)
        let shuffled = rng.shuffled(Array(0..<50))
        #expect(shuffled.sorted() == Array(0..<50))
        #expect(shuffled != Array(0..<50))
        var child = rng.split()
        #expect(child.next() != rng.next())
        #expect(rng.bytes(count: 13).count == 13)
    }
}

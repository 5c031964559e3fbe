import Gossip
import Simulation
import Testing

private let metadata = MemberMetadata(version: 7, entries: ["api": "10.0.0.1:8080", "raft": "10.0.0.1:7000", "zone": "eu-1 ✓", "": ""])

private let everyKind: [SWIMMessage] = [
    .ping(sequence: 1, target: "10.0.0.2:7946", source: "10.0.0.1:7946"),
    .ping(sequence: .max, target: "", source: "ü"),
    .pingReq(sequence: 300, target: "t:1", source: "s:2", wantsNack: true),
    .pingReq(sequence: 0, target: "t:1", source: "s:2", wantsNack: false),
    .ack(sequence: 127, source: "a"),
    .nack(sequence: 128, source: "b"),
    .update(.alive(address: "n1", incarnation: 3, metadata: metadata)),
    .update(.alive(address: "n1", incarnation: 0, metadata: MemberMetadata())),
    .update(.suspect(address: "n2", incarnation: 4, from: "n3")),
    .update(.dead(address: "n2", incarnation: UInt64.max, from: "n3")),
    .update(.left(address: "n4", incarnation: 9)),
    .pushPull(isReply: false, source: "", members: []),
    .pushPull(isReply: true, source: "10.0.0.9:7946", members: [
        MemberState(address: "n1", incarnation: 1, status: .alive, metadata: metadata),
        MemberState(address: "n2", incarnation: 2, status: .suspect),
        MemberState(address: "n3", incarnation: 3, status: .dead),
        MemberState(address: "n4", incarnation: 4, status: .left),
    ]),
]

@Suite struct CodecTests {
    @Test func everyMessageKindRoundTrips() throws {
        for message in everyKind {
            let packet = SWIMPacket([message])
            let bytes = packet.encode()
            #expect(try SWIMPacket(decoding: bytes) == packet)
            #expect(bytes.count == 2 + message.encodedSize)
        }
        let compound = SWIMPacket(everyKind)
        #expect(try SWIMPacket(decoding: compound.encode()) == compound)
        #expect(try SWIMPacket(decoding: SWIMPacket([]).encode()) == SWIMPacket([]))
    }

    @Test func everyTruncationThrows() {
        let bytes = SWIMPacket(everyKind).encode()
        for length in 0..<bytes.count {
            #expect(throws: SWIMDecodingError.self) { try SWIMPacket(decoding: Array(bytes.prefix(length))) }
        }
    }

    @Test func malformedHeadersAndFieldsThrow() {
        #expect(throws: SWIMDecodingError.unsupportedVersion(2)) { try SWIMPacket(decoding: [2, 0]) }
        #expect(throws: SWIMDecodingError.trailingBytes) { try SWIMPacket(decoding: [1, 0, 0]) }
        #expect(throws: SWIMDecodingError.unknownMessageType(99)) { try SWIMPacket(decoding: [1, 1, 99]) }
        // Over-long varint.
        #expect(throws: SWIMDecodingError.invalidValue) { try SWIMPacket(decoding: [1, 1, 3] + Array(repeating: 0xFF, count: 10) + [1]) }
        // A huge message count must not allocate: it is bounded by the bytes left.
        #expect(throws: SWIMDecodingError.truncated) { try SWIMPacket(decoding: [1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) }
        // Invalid UTF-8 in a string.
        #expect(throws: SWIMDecodingError.invalidUTF8) { try SWIMPacket(decoding: [1, 1, 3, 1, 2, 0xC3, 0x28]) }
        // Bad boolean and bad status byte.
        #expect(throws: SWIMDecodingError.invalidValue) { try SWIMPacket(decoding: [1, 1, 2, 1, 0, 0, 7]) }
        #expect(throws: SWIMDecodingError.invalidValue) { try SWIMPacket(decoding: [1, 1, 9, 0, 0, 1, 1, 0x61, 0, 9, 0, 0]) }
    }

    @Test func randomGarbageNeverCrashes() throws {
        var rng = SeededRandom(seed: 0x5EED)
        var decoded = 0
        for _ in 0..<20_000 {
            var bytes = rng.bytes(count: rng.int(in: 0...64))
            if rng.chance(0.5), !bytes.isEmpty { bytes[0] = 1 }  // get past the version check
            if let packet = try? SWIMPacket(decoding: bytes) {
                decoded += 1
                // Whatever decodes must re-encode to something that decodes the same.
                #expect(try SWIMPacket(decoding: packet.encode()) == packet)
            }
        }
        // Mutations of valid packets exercise the deeper field decoders.
        let valid = SWIMPacket(everyKind).encode()
        for _ in 0..<5_000 {
            var bytes = valid
            for _ in 0..<rng.int(in: 1...4) {
                bytes[rng.int(in: 0..<bytes.count)] = UInt8(truncatingIfNeeded: rng.next())
            }
            if let packet = try? SWIMPacket(decoding: bytes) {
                decoded += 1
                #expect(try SWIMPacket(decoding: packet.encode()) == packet)
            }
        }
        #expect(decoded >= 0)
    }
}

@Suite struct DisseminationTests {
    /// A member that just learned about `count` newcomers and must gossip them.
    private func gossiper(newcomers count: Int) -> TestNode {
        // No probing or push/pull here: only gossip of the queued updates.
        var config = SWIMConfiguration.lan
        config.probeInterval = .seconds(1000)
        config.pushPullInterval = .seconds(1000)
        config.reconnectInterval = .seconds(1000)
        var node = TestNode("a", knows: ["b", "c", "d", "e"], configuration: config)
        for i in 0..<count {
            _ = node.receive(.alive(address: "10.1.\(i / 256).\(i % 256):7946", incarnation: 0,
                                    metadata: MemberMetadata(version: 1, entries: ["raft": "10.1.0.\(i % 256):7000"])), at: seconds(0.01))
        }
        return node
    }

    @Test func packetsStayWithinSizeAndCountBoundsAndRetransmitLimitHolds() throws {
        let count = 120
        var node = gossiper(newcomers: count)
        let limit = node.core.configuration.retransmitLimit(memberCount: node.core.memberCount)
        #expect(limit == 4 * 3)
        var transmissions: [String: Int] = [:]
        var firstRound: [String] = []
        var now = seconds(0.01)
        while node.core.hasPendingBroadcasts, now < seconds(120) {
            for send in node.tick(now).sends {
                let bytes = send.packet.encode()
                #expect(bytes.count <= node.core.configuration.maxPacketSize)
                #expect(send.packet.updates.count <= node.core.configuration.maxUpdatesPerPacket)
                #expect(Set(send.packet.updates.map(\.address)).count == send.packet.updates.count)
                #expect(try SWIMPacket(decoding: bytes) == send.packet)
                for update in send.packet.updates {
                    transmissions[update.address, default: 0] += 1
                    if transmissions.count <= count, transmissions[update.address] == 1 { firstRound.append(update.address) }
                }
            }
            now = now + .milliseconds(100)
        }
        #expect(!node.core.hasPendingBroadcasts)
        #expect(transmissions.count == count)
        #expect(transmissions.values.allSatisfy { $0 == limit })
        #expect(Set(firstRound).count == count)
    }

    @Test func oversizedMetadataIsNotQueuedForever() {
        var node = gossiper(newcomers: 0)
        let huge = MemberMetadata(version: 1, entries: ["blob": String(repeating: "x", count: 2000)])
        _ = node.receive(.alive(address: "big", incarnation: 0, metadata: huge), at: seconds(0.01))
        #expect(node.core.member("big")?.metadata == huge)
        #expect(!node.core.hasPendingBroadcasts)
    }

    @Test func leastTransmittedGoFirst() {
        var node = gossiper(newcomers: 100)
        var seen: [[String]] = []
        var now = seconds(0.01)
        while seen.flatMap({ $0 }).count < 100 {
            for send in node.tick(now).sends where !send.packet.updates.isEmpty {
                seen.append(send.packet.updates.map(\.address))
            }
            now = now + .milliseconds(200)
        }
        // Nothing is sent a second time before everything was sent once.
        let flat = seen.flatMap { $0 }
        #expect(Set(flat.prefix(100)).count == 100)
        // A fresh update jumps ahead of everything already transmitted.
        _ = node.receive(.suspect(address: "b", incarnation: 0, from: "c"), at: now)
        let next = node.tick(now + .milliseconds(200)).sends.first { !$0.packet.updates.isEmpty }
        #expect(next?.packet.updates.first?.address == "b")
    }
}

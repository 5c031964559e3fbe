import Consensus
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@Suite("Raft transport over loopback TCP")
struct TransportTests {
    final class Inbox: Sendable {
        private let frames = NIOLockedValueBox<[(UInt64, [UInt8])]>([])
        func add(_ from: UInt64, _ frame: [UInt8]) { frames.withLockedValue { $0.append((from, frame)) } }
        var all: [(UInt64, [UInt8])] { frames.withLockedValue { $0 } }

        func wait(for count: Int, timeout: Duration = .seconds(10)) async -> [(UInt64, [UInt8])] {
            let deadline = ContinuousClock.now + timeout
            while all.count < count && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
            return all
        }
    }

    final class PortBox: Sendable {
        private let value = NIOLockedValueBox<Int?>(nil)
        func set(_ port: Int) { value.withLockedValue { $0 = port } }
        func wait() async -> Int {
            while true {
                if let port = value.withLockedValue({ $0 }) { return port }
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    static func listen(_ transport: RaftTransport, inbox: Inbox) async -> (Task<Void, any Error>, Int) {
        let box = PortBox()
        let task = Task { try await transport.serve(host: "127.0.0.1", port: 0, ready: { box.set($0) }) { inbox.add($0, $1) } }
        return (task, await box.wait())
    }

    @Test("frames arrive in order with their sender's id, many per connection")
    func framesArriveInOrder() async throws {
        let logger = Logger(label: "test")
        let receiver = RaftTransport(localID: 2, logger: logger)
        let inbox = Inbox()
        let (server, port) = await Self.listen(receiver, inbox: inbox)
        let sender = RaftTransport(localID: 7, logger: logger)
        let frames = (0..<500).map { i in (0..<(i % 97)).map { UInt8(truncatingIfNeeded: $0 &+ i) } }
        for frame in frames { sender.send(frame, to: 2, at: PeerAddress(host: "127.0.0.1", port: port)) }
        let got = await inbox.wait(for: frames.count)
        #expect(got.count == frames.count)
        #expect(got.allSatisfy { $0.0 == 7 })
        #expect(got.map(\.1) == frames)
        #expect(sender.metrics.framesSent == frames.count)
        sender.close()
        server.cancel()
    }

    @Test("a destination that is down costs a bounded queue, and frames flow once it comes up")
    func boundedQueueAndReconnect() async throws {
        let logger = Logger(label: "test")
        var settings = RaftTransport.Settings()
        settings.queueDepthPerPeer = 10
        settings.reconnectBackoff = .milliseconds(10) ... .milliseconds(50)
        let sender = RaftTransport(localID: 1, settings: settings, logger: logger)
        // Find a free port, then leave it closed for a while.
        let probe = RaftTransport(localID: 9, logger: logger)
        let (probeTask, port) = await Self.listen(probe, inbox: Inbox())
        probeTask.cancel()
        _ = await probeTask.result
        try await Task.sleep(for: .milliseconds(100))

        for i in 0..<50 { sender.send([UInt8(i)], to: 3, at: PeerAddress(host: "127.0.0.1", port: port)) }
        #expect(sender.metrics.framesDroppedQueueFull >= 40 - 1, "at most the queue depth (plus one taken by the writer) is kept")
        let deadline = ContinuousClock.now + .seconds(10)
        while sender.metrics.connectFailures < 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(sender.metrics.connectFailures >= 1)

        let receiver = RaftTransport(localID: 3, logger: logger)
        let inbox = Inbox()
        let server = Task { try await receiver.serve(host: "127.0.0.1", port: port) { inbox.add($0, $1) } }
        let got = await inbox.wait(for: 10)
        #expect(got.count >= 10 && got.count <= 11)
        #expect(got.map(\.1).prefix(10) == (0..<10).map { [UInt8($0)] }[...], "the oldest frames are the ones kept")
        sender.close()
        server.cancel()
    }

    @Test("a connection without a valid hello, or with an oversized frame, is dropped and counted")
    func malformedConnectionsAreDropped() async throws {
        let logger = Logger(label: "test")
        let receiver = RaftTransport(localID: 2, logger: logger)
        let inbox = Inbox()
        let (server, port) = await Self.listen(receiver, inbox: inbox)

        // Garbage: a frame of 5 bytes that is not a hello, then an absurd length.
        for payload in [[0, 0, 0, 5, 1, 2, 3, 4, 5] as [UInt8], [0xFF, 0xFF, 0xFF, 0xFF, 1]] {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            #expect(connected == 0)
            _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            // The server closes on us: read returns 0 (EOF) or an error.
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, 0)
            #expect(n <= 0)
            close(fd)
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while receiver.metrics.malformedConnections < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(receiver.metrics.malformedConnections == 2)
        #expect(inbox.all.isEmpty)

        // The server still serves well-formed peers.
        let sender = RaftTransport(localID: 5, logger: logger)
        sender.send([42], to: 2, at: PeerAddress(host: "127.0.0.1", port: port))
        #expect(await inbox.wait(for: 1).map(\.1) == [[42]])
        sender.close()
        server.cancel()
    }
}

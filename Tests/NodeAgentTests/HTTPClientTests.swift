import NodeAgent
import NIOCore
import NIOPosix
import Testing

@Suite struct HTTPClientTests {
    @Test func refusesURLsThatAreNotHTTP() async {
        let client = HTTPClient()
        await #expect(throws: HTTPClient.ClientError.self) {
            _ = try await client.request("GET", "ftp://127.0.0.1/x")
        }
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A small HTTP client for the peers' APIs that tells apart "the server answered", "nothing reached the
/// server" and "sent, but no answer" — the last leaves a write's outcome unknown.
enum HTTPClient {
    struct Answer: Sendable {
        var status: Int
        var body: String
        /// Lower-cased header names.
        var headers: [String: String]
    }

    enum Outcome: Sendable {
        case answered(Answer)
        /// The connection was refused: the request certainly had no effect.
        case refused
        /// Sent (or maybe sent), but no answer: it may or may not take effect.
        case unknown(String)
    }

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    static func request(_ method: String, _ url: String, body: String? = nil, contentType: String? = nil, timeout: TimeInterval = 3) async -> Outcome {
        guard let target = URL(string: url) else { return .refused }
        var request = URLRequest(url: target, cachePolicy: .reloadIgnoringLocalCacheData)
        request.httpMethod = method
        request.timeoutInterval = timeout
        if let body { request.httpBody = Data(body.utf8) }
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        // A fresh connection each time: a client that reuses a connection the server died on resends on a
        // new one, and a refusal then would hide that the first copy may have been applied.
        request.setValue("close", forHTTPHeaderField: "Connection")
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else { return .unknown("not HTTP") }
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields { headers["\(name)".lowercased()] = "\(value)" }
            return .answered(Answer(status: http.statusCode, body: String(decoding: data, as: UTF8.self), headers: headers))
        } catch let error as URLError where error.code == .cannotConnectToHost {
            return .refused
        } catch {
            return .unknown("\(error)")
        }
    }

    static func get(_ url: String, timeout: TimeInterval = 3) async -> Answer? {
        if case .answered(let answer) = await request("GET", url, timeout: timeout) { return answer }
        return nil
    }

    static func getJSON<T: Decodable>(_ url: String, as type: T.Type = T.self, timeout: TimeInterval = 3) async -> T? {
        guard let answer = await get(url, timeout: timeout), answer.status == 200 else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(answer.body.utf8))
    }
}

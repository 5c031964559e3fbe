import Hummingbird
import Logging

/// The peer's HTTP endpoint. Every peer serves the whole cluster's API; for now the health endpoints.
struct APIServer: Sendable {
    let configuration: PeerConfiguration
    let logger: Logger

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Kubernetes' health endpoints answer a bare "ok"; load balancers and kubectl probe them as text.
        for path in ["healthz", "livez", "readyz"] {
            router.get(RouterPath(path)) { _, _ in "ok" }
        }
        router.get("version") { _, _ in
            VersionInfo(gitVersion: "v\(PeerVersion.current)", platform: Self.platform)
        }
        return router
    }

    func application() -> some ApplicationProtocol {
        let address = "\(configuration.bindAddress):\(configuration.apiPort)"
        let logger = self.logger
        return Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.bindAddress, port: configuration.apiPort), serverName: "peer"),
            onServerRunning: { _ in logger.info("API listening", metadata: ["address": "\(address)"]) },
            logger: logger
        )
    }

    static var platform: String {
        #if os(Linux)
        let os = "linux"
        #else
        let os = "darwin"
        #endif
        #if arch(x86_64)
        return os + "/amd64"
        #elseif arch(arm64)
        return os + "/arm64"
        #else
        return os + "/unknown"
        #endif
    }
}

struct VersionInfo: ResponseEncodable {
    var major = "1"
    var minor = "32"
    var gitVersion: String
    var platform: String
}

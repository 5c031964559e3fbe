#if canImport(Glibc)
import Glibc
#endif

/// Hummingbird's Date-header cache builds a Gregorian calendar in the host's time zone. With Foundation linked
/// (Yams needs it), a named zone such as `Etc/UTC` is served by ICU, which loads its zone tables and keeps them
/// resident in every peer (issue #3); Foundation serves `GMT` itself. So a host on UTC runs the peer with
/// `TZ=GMT`: glibc reads it as the same zone, and no clock, timestamp or log line changes.
enum HostTimeZone {
    /// The names of zones that are UTC under another name (tzdata's links to Etc/UTC and Etc/GMT).
    static let utcNames: Set<String> = [
        "UTC", "UCT", "GMT", "GMT0", "GMT+0", "GMT-0", "Greenwich", "Universal", "Zulu",
        "Etc/UTC", "Etc/UCT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich", "Etc/Universal", "Etc/Zulu",
    ]

    /// Sets `TZ=GMT` when the host's zone (TZ, else /etc/localtime) is UTC; leaves any other zone alone.
    static func preferGMTWhenUTC() {
        if let value = getenv("TZ") {
            let name = String(cString: value)
            if utcNames.contains(name.hasPrefix(":") ? String(name.dropFirst()) : name) { setenv("TZ", "GMT", 1) }
            return
        }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/etc/localtime", &buffer, buffer.count - 1)
        guard n > 0 else { return }
        let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let marker = target.firstRange(of: "zoneinfo/") else { return }
        if utcNames.contains(String(target[marker.upperBound...])) { setenv("TZ", "GMT", 1) }
    }
}

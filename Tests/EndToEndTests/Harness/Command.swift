import Foundation

/// Runs system tools (`ip`, `iptables`) to completion. They are quick, so a blocking wait is fine.
enum Command {
    struct Failure: Error, CustomStringConvertible {
        let arguments: [String]
        let status: Int32
        let output: String
        var description: String { "`\(arguments.joined(separator: " "))` exited \(status): \(output.trimmingCharacters(in: .whitespacesAndNewlines))" }
    }

    /// The first of the usual places that holds `name` (test runners often have no /usr/sbin on PATH).
    static func tool(_ name: String) -> String {
        for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return name
    }

    static let ipPath = tool("ip")
    static let iptablesPath = tool("iptables")

    /// Runs `arguments` (the first is the executable); answers stdout and stderr together.
    @discardableResult
    static func run(_ arguments: [String], check: Bool = true) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        if check && process.terminationStatus != 0 {
            throw Failure(arguments: arguments, status: process.terminationStatus, output: output)
        }
        return output
    }

    /// `ip …` in the root namespace.
    @discardableResult
    static func ip(_ arguments: String..., check: Bool = true) throws -> String {
        try run([ipPath] + arguments, check: check)
    }

    /// `iptables -w …` inside a namespace.
    @discardableResult
    static func iptables(in namespace: String, _ arguments: [String], check: Bool = true) throws -> String {
        try run([ipPath, "netns", "exec", namespace, iptablesPath, "-w"] + arguments, check: check)
    }
}

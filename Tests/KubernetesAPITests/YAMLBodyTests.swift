@testable import PeerDaemon
import ResourceModel
import Testing

/// YAML request bodies through the project's own reader: what kubectl sends parses, and a mistake comes back
/// as a 400 Status that names the line and column.
@Suite("YAML request bodies")
struct YAMLBodyTests {
    static func message(_ body: String) -> String? {
        do {
            _ = try YAMLBody.parse(Array(body.utf8))
            return nil
        } catch let error as APIError {
            #expect(error.status.code == 400 && error.status.reason == "BadRequest")
            return error.status.message
        } catch {
            Issue.record("not an APIError: \(error)")
            return nil
        }
    }

    @Test("each kind of failure keeps its message")
    func failures() {
        #expect(Self.message("") == "the request body is empty")
        #expect(Self.message("# just a comment\n") == "the request body is empty")
        #expect(Self.message("metadata:\n  name: a\n  name: b\n")
            == "the request body is not valid YAML: line 3, column 3: mapping keys must be unique: 'name' appears at lines 2 and 3")
        #expect(Self.message("a: [1, 2\n") == "the request body is not valid YAML: line 2, column 1: unterminated flow sequence started at line 1")
        #expect(Self.message(String(repeating: "[", count: 200))?.hasPrefix("the request body nests too deeply") == true)
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 { bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(Self.message(bomb)?.hasPrefix("the request body expands to too many YAML nodes") == true)
        #expect(Self.message("{[a]: 1}") == "the request body is not valid YAML: line 1, column 2: mapping keys must be strings")
    }

    @Test("a kubectl-style manifest reads into the JSON tree the API stores")
    func manifest() throws {
        let body = """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: web
              annotations:
                note: |
                  two
                  lines
            spec:
              replicas: 2
              template:
                spec:
                  containers:
                  - name: web
                    image: nginx:1.25
                    args: ["--port", "80"]
                    env:
                    - {name: A, value: "1"}
            """
        let value = try YAMLBody.parse(Array(body.utf8))
        #expect(value["metadata"]?["annotations"]?["note"] == "two\nlines\n")
        #expect(value["spec"]?["replicas"] == 2)
        #expect(value["spec"]?["template"]?["spec"]?["containers"]?[0] == ["name": "web", "image": "nginx:1.25", "args": ["--port", "80"], "env": [["name": "A", "value": "1"]]])
        #expect(value.objectValue?.keys == ["apiVersion", "kind", "metadata", "spec"])
    }
}

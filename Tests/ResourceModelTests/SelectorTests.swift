import Testing
@testable import ResourceModel

@Suite struct SelectorTests {
    let labels = ["app": "web", "tier": "fe", "version": "3"]

    @Test(arguments: [
        ("app=web", true), ("app==web", true), ("app!=web", false), ("app!=db", true),
        ("tier in (fe,be)", true), ("tier in (be)", false), ("tier notin (be)", true), ("tier notin (fe, be)", false),
        ("app", true), ("!app", false), ("missing", false), ("!missing", true), ("missing!=x", true),
        ("app=web,tier=fe", true), ("app=web,tier=be", false), ("", true), ("  app = web ", true),
        ("version>2", true), ("version<3", false), ("app=", false), ("missing=", false), ("missing in (a)", false),
        ("missing notin (a)", true),
    ])
    func evaluates(text: String, expected: Bool) throws {
        let s = try LabelSelectorMatcher(parsing: text)
        #expect(s.matches(labels) == expected, "\(text)")
    }

    @Test(arguments: [
        ("app in fe", "unable to parse requirement: found 'fe', expected: '('"),
        ("app in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'"),
        ("app in (a", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("=x", "unable to parse requirement: found '=', expected: identifier"),
        ("app x", "unable to parse requirement: found 'x', expected: in, notin, =, ==, !=, gt, lt"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a>b", "unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer"),
        ("app,", "unable to parse requirement: found '', expected: identifier"),
    ])
    func parseErrors(text: String, message: String) {
        do {
            _ = try LabelSelectorMatcher(parsing: text)
            Issue.record("expected error for \(text)")
        } catch {
            #expect(error.message == message, "\(text)")
        }
    }

    @Test func invalidKeysAndValues() {
        #expect(throws: SelectorError.self) { try LabelSelectorMatcher(parsing: "bad key=x") }
        #expect(throws: SelectorError.self) { try LabelSelectorMatcher(parsing: "a=-x") }
        #expect(throws: SelectorError.self) { try LabelSelectorMatcher(parsing: "a/b/c=x") }
    }

    @Test func canonicalString() throws {
        #expect(try LabelSelectorMatcher(parsing: "tier in (fe,be),app=web,!x").description == "app=web,tier in (be,fe),!x")
        let structured = LabelSelector(matchLabels: ["app": "web"], matchExpressions: [LabelSelectorRequirement(key: "env", operator: "NotIn", values: ["prod"])])
        #expect(try LabelSelectorMatcher(structured).description == "app=web,env notin (prod)")
    }

    @Test func structuredSelector() throws {
        let s = LabelSelector(matchLabels: ["app": "web"], matchExpressions: [
            LabelSelectorRequirement(key: "tier", operator: "In", values: ["fe", "be"]),
            LabelSelectorRequirement(key: "canary", operator: "DoesNotExist"),
            LabelSelectorRequirement(key: "version", operator: "Exists"),
        ])
        let m = try LabelSelectorMatcher(s)
        #expect(m.matches(labels))
        #expect(!m.matches(labels.merging(["canary": "1"]) { a, _ in a }))
        #expect(!m.matches(["app": "web", "tier": "fe"]))
        #expect(try LabelSelectorMatcher(LabelSelector()).matches([:]))
        #expect(try !LabelSelectorMatcher.from(nil).matches([:]))
        #expect(throws: SelectorError.self) { try LabelSelectorMatcher(LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "a", operator: "Near")])) }
        #expect(throws: SelectorError.self) { try LabelSelectorMatcher(LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "a", operator: "In", values: [])])) }
        #expect(throws: SelectorError.self) { try LabelSelectorMatcher(LabelSelector(matchExpressions: [LabelSelectorRequirement(key: "a", operator: "Exists", values: ["x"])])) }
    }

    @Test func nodeSelectorRequirements() {
        let node = ["zone": "a", "cores": "8"]
        #expect(NodeSelectorRequirement(key: "zone", operator: "In", values: ["a", "b"]).matches(node))
        #expect(!NodeSelectorRequirement(key: "zone", operator: "NotIn", values: ["a"]).matches(node))
        #expect(NodeSelectorRequirement(key: "gpu", operator: "DoesNotExist").matches(node))
        #expect(NodeSelectorRequirement(key: "cores", operator: "Gt", values: ["4"]).matches(node))
        #expect(!NodeSelectorRequirement(key: "cores", operator: "Lt", values: ["4"]).matches(node))
        #expect(!NodeSelectorRequirement(key: "cores", operator: "Gt", values: ["x"]).matches(node))
        let term = NodeSelectorTerm(matchExpressions: [NodeSelectorRequirement(key: "zone", operator: "Exists")],
                                    matchFields: [NodeSelectorRequirement(key: "metadata.name", operator: "In", values: ["n1"])])
        #expect(term.matches(nodeLabels: node, nodeName: "n1"))
        #expect(!term.matches(nodeLabels: node, nodeName: "n2"))
        #expect(!NodeSelectorTerm().matches(nodeLabels: node, nodeName: "n1"))
    }

    @Test func fieldSelectors() throws {
        let pod: JSONValue = ["metadata": ["name": "p1", "namespace": "default"], "spec": ["nodeName": "n1"], "status": ["phase": "Running"]]
        #expect(try FieldSelector(parsing: "metadata.name=p1").matches(pod))
        #expect(try FieldSelector(parsing: "metadata.name==p1,metadata.namespace=default").matches(pod))
        #expect(try !FieldSelector(parsing: "metadata.name=p2").matches(pod))
        #expect(try FieldSelector(parsing: "spec.nodeName=n1,status.phase!=Failed,status.phase!=Succeeded").matches(pod))
        #expect(try !FieldSelector(parsing: "spec.nodeName=").matches(pod))
        #expect(try FieldSelector(parsing: "spec.nodeName=").matches(["metadata": ["name": "unscheduled"]]))
        #expect(try FieldSelector(parsing: "").matches(pod))
        let event: JSONValue = ["involvedObject": ["kind": "Node", "name": "n1", "namespace": "", "uid": "n1"], "source": ["component": "kubelet"]]
        #expect(try FieldSelector(parsing: "involvedObject.name=n1,involvedObject.namespace=,involvedObject.kind=Node,involvedObject.uid=n1").matches(event))
        #expect(try FieldSelector(parsing: "source=kubelet").matches(event))
        #expect(try FieldSelector(parsing: #"metadata.name=a\,b"#).requirements.first?.value == "a,b")
        #expect(throws: SelectorError.self) { try FieldSelector(parsing: "metadata.name") }
        do {
            try FieldSelector(parsing: "spec.foo=x").validate(kind: "Pod")
            Issue.record("expected error")
        } catch {
            #expect(error.message == "field label not supported: spec.foo")
        }
        try FieldSelector(parsing: "involvedObject.uid=x").validate(kind: "Event")
        let node: JSONValue = ["metadata": ["name": "n"], "spec": [:]]
        #expect(try FieldSelector(parsing: "spec.unschedulable=false").matches(node))
    }
}

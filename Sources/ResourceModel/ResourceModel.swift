// ResourceModel: the Kubernetes resource shapes and rules shared by the API server, the scheduler,
// the controllers and the node agent. Pure data and functions: no I/O, no clocks, no global randomness.
//
// Entry points, in the order a write request uses them:
//   JSONValue.parse(_:)                      strict parser (depth/size limits, errors with byte offsets)
//   ResourceRegistry.lookup/resolve          group, version, kind, plural, short names, scope
//   Schemas.unknownFields(in:kind:)          fieldValidation=Strict|Warn
//   StrategicMergePatch / MergePatch / JSONPatch   PATCH bodies
//   Defaulting.apply(_:as:)                  kube-apiserver defaults, on the JSON tree
//   ServerFields.prepareForCreate/Update     uid, timestamps, generation, status ownership
//   Validation.validate / validateUpdate     field errors → Status.invalid (422)
//   JSONValue.decode() → Pod, Deployment, …  typed views for the parts the system reasons about
// and for reads: LabelSelectorMatcher, FieldSelector, Tables.table, Discovery, makeList, WatchEvent.

import ResourceModel

/// kube-scheduler's default preemption, simplified to what a pending pod's fit depends on here:
/// on each node where only resolvable filters failed, evict lower-priority pods, then reprieve as
/// many as possible (highest priority first) while the pod still fits.
enum Preemption {
    static func choose(for ctx: PodContext, cache: SchedulingCache) -> PreemptionDecision? {
        var best: (node: Int, highest: Int32, victims: [PodInfo])?
        for idx in cache.nodes.indices {
            let verdict = ctx.filter(at: idx, cache: cache)
            guard !verdict.fits, verdict.untoleratedTaint == nil,
                  verdict.reasons.allSatisfy(\.isResolvableByPreemption) else { continue }
            var node = cache.nodes[idx]
            let lower = node.pods.compactMap { cache.pods[$0] }.filter { $0.priority < ctx.info.priority }
            guard !lower.isEmpty else { continue }
            for p in lower { node.remove(p) }
            guard fits(ctx, node) else { continue }
            // Reprieve: most important first, so the victims are the least important pods.
            var victims: [PodInfo] = []
            for p in lower.sorted(by: { ($0.priority, $1.key) > ($1.priority, $0.key) }) {
                node.add(p)
                if !fits(ctx, node) {
                    node.remove(p)
                    victims.append(p)
                }
            }
            guard let highest = victims.map(\.priority).max() else { continue }
            if let b = best, (b.highest, b.victims.count) <= (highest, victims.count) { continue }
            best = (idx, highest, victims)
        }
        guard let best else { return nil }
        return PreemptionDecision(pod: ctx.info.key, podUID: ctx.info.uid, nodeName: cache.nodes[best.node].name,
                                  victims: best.victims.map(\.key).sorted())
    }

    static func fits(_ ctx: PodContext, _ node: NodeInfo) -> Bool {
        var v = NodeVerdict()
        if !ctx.info.hostPorts.isEmpty && !ctx.portsFree(node) { return false }
        ctx.fitResources(node, into: &v)
        return v.fits
    }
}

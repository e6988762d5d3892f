/// A test-only wrapper that makes chosen categories fail, named as such and switched on only by
/// `VQ_FAULT_FAIL`. The spec is `category:count` pairs, comma-separated; `count` is how many
/// first attempts fail, `*` means every attempt.
public struct FaultInjectingGenerator: VisionGenerator {
    public var wrapped: VisionGenerator
    public var failures: [VisionCategory: Int]

    public init?(wrapping generator: VisionGenerator, spec: String) {
        var failures: [VisionCategory: Int] = [:]
        for item in spec.split(separator: ",") {
            let parts = item.split(separator: ":")
            guard parts.count == 2, let category = VisionCategory(rawValue: String(parts[0])) else { continue }
            failures[category] = parts[1] == "*" ? Int.max : Int(parts[1]) ?? 0
        }
        guard !failures.isEmpty else { return nil }
        wrapped = generator
        self.failures = failures
    }

    public func write(_ request: GenerationRequest) throws(GenerationError) -> String {
        if let count = failures[request.category], request.attempt <= count {
            throw GenerationError("Injected failure for \(request.category.key), attempt \(request.attempt).")
        }
        return try wrapped.write(request)
    }
}

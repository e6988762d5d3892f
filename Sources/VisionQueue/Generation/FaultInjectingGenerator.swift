import Glibc

/// A test-only wrapper that makes chosen categories fail or kill their worker, named as such and
/// switched on only by `VQ_FAULT_FAIL` / `VQ_FAULT_CRASH`; without them it is never installed.
///
/// `VQ_FAULT_FAIL` is `category:count` pairs, comma-separated: the category's first `count`
/// attempts (counted across user retries) throw; `*` means every attempt. `VQ_FAULT_CRASH` is a
/// marker text: writing a category whose notes contain it kills the process (SIGKILL), as a
/// poison input that crashes its worker would, while other jobs' categories run normally.
public struct FaultInjectingGenerator: VisionGenerator {
    public var wrapped: VisionGenerator
    public var failures: [VisionCategory: Int]
    public var crashMarker: String?

    public init?(wrapping generator: VisionGenerator, spec: String, crashMarker: String = "") {
        var failures: [VisionCategory: Int] = [:]
        for item in spec.split(separator: ",") {
            let parts = item.split(separator: ":")
            guard parts.count == 2, let category = VisionCategory(rawValue: String(parts[0])) else { continue }
            failures[category] = parts[1] == "*" ? Int.max : Int(parts[1]) ?? 0
        }
        guard !failures.isEmpty || !crashMarker.isEmpty else { return nil }
        wrapped = generator
        self.failures = failures
        self.crashMarker = crashMarker.isEmpty ? nil : crashMarker
    }

    public func write(_ request: GenerationRequest, progress: GenerationProgress) throws(GenerationError) -> Generation {
        if let crashMarker, request.notes.contains(crashMarker) {
            kill(getpid(), SIGKILL)
        }
        if let count = failures[request.category], request.totalAttempts <= count {
            throw GenerationError("Injected failure for \(request.category.key), attempt \(request.totalAttempts).", reason: .injected)
        }
        return try wrapped.write(request, progress: progress)
    }
}

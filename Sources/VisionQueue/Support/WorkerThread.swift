import Glibc

/// Starts a detached OS thread running `body`. Foundation's Thread would do, but the worker
/// binaries do not load Foundation, to stay small.
public enum WorkerThread {
    private final class Box {
        let body: () -> Void
        init(body: @escaping () -> Void) { self.body = body }
    }

    @discardableResult
    public static func start(_ body: @escaping @Sendable () -> Void) -> pthread_t {
        let box = Unmanaged.passRetained(Box(body: body)).toOpaque()
        var thread = pthread_t()
        let code = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(code == 0, "pthread_create failed: \(code)")
        pthread_detach(thread)
        return thread
    }
}

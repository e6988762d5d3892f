import Glibc
import Synchronization

/// The process's one `SQLiteWriter` per database file.
///
/// Keyed by the file itself (device and inode), not by the path it was opened with nor by any
/// setting: `./data/db`, `data//db` and a symlink to it are one file with one write lock, and two
/// writers on it in one process would queue in SQLite's busy handler again instead of in their
/// group commit. A writer lives while a connection uses it; the next one opens a fresh one.
enum SQLiteWriterRegistry {
    private final class WeakReference {
        weak var writer: SQLiteWriter?
        init(_ writer: SQLiteWriter) { self.writer = writer }
    }

    private struct FileIdentity: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private static let writers = Mutex<[FileIdentity: WeakReference]>([:])

    /// The writer for the database at `path`, opened on first use.
    static func writer(path: String, busyTimeoutMillis: Int32) throws(StoreError) -> SQLiteWriter {
        try writers.withLock { writers throws(StoreError) -> SQLiteWriter in
            if let identity = identity(of: path), let writer = writers[identity]?.writer { return writer }
            // None open yet, or no file yet: the writer's handle creates it, and so gives it its identity.
            let writer = try SQLiteWriter(path: path, busyTimeoutMillis: busyTimeoutMillis)
            guard let identity = identity(of: path) else {
                throw StoreError.backend(code: SQLiteHandle.codeName(14), message: "cannot stat \(path): errno \(errno)")
            }
            writers = writers.filter { $0.value.writer != nil }
            writers[identity] = WeakReference(writer)
            return writer
        }
    }

    private static func identity(of path: String) -> FileIdentity? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
    }

    /// Writers open in this process (for tests).
    static var openWriters: Int {
        writers.withLock { writers in writers.values.filter { $0.writer != nil }.count }
    }
}

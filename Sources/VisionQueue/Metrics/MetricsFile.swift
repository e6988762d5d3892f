import Glibc
import Synchronization

/// One process's counters, in a small file mapped into memory and shared with whoever reads it.
///
/// Why a file: a worker's counts must outlive the worker. Every binary runs as several processes,
/// and `vision-queue serve` (or systemd) replaces any that dies; a scrape sums every file in the
/// folder, so a count survives its process, and a replacement process takes over a file whose owner
/// is gone (its lock is free) and counts on from there. The files are as many as the most processes
/// ever alive at once.
///
/// Layout (native byte order, one machine): a 64-byte header (magic, entries published), then
/// entries of 128 bytes (value, kind, key length, key). Only the owner appends; it writes an entry
/// before publishing the count, so a reader sees whole entries only. Values are 64-bit atomics,
/// which are address-free: the same memory is counted by the owner's threads and read by others.
final class MetricsFile: @unchecked Sendable {
    /// What an entry holds, which decides how a scrape combines entries of several files.
    enum EntryKind: UInt8 {
        /// Summed over every file, dead owners' included.
        case counter = 1
        /// A level (Int64); summed over live owners only.
        case gauge = 2
        /// A counter of nanoseconds, shown in seconds (a histogram's `_sum`).
        case nanoseconds = 3
    }

    struct Entry {
        var key: String
        var kind: EntryKind
        var value: UInt64
    }

    static let magic: UInt64 = 0x3130_4352_544D_5156  // "VQMTRC01"
    static let headerSize = 64
    static let entrySize = 128
    static let maxKeyBytes = entrySize - 10
    static let capacity = 2_048
    static let fileSize = headerSize + capacity * entrySize
    static let suffix = ".counters"

    let path: String
    private let fd: Int32
    private let base: UnsafeMutableRawPointer
    let writable: Bool

    private init(path: String, fd: Int32, base: UnsafeMutableRawPointer, writable: Bool) {
        self.path = path
        self.fd = fd
        self.base = base
        self.writable = writable
    }

    deinit {
        munmap(base, Self.fileSize)
        close(fd)
    }

    private var magicWord: UnsafeMutablePointer<Atomic<UInt64>> { base.assumingMemoryBound(to: Atomic<UInt64>.self) }
    private var published: UnsafeMutablePointer<Atomic<UInt64>> { (base + 8).assumingMemoryBound(to: Atomic<UInt64>.self) }
    private func entry(_ index: Int) -> UnsafeMutableRawPointer { base + Self.headerSize + index * Self.entrySize }
    func value(at index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> { entry(index).assumingMemoryBound(to: Atomic<UInt64>.self) }

    var count: Int { Int(min(published.pointee.load(ordering: .acquiring), UInt64(Self.capacity))) }

    /// Takes over a file in `directory` whose owner is gone, or makes a new one; holds its lock
    /// until the process exits. Gauges left by the previous owner are zeroed: they were its levels.
    static func adopt(in directory: String) throws(MetricsError) -> MetricsFile {
        mkdir(directory, 0o750)
        for name in fileNames(in: directory) {
            let path = directory + "/" + name
            let fd = open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { continue }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
                close(fd)
                continue
            }
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_size == off_t(fileSize), let file = map(path: path, fd: fd, writable: true),
                file.magicWord.pointee.load(ordering: .acquiring) == magic
            else {
                close(fd)
                continue
            }
            for index in 0..<file.count where file.kind(at: index) == .gauge {
                file.value(at: index).pointee.store(0, ordering: .relaxed)
            }
            return file
        }
        for number in 0..<10_000 {
            let path = "\(directory)/\(number)\(suffix)"
            let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                if errno == EEXIST { continue }
                throw MetricsError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, ftruncate(fd, off_t(fileSize)) == 0,
                let file = map(path: path, fd: fd, writable: true)
            else {
                close(fd)
                unlink(path)
                throw MetricsError("cannot set up \(path)")
            }
            // Published last: a reader skips a file whose magic is not there yet.
            file.magicWord.pointee.store(magic, ordering: .releasing)
            return file
        }
        throw MetricsError("no free metrics file in \(directory)")
    }

    /// Every file of the folder, for reading; `isLive` tells whether a process owns it now.
    static func openAll(in directory: String) -> [(file: MetricsFile, isLive: Bool)] {
        fileNames(in: directory).compactMap { name in
            let path = directory + "/" + name
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_size == off_t(fileSize), let file = map(path: path, fd: fd, writable: false),
                file.magicWord.pointee.load(ordering: .acquiring) == magic
            else {
                close(fd)
                return nil
            }
            // A shared lock is refused while the owner holds its exclusive one.
            let isLive = flock(fd, LOCK_SH | LOCK_NB) != 0
            if !isLive { flock(fd, LOCK_UN) }
            return (file, isLive)
        }
    }

    private static func fileNames(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(suffix) { names.append(name) }
        }
        return names.sorted()
    }

    private static func map(path: String, fd: Int32, writable: Bool) -> MetricsFile? {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let base = mmap(nil, fileSize, protection, MAP_SHARED, fd, 0), base != MAP_FAILED else { return nil }
        return MetricsFile(path: path, fd: fd, base: base, writable: writable)
    }

    func kind(at index: Int) -> EntryKind? { EntryKind(rawValue: entry(index).load(fromByteOffset: 8, as: UInt8.self)) }

    func key(at index: Int) -> String {
        let start = entry(index)
        let length = min(Int(start.load(fromByteOffset: 9, as: UInt8.self)), Self.maxKeyBytes)
        return String(decoding: UnsafeRawBufferPointer(start: start + 10, count: length), as: UTF8.self)
    }

    /// Every published entry, for a scrape.
    func entries() -> [Entry] {
        (0..<count).compactMap { index in
            guard let kind = kind(at: index) else { return nil }
            return Entry(key: key(at: index), kind: kind, value: value(at: index).pointee.load(ordering: .relaxed))
        }
    }

    /// The index of every published key, for an owner that took the file over.
    func index() -> [String: Int] {
        var keys: [String: Int] = [:]
        for index in 0..<count { keys[key(at: index)] = index }
        return keys
    }

    /// Appends a new entry (the caller serializes appends and checked the key is new); nil when
    /// the file is full or the key too long.
    func append(key: String, kind: EntryKind) -> Int? {
        precondition(writable)
        let bytes = Array(key.utf8)
        let index = count
        guard bytes.count <= Self.maxKeyBytes, index < Self.capacity else { return nil }
        let start = entry(index)
        value(at: index).pointee.store(0, ordering: .relaxed)
        start.storeBytes(of: kind.rawValue, toByteOffset: 8, as: UInt8.self)
        start.storeBytes(of: UInt8(bytes.count), toByteOffset: 9, as: UInt8.self)
        bytes.withUnsafeBytes { (start + 10).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        published.pointee.store(UInt64(index + 1), ordering: .releasing)
        return index
    }
}

public struct MetricsError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

import FoundationEssentials

extension FileManager {
    /// Creates the folder a file will live in (and its parents), if the path names one: for the
    /// database and the FastCGI sockets, whose folders a fresh data directory does not have yet.
    public func createParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        try createDirectory(atPath: String(path[..<slash]), withIntermediateDirectories: true)
    }
}

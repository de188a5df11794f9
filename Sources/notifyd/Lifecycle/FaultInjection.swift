import Foundation

/// Faults the tests inject into a real `notifyd` process to prove that a bug we have not found yet cannot stop
/// ingestion. Debug builds only: a release build (`swift build -c release`, what `deploy/install.sh` installs)
/// contains none of this, whatever its environment says.
enum FaultInjection {
    #if DEBUG
        /// `NOTIFYD_FAULT_CRASH_ON`: a byte string; an event whose body contains it stops the process with a trap,
        /// as a bug in validation or rendering would.
        private static let crashMarker: [UInt8]? = ProcessInfo.processInfo.environment["NOTIFYD_FAULT_CRASH_ON"]
            .flatMap { $0.isEmpty ? nil : Array($0.utf8) }

        static func crashIfRequested(by body: [UInt8]) {
            guard let crashMarker, body.firstRange(of: crashMarker) != nil else { return }
            fatalError("injected fault: NOTIFYD_FAULT_CRASH_ON matched an event body")
        }
    #else
        @inline(__always) static func crashIfRequested(by body: [UInt8]) {}
    #endif
}

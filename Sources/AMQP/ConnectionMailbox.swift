import CRabbitMQ
import Foundation
import Synchronization

/// Where callers post commands for a connection's owner thread, and where that thread sleeps.
///
/// Any thread may `post`; only the owner thread `take`s and `sleep`s. The thread sleeps in `poll` on the socket
/// and an eventfd that the first post into an empty mailbox writes, so a command is picked up at once and the
/// thread never spins.
final class ConnectionMailbox<Command>: Sendable where Command: Sendable {
    private struct Box {
        var commands: [Command] = []
        /// True from `open()` until `close()`: posts outside that window are refused.
        var accepting = false
    }

    private let box = Mutex(Box())
    private let wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))

    deinit {
        Glibc.close(wakeFD)
    }

    /// Starts accepting posts; false when the mailbox was opened before (a connection starts once).
    func open() -> Bool {
        box.withLock { box in
            defer { box.accepting = true }
            return !box.accepting
        }
    }

    /// Posts commands to run in order in one turn of the thread; false (nothing posted) once closed.
    func post(_ commands: [Command]) -> Bool {
        let wake: Bool? = box.withLock { box in
            guard box.accepting else { return nil }
            let wasEmpty = box.commands.isEmpty
            box.commands += commands
            return wasEmpty
        }
        if wake == true {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
        return wake != nil
    }

    /// Everything posted since the last call, in order.
    func take() -> [Command] {
        box.withLock { box in
            defer { box.commands.removeAll(keepingCapacity: true) }
            return box.commands
        }
    }

    /// Stops accepting posts and returns what was posted but not taken, for the caller to fail.
    func close() -> [Command] {
        box.withLock { box in
            box.accepting = false
            defer { box.commands.removeAll() }
            return box.commands
        }
    }

    /// Waits until `socket` is readable, a post arrives, `deadline` or `maxSleep` passes, whichever is first.
    func sleep(socket: Int32?, until deadline: ContinuousClock.Instant?, maxSleep: Duration) {
        var wait = maxSleep
        if let deadline { wait = min(wait, max(.zero, deadline - .now)) }
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        if let socket, socket >= 0 { fds.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0)) }
        let milliseconds = Int32(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)
        _ = poll(&fds, nfds_t(fds.count), max(milliseconds, 0))
        if fds[0].revents != 0 {
            var drained: UInt64 = 0
            _ = read(wakeFD, &drained, 8)
        }
    }
}

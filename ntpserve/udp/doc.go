// Package udp is the socket edge of the NTP server: it receives datagrams, stamps them with the kernel's
// receive time, hands each to a Handler (the pure ntpserve core) and sends the replies. It decides
// nothing about NTP; it only moves bytes between the kernel and the handler, as fast and as early/late
// in time as the kernel allows.
//
// # Sockets
//
// Each listen address gets Config.SocketsPerAddr sockets bound to the same address and port with
// SO_REUSEPORT; the kernel spreads clients over them by a hash of the 4-tuple, so every core can
// answer. One goroutine serves each socket, locked to its OS thread, on a blocking file descriptor:
// a blocked recvmmsg costs no scheduler work and the thread wakes directly in the syscall when a
// datagram arrives. With one socket per address SO_REUSEPORT is left off; with several, an exclusive
// probe bind first checks that nobody else holds the port (otherwise a second process of the same user
// could silently join our group and steal half the traffic) and resolves port 0 to a concrete port.
//
// IPv6 sockets set IPV6_V6ONLY, so "[::]:123" and "0.0.0.0:123" are two independent sockets and the
// handler never sees v4-mapped addresses. An empty host (":123") means both wildcards; the IPv6 one is
// skipped if the host has no IPv6.
//
// # Timestamps
//
// SO_TIMESTAMPNS makes the kernel attach the CLOCK_REALTIME time at which it queued the datagram
// (struct timespec in an SCM_TIMESTAMPNS control message). It is mapped onto the served timescale with
// ServedClock.FromKernel; a datagram without one (it should not happen) gets ServedClock.Now(), which
// is later and so only overstates the server's processing time. Queueing in the socket buffer
// therefore costs no accuracy: it lies between the receive and transmit timestamps, which the client
// subtracts. The transmit timestamp is the handler's business: it reads the clock as its last step.
//
// # Batching, and its trade-off
//
// recvmmsg is called with MSG_WAITFORONE: it blocks for the first datagram, then takes whatever else is
// already queued, up to Config.Batch, without waiting. At low load a batch is one datagram, so the
// reply leaves one sendmmsg after the handler stamped it: the transmit timestamp is as late as it can
// be. Under load, batches form by themselves and one pair of syscalls serves many requests; the price
// is that the reply to the first request of a batch waits while the handler answers the others, so its
// transmit timestamp is early by up to (Batch-1) handler runs (a few microseconds at Batch=32 with a
// handler of ~100 ns). The client reads that as path asymmetry: an offset error of half the wait.
// The wait also includes the kernel's work on the replies ahead of it in the same sendmmsg: on loopback,
// where the sender also pays the receiver's side of the stack, that is about 3 us per reply on the 2-core
// test VM, so it dominates the handler's share. Batching never waits for a batch to fill, so a lightly
// loaded server never pays it; a smaller Batch bounds it under load at the cost of more syscalls.
//
// A handler whose replies have a costly part that does not depend on the transmit time (NTS: opening the
// cookie, checking the authenticator, sealing fresh cookies; about 2 us a request) implements Preparer,
// and its batches go in two passes: Prepare for every datagram, then Finish for each, which reads the
// transmit timestamp and does only what must follow it (NTS: the header and the sealing of the reply,
// about half a microsecond). Handled one by one, the first reply of a full batch of NTS requests left more
// than 60 us after its transmit timestamp, an offset error of 30 us for that client; in two passes it
// waits only for the other replies' Finish.
//
// Handling is bounded in time as well (Config.FlushAfter, 20 us by default): once the replies held back
// have waited that long for the rest of the batch, they are sent before the next reply is handled. A
// plain NTP reply takes a tenth of a microsecond and an NTS Finish half of one, so on the test VM a batch
// of 32 stays within the bound and leaves in one sendmmsg; the bound is for slower CPUs (a Pi is several
// times slower) and handlers without a Preparer, where it keeps the handler's share of the error under
// 10 us, below a LAN's own jitter, for one sendmmsg more per bound's worth of replies (Stats.Flushes
// counts them). The kernel's share of the wait (the replies ahead in the same sendmmsg) is not bounded
// this way; it is what a reply costs the kernel, a few microseconds each.
//
// # System calls and the Go scheduler
//
// A goroutine that enters a system call through syscall.Syscall tells the scheduler, which after 20 us
// hands its P to another thread (sysmon's "retake") and must take one back when the call returns. Under
// load every recvmmsg and sendmmsg lasts longer than that (a sendmmsg of 32 replies on loopback runs the
// receivers' side of the stack too), so sysmon kept waking every 20 us to retake the P, on the same CPU
// as the server when it is pinned to one: 5 % of the server's CPU and a context switch per batch in a
// perf profile at 200k requests/s. So each loop first calls recvmmsg with MSG_DONTWAIT, and sendmmsg
// with MSG_DONTWAIT, as raw system calls that cannot block and so need not tell the scheduler; only when
// the queue is empty (EAGAIN) does recvmmsg block with MSG_WAITFORONE through the scheduler-aware path,
// and likewise a sendmmsg that finds the socket buffer full. Under load the raw calls almost always
// succeed; at low load the price is one extra non-blocking recvmmsg per wake-up, after the replies left.
// Measured with perf on the pinned benchmark at saturation: sysmon's thread fell from 3.7 % to 0.6 % of
// the server's CPU samples and the kernel's context-switch path from 3.0 % to 0.5 %.
//
// A raw call holds its P while it runs, and a loop that always finds datagrams never gives its P up on
// its own; Go's asynchronous preemption still interrupts it after 10 ms (the signal ends a call with
// EINTR, which the loop retries). So when more sockets are busy at once than there are Ps (GOMAXPROCS;
// an empty host opens SocketsPerAddr sockets for each of IPv4 and IPv6), busy loops and the rest of the
// program share the Ps in slices of up to 10 ms rather than at every system call. A program that expects
// floods on every socket at once should set GOMAXPROCS above the number of sockets, so that the kernel
// shares the CPUs between the threads instead.
//
// # Wildcard addresses
//
// A socket bound to a wildcard address asks for IP_PKTINFO / IPV6_RECVPKTINFO and answers with the
// request's local address as the reply's source (IP_PKTINFO ipi_spec_dst, IPV6_PKTINFO ipi6_addr), so a
// host with several addresses answers from the one the client asked; clients drop replies from another
// address.
//
// # What the edge drops and counts
//
// Datagrams larger than Config.MaxDatagram (MSG_TRUNC), replies the handler sized wrongly (negative or
// larger than the request: a reply is never larger than its request), and send errors are counted in
// Stats and never logged per packet. Everything about the content of a datagram is the handler's job.
//
// # Shutdown
//
// Close (or cancelling Serve's context) sets a stop flag and calls shutdown(SHUT_RD) on every socket:
// Linux then returns at once from a recvmmsg blocked on that socket, and from every later one. The
// loops see the flag and return; only after all of them have returned are the file descriptors
// closed, so a descriptor number is never reused while a thread still uses it. A one-second
// SO_RCVTIMEO is a backstop for kernels that would not wake the receiver.
//
// # Allocation
//
// All buffers (datagrams, replies, socket addresses, control messages, mmsghdr arrays) are allocated
// once per socket; the per-packet path allocates nothing. The client's socket address is not even
// converted for the reply: the kernel-filled sockaddr is reused as the reply's destination.
//
// On other systems (_other.go) a portable fallback uses net.ListenUDP: one socket per address, no
// kernel timestamps (clock.Now() at read), no batching and no source-address control on wildcard binds.
// It exists so the tree builds and runs on a developer's machine; the appliance runs Linux.
//
// Dependency: golang.org/x/sys/unix, for recvmmsg/sendmmsg, the mmsghdr layout of every architecture
// and the socket option constants, which the standard library's syscall package lacks or has frozen.
package udp

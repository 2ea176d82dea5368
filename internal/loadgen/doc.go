// Package loadgen is the project's NTP load generator: it sends NTPv4 client requests (mode 3) to a
// server on loopback and measures how many are answered, how many are lost, and the response time
// distribution. cmd/ntpload is its command line; scripts/bench.sh runs it against gpsntpd and chronyd.
//
// # Loopback only, bounded
//
// A load generator aimed at someone else's server is a flood. Run refuses any target outside
// 127.0.0.0/8 and ::1, and every run is bounded by a duration (at most MaxDuration) and a request count
// (at most MaxMaxRequests).
//
// # No per-request state
//
// A request carries its own send time in the transmit timestamp field, XORed with a random per-run key
// (so stray or forged replies decode to nonsense and are counted as bad). The server copies the field
// into the reply's origin timestamp, which gives back the send time; the reply's arrival time is the
// kernel's receive timestamp (SO_TIMESTAMPNS), so the generator's own delay in reading replies does
// not count. Nothing is remembered per request, so the generator's memory and cache footprint do not
// grow with the rate. The price: a reply that is duplicated counts twice, and loss is only known as a
// total (sent minus answered after a drain period), not per request.
//
//	request (48 bytes, all zero but):
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+
//	|LI0|VN4| mode 3|                                          byte 0 = 0x23
//	+-+-+-+-+-+-+-+-+
//	...
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           transmit timestamp = send time (ns) XOR key         |  bytes 40-47
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	reply: mode 4, and the origin timestamp (bytes 24-31) carries the value back.
//
// The send time is an estimate: a batch of datagrams goes out in one sendmmsg call, which delivers
// them one after the other (on loopback, all the way into the server's socket). Datagram i of a batch
// is stamped with the call's start plus i times the mean cost per datagram measured on earlier calls,
// rather than with the call's start, which would overstate late datagrams' response time by up to the
// length of the call. Send and receive times are both wall-clock (CLOCK_REALTIME, the clock of kernel
// receive timestamps); a step of the host clock during a run spoils the response times around it.
//
// # Two ways to load
//
// Open loop (Config.Rate > 0): requests leave at the given rate whatever the server does, in small
// bursts (at most every PaceQuantum), which is how many independent clients behave; loss shows that
// the server is saturated. Closed loop (Rate 0): keep Config.Window requests outstanding and send a new
// one for each reply, which finds the saturation throughput without flooding the server's queue. If no
// reply comes for StallTimeout, the outstanding requests are presumed lost and the window refills.
//
// # Speed
//
// One thread, locked to its OS thread, drives several connected non-blocking sockets (several source
// ports, so a server with SO_REUSEPORT spreads them) with sendmmsg and recvmmsg batches over
// preallocated buffers, and sleeps in ppoll only when there is nothing to send or receive. Where the
// kernel has UDP GSO (UDP_SEGMENT, Linux 4.18+), a run of requests goes out as one message that the
// receiving socket splits into separate datagrams: the server still sees one datagram per request,
// from the same source port, but the generator's send path runs once per run rather than once per
// request, which roughly quadruples the send rate of one core. Measured on loopback, a GSO-split
// datagram occupies about 6 % more of the server's receive buffer (880 rather than 832 bytes), so the
// server's queue holds slightly fewer of them; -gso=false turns it off. The
// response-time histogram is a fixed array (log-linear buckets, HDR style), so a sample costs no
// allocation. Replies the generator's own sockets dropped (their receive buffer overflowed) are
// reported separately (SO_RXQ_OVFL), so they are not blamed on the server.
//
// On systems other than Linux a portable fallback with one net.UDPConn and no kernel timestamps is
// used; its figures are not comparable.
package loadgen

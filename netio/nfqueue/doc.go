// Package nfqueue is the device of fwd's nfqueue dataplane: a client of
// Linux's nfnetlink_queue (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_QUEUE)
// spoken directly over a github.com/mdlayher/netlink socket. The kernel
// routes; it hands fwd each packet at the hooks netio/steer's rules name,
// and fwd returns a verdict, optionally with a new mark and a rewritten
// packet.
//
// Place in the flow: the worker of queue N calls ReadBatch, copies each
// Msg.Payload into a pooled packet.Packet (Hook from Msg.PacketHook,
// Meta = Msg.ID), runs the pipeline from that hook, and answers every
// packet with Verdict: Accept (with the rewritten datagram when a stage
// changed it, e.g. NAT) or Drop; then Flush. One queue = one worker
// goroutine = one socket; several queues spread flows over the cores
// (see netio/steer for how the kernel picks a queue).
//
// Protocol (include/uapi/linux/netfilter/nfnetlink_queue.h):
//
//   - Open sends one NFQNL_MSG_CONFIG carrying NFQNL_CFG_CMD_BIND,
//     NFQA_CFG_PARAMS (NFQNL_COPY_PACKET, range 0xffff), NFQA_CFG_QUEUE_MAXLEN
//     and NFQA_CFG_FLAGS/MASK (NFQA_CFG_F_GSO, NFQA_CFG_F_FAIL_OPEN) and
//     waits for its acknowledgement; packets that arrive before the ack go
//     back with NF_REPEAT and come round again. A PF_BIND (needed before
//     Linux 3.8, a no-op since) goes first, its error ignored.
//   - The kernel sends one NFQNL_MSG_PACKET per datagram: NFQA_PACKET_HDR
//     (id, hw_protocol, hook), NFQA_MARK, NFQA_IFINDEX_INDEV/OUTDEV,
//     NFQA_HWADDR, NFQA_SKB_INFO, NFQA_CAP_LEN, NFQA_PAYLOAD; others are
//     skipped.
//   - Verdicts are NFQNL_MSG_VERDICT (NFQA_VERDICT_HDR, NFQA_MARK,
//     NFQA_PAYLOAD) or NFQNL_MSG_VERDICT_BATCH, which the kernel applies to
//     every packet it holds with an id up to the one named.
//   - Close sends NFQNL_CFG_CMD_UNBIND; the kernel drops what it still
//     holds.
//
// Verdict batching: Verdict only buffers. Flush sorts the buffered
// verdicts by id and walks them beside the FIFO of ids read and not yet
// answered (idFIFO; receive order is id order). A run that starts at the
// oldest unanswered id and continues through the next unanswered ids with
// the same verdict and mark and no payload becomes one VERDICT_BATCH
// naming the run's last id; because the run covers every unanswered id up
// to that one, the batch cannot sweep a packet that is held back, answered
// differently, or still unread. Anything else (a payload, a different
// verdict, a gap left by a held packet) is a single VERDICT. All messages
// of one Flush go in as few write(2) calls as the socket send buffer
// allows (one, normally). In the common case, a batch read in order and
// all accepted without rewriting, one Flush is one message.
//
// When to flush: ReadBatch itself flushes before it blocks, that is
// whenever the socket has nothing more to read. Waiting for a full batch
// instead would hold back the ACKs of a TCP flow until more data came,
// which never comes: the flow stalls. Workers call Flush after each batch
// as well, so verdicts never wait for the next packet.
//
// Errors: the kernel reports a failed verdict (e.g. ENOENT, an unknown id)
// with an NLMSG_ERROR on the receive side; NETLINK_CAP_ACK keeps that
// reply short. ReadBatch counts such replies and malformed messages in
// Stats and carries on. A socket overrun (ENOBUFS: the kernel could not
// deliver a packet to us and dropped it, or with FailOpen accepted it) is
// counted and the read continues; nothing of this is fatal. Only Close
// (ErrClosed), a deadline (SetReadDeadline) or a broken socket end
// ReadBatch with an error.
//
// Allocation and ownership: after the first batches have sized the
// buffers (one receive buffer per batch slot, CopyRange + 4 KiB each; the
// verdict and payload buffers), ReadBatch, Verdict and Flush allocate
// nothing (TestReceiveVerdictNoAllocs). Msg.Payload aliases the queue's
// receive buffer and is valid until the next ReadBatch; it may be rewritten
// in place and passed back to Verdict, which copies it. The socket is read
// with recvfrom(2) through the netlink Conn's syscall.RawConn, so the Go
// runtime poller does the blocking and Close wakes a blocked reader.
//
// Goroutines: none. ReadBatch, Verdict, Flush and Outstanding belong to
// one goroutine; Stats, SetReadDeadline and Close may be called from any.
//
// Kernel notes for callers that rewrite packets: with Options.GSO a packet
// may be larger than the MTU and carry a partial checksum
// (Msg.ChecksumNotReady); nfqnl_mangle marks any rewritten packet
// CHECKSUM_NONE, so a rewritten packet must carry a complete, correct
// checksum. Recent kernels (nfnetlink_queue "restrict writes to network
// header", 2026) drop a rewritten IPv4 packet whose total length does not
// match its size, whose fragment bits (other than DF) or IP options
// changed; a failed rewrite is a silent drop, not an error reply. Rewrites
// are refused (EPERM) in network namespaces owned by a non-initial user
// namespace.
package nfqueue

// Package log is the rules.target.log plugin: action = "log" writes the
// packet in the kernel's LOG line format (nf_log_syslog.c
// dump_ipv4_packet) and goes on with the next rule (non-terminal):
//
//	ssh-flood: IN=lan0 OUT= MAC=... SRC=192.168.1.20 DST=192.168.1.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=40000 DPT=22 WINDOW=64240 RES=0x00 SYN URGP=0
//
// Keys: log_prefix (at most 29 bytes, as iptables), log_level (0..7,
// listed only), log_limit (default "5/second"; "none" to log every
// packet) and log_burst (default 10): lines beyond the rate are not
// written. Lines go to the io.Writer shared under rules.LogWriterKey, else
// to the pipeline's slog logger. Formatting a line allocates; a rate-limited
// packet allocates nothing.
package log

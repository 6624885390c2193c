// One program per section family, to check program types, attach types and targets.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp/syscalls/sys_enter_openat") int s_tp(void *ctx) { return 0; }
SEC("tracepoint/sched/sched_switch") int s_tracepoint(void *ctx) { return 0; }
SEC("raw_tp/sched_switch") int s_raw_tp(void *ctx) { return 0; }
SEC("raw_tracepoint.w/bpf_test_finish") int s_raw_tp_w(void *ctx) { return 0; }
SEC("tp_btf/sched_switch") int s_tp_btf(void *ctx) { return 0; }
SEC("fentry/do_unlinkat") int s_fentry(void *ctx) { return 0; }
SEC("fexit/do_unlinkat") int s_fexit(void *ctx) { return 0; }
SEC("fmod_ret/security_file_open") int s_fmod_ret(void *ctx) { return 0; }
SEC("fentry.s/do_unlinkat") int s_fentry_s(void *ctx) { return 0; }
SEC("lsm/file_open") int s_lsm(void *ctx) { return 0; }
SEC("lsm.s/file_open") int s_lsm_s(void *ctx) { return 0; }
SEC("iter/task") int s_iter(void *ctx) { return 0; }
SEC("kprobe/do_unlinkat") int s_kprobe(void *ctx) { return 0; }
SEC("kretprobe/do_unlinkat") int s_kretprobe(void *ctx) { return 0; }
SEC("kprobe.multi/do_*") int s_kprobe_multi(void *ctx) { return 0; }
SEC("ksyscall/openat") int s_ksyscall(void *ctx) { return 0; }
SEC("uprobe/libc.so.6:malloc") int s_uprobe(void *ctx) { return 0; }
SEC("uretprobe.s//bin/bash:readline") int s_uretprobe_s(void *ctx) { return 0; }
SEC("usdt/libc.so.6:libc:setjmp") int s_usdt(void *ctx) { return 0; }
SEC("kprobe") int s_kprobe_bare(void *ctx) { return 0; }
SEC("xdp") int s_xdp(void *ctx) { return 2; }
SEC("xdp.frags") int s_xdp_frags(void *ctx) { return 2; }
SEC("xdp/devmap") int s_xdp_devmap(void *ctx) { return 2; }
SEC("tc") int s_tc(void *ctx) { return 0; }
SEC("tcx/ingress") int s_tcx(void *ctx) { return 0; }
SEC("classifier") int s_classifier(void *ctx) { return 0; }
SEC("socket") int s_socket(void *ctx) { return 0; }
SEC("cgroup_skb/ingress") int s_cgskb(void *ctx) { return 1; }
SEC("cgroup/connect4") int s_connect4(void *ctx) { return 1; }
SEC("cgroup/sock_create") int s_sock_create(void *ctx) { return 1; }
SEC("cgroup/sysctl") int s_sysctl(void *ctx) { return 1; }
SEC("cgroup/getsockopt") int s_getsockopt(void *ctx) { return 1; }
SEC("cgroup/dev") int s_dev(void *ctx) { return 1; }
SEC("sockops") int s_sockops(void *ctx) { return 1; }
SEC("sk_msg") int s_sk_msg(void *ctx) { return 1; }
SEC("sk_skb/stream_parser") int s_sk_skb_parser(void *ctx) { return 1; }
SEC("sk_lookup") int s_sk_lookup(void *ctx) { return 1; }
SEC("syscall") int s_syscall(void *ctx) { return 0; }
SEC("perf_event") int s_perf_event(void *ctx) { return 0; }
SEC("struct_ops/dummy") int s_struct_ops(void *ctx) { return 0; }
SEC("netfilter") int s_netfilter(void *ctx) { return 1; }
SEC("flow_dissector") int s_flow(void *ctx) { return 0; }
SEC("lwt_in") int s_lwt_in(void *ctx) { return 0; }
SEC("?tp/sched/sched_wakeup") int s_noautoload(void *ctx) { return 0; }
SEC("my_custom_section") int s_unknown(void *ctx) { return 0; }

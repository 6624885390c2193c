// Legacy map definitions in SEC("maps") (source document 001), no BTF-defined maps.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bpf_map_def_legacy {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def_legacy counts SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(int),
	.value_size = sizeof(long),
	.max_entries = 256,
};

struct bpf_map_def_legacy table SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 16,
	.max_entries = 10,
	.map_flags = 0,
};

SEC("socket")
int count_packets(struct __sk_buff *skb)
{
	int key = skb->protocol;
	long one = 1, *v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
	bpf_map_lookup_elem(&table, &key);
	return 0;
}

char _license[] SEC("license") = "GPL";
unsigned int _version SEC("version") = 0x060c00;

"""Document 004: a perf buffer "hello world": pid, uid, command and a message for every execve().

The program as the document gives it; the document omits the imports of its first listing
(added: from bcc import BPF).  Run: python -m bpfkit.bcc examples/bcc_perf_hello.py
"""
from bcc import BPF

program = r"""
// using BCC macro `BPF_PERF_OUTPUT` to create a map named `output`, that will be used to pass messages from kernel
// to user space.
BPF_PERF_OUTPUT(output);

struct data_t {
    int pid;
    int uid;
    char command[16];
    char message[12];
};

int hello (void *ctx){
    struct data_t data = {};
    char message[12] = "Hello World";

    // bpf_get_current_pid_tgid() helper function that gets the ID of the process that triggered this eBPF program to run.
    // PID is top 32 bits.
    data.pid = bpf_get_current_pid_tgid() >> 32;
    // bpf_get_current_uid_gid returns the user ID, which are the lower 32 bits.
    data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;

    // bpf_get_current_comm is a helper function for getting the name of the executable (or command) that ran the
    // process which made the `execve` syscall.
    bpf_get_current_comm(&data.command, sizeof(data.command));
    bpf_probe_read_kernel(&data.message, sizeof(data.message), message);

    // output.perf_submit puts the data into the map.
    output.perf_submit(ctx, &data, sizeof(data));

    return 0;
}
"""

b = BPF(text=program)
syscall = b.get_syscall_fnname("execve")
b.attach_kprobe(event=syscall, fn_name="hello")

def print_event(cpu, data, size):
    # b["output"] gives us access to the map, b["output"].event() is used to grab data from that map.
    data = b["output"].event(data)
    print(f"{data.pid} {data.uid} {data.command.decode()}" + \
        f"{data.message.decode()}")

# open_perf_buffer() opens the perf ring buffer. It takes print_event function as a callback, which it runs every time data is to be read from the buffer.
b["output"].open_perf_buffer(print_event)
while True:
    b.perf_buffer_poll()


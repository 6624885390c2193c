"""Document 004: tail calls: a raw tracepoint on sys_enter dispatches by syscall number through a
BPF_PROG_ARRAY filled from Python with load_func(...).fd, and trace_print() shows the messages.

The program as the document gives it, except for three typos in its C text that no C compiler
(nor BCC) accepts: an unterminated string ("Executing a program) and two missing semicolons
(after bpf_trace_printk("Some other timer operation") and after "return 0" in ignore_opcode).
The document omits the imports of its first listing (added: from bcc import BPF, import ctypes as ct).
Run: python -m bpfkit.bcc examples/bcc_tailcalls.py
"""
import ctypes as ct

from bcc import BPF

program = r"""
// BCC macro to create a map of type BPF_MAP_TYPE_PROG_ARRAY, it's name is `syscall` and allows 300 entries
BPF_PROG_ARRAY(syscall, 300);

// hello function will be called anytime `sys_enter` raw tracepoint is hit, the context passed to an eBPF program
// attached to a raw tracepoint takes the form of bpf_raw_tracepoint_args.
int hello (struct bpf_raw_tracepoint_args *ctx){

    // using a shorthand for derefrencing the ctx pointer and accessing it's `args` property, which holds the opcode
    // of system call being made.
    int opcode = ctx -> args[1];
    // below code get re-written to bpf_tail_call(ctx, syscall, opcode)
    syscall.call(ctx, opcode);
    // lines below this will not run if tailcalls succeed.
    bpf_trace_printk("Another syscall: %d", opcode);
    return 0;
}

// Below are the Tail Call functions that we will load in our map and execute using bpf_tail_call() function.

// hello_execve is a program that will be loaded into the syscall program array map.
// this function will be executed as a tail call when opcode indicates it's an execve() syscall.
int hello_execve(void *ctx){
    bpf_trace_printk("Executing a program");
    return 0;
}

// hello_timer is program that will be loaded into the syscall program array map.
// this function will be executed as a tail call when the opcode indicates timer related operations.
int hello_timer(struct bpf_raw_tracepoint_args *ctx){
    if (ctx -> args[1] == 222){
        bpf_trace_printk("Creating a timer");
    } else if (ctx ->args[1] == 226){
        bpf_trace_printk("Deleting a timer");
    } else {
        bpf_trace_printk("Some other timer operation");
    }
    return 0;
}

// ignore_opcode is tail call program that will be executed for syscalls we don't want to trace.
int ignore_opcode(void *ctx){
    return 0;
}

"""

b = BPF(text=program)
b.attach_raw_tracepoint(tp="sys_enter", fn_name="hello")

# b.load_func loads the functions into the BPF object, the flag BPF.RAW_TRACEPOINT indicates that these funcitons
# are designed to be attacehed to raw tracepoints.
# This function returns a file-descriptor.
ignore_fn = b.load_func("ignore_opcode", BPF.RAW_TRACEPOINT)
timer_fn= b.load_func("hello_timer", BPF.RAW_TRACEPOINT)
exec_fn= b.load_func("hello_execve", BPF.RAW_TRACEPOINT)

# Get the program array.
prog_array = b.get_table("syscall")
# ct.c_int(59) creates a C integer object with the value 59.
# Below we are filling the array_map with keys pointing to syscall opcodes and values pointing to fd of functions
# to be executed when the matching syscall executes.
prog_array[ct.c_int(59)] = ct.c_int(exec_fn.fd)
prog_array[ct.c_int(222)] = ct.c_int(timer_fn.fd)
prog_array[ct.c_int(223)] = ct.c_int(timer_fn.fd)
prog_array[ct.c_int(224)] = ct.c_int(timer_fn.fd)
prog_array[ct.c_int(225)] = ct.c_int(timer_fn.fd)
prog_array[ct.c_int(226)] = ct.c_int(timer_fn.fd)

# Ignore some syscalls that come up a lot
prog_array[ct.c_int(21)] = ct.c_int(ignore_fn.fd)
prog_array[ct.c_int(22)] = ct.c_int(ignore_fn.fd)
prog_array[ct.c_int(25)] = ct.c_int(ignore_fn.fd)
prog_array[ct.c_int(29)] = ct.c_int(ignore_fn.fd)
prog_array[ct.c_int(291)] = ct.c_int(ignore_fn.fd)

b.trace_print()

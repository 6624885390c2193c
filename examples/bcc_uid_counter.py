"""Document 004 (and 002): count execve() calls per UID in a BCC hash map, printed every 2 s.

The program as the document gives it; the only change: the '#' comments inside the C text
(which no C compiler accepts) are written as '//' comments.  Run: python -m bpfkit.bcc examples/bcc_uid_counter.py
"""
from time import sleep

from bcc import BPF

program = r"""
// BPF_HASH is a BCC  macro that is used to create Hash.
BPF_HASH(counter_table);

// here the sample map looks like this
// {
//   uid: counter
// }

// ctx provides data about the event triggering the hello program.
int hello(void *ctx) {
   u64 uid;
   u64 counter = 0;
   u64 *p;

   // bpf_get_current_uid_get() returns the UID (User ID) as well as the PID (process ID)
   // of the current process. It is a 64 bit value which is masked using the Bitwise & Operator.
   // since only the first 32 bits are information related to the process.
   uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
   // lookup the counter associated with the current UID, if it exists, it returns a pointer associated
   // to the counter, except it returns 0.
   p = counter_table.lookup(&uid);
   if (p != 0) {
      counter = *p;
   }
   // get the counter and update it.
   counter++;
   // update the counter table with the update count value.
   counter_table.update(&uid, &counter);
   return 0;
}
"""

b = BPF(text=program)
syscall = b.get_syscall_fnname("execve")
b.attach_kprobe(event=syscall, fn_name="hello")

# Attach to a tracepoint that gets hit for all syscalls
# b.attach_raw_tracepoint(tp="sys_enter", fn_name="hello")

while True:
    sleep(2)
    s = ""
    for k,v in b["counter_table"].items():
        s += f"ID {k.value}: {v.value}\t"
    print(s)


"""``bcc.tcp``: names of TCP states and TCP header flags, for tools that print what the kernel reports.

The states are the kernel's ``enum`` of include/net/tcp_states.h (also what
/proc/net/tcp shows; a test compares them with the running kernel's BTF); the
flags are the TCP header's bits (RFC 9293), ``TCPHDR_*`` of include/net/tcp.h.
"""

from __future__ import annotations

__all__ = ["TCPHDR_ACK", "TCPHDR_CWR", "TCPHDR_ECE", "TCPHDR_FIN", "TCPHDR_PSH", "TCPHDR_RST", "TCPHDR_SYN",
           "TCPHDR_URG", "flags2str", "state2str", "tcpstate"]

tcpstate: dict[int, str] = {
    1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT", 7: "CLOSE",
    8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE",
}

TCPHDR_FIN = 0x01
TCPHDR_SYN = 0x02
TCPHDR_RST = 0x04
TCPHDR_PSH = 0x08
TCPHDR_ACK = 0x10
TCPHDR_URG = 0x20
TCPHDR_ECE = 0x40
TCPHDR_CWR = 0x80

_FLAG_NAMES = ((TCPHDR_FIN, "FIN"), (TCPHDR_SYN, "SYN"), (TCPHDR_RST, "RST"), (TCPHDR_PSH, "PSH"),
               (TCPHDR_ACK, "ACK"), (TCPHDR_URG, "URG"), (TCPHDR_ECE, "ECE"), (TCPHDR_CWR, "CWR"))


def flags2str(flags: int) -> str:
    """The TCP header flags set in ``flags``, as 'SYN|ACK'."""
    return "|".join(name for bit, name in _FLAG_NAMES if flags & bit)


def state2str(state: int) -> str:
    """The name of TCP state ``state`` ('ESTABLISHED'), or the number as text when unknown."""
    return tcpstate.get(state, str(state))

/* Shared library with USDT probes for bpfkit's tests (built -O2: register and constant operands). */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdint.h>

__extension__ unsigned short bpfkit_lib_libprobe_semaphore __attribute__((section(".probes"))) = 0;

int bpfkit_lib_fire(int8_t a, uint16_t b, int32_t c, uint64_t d, const char *s)
{
	if (bpfkit_lib_libprobe_semaphore)
		STAP_PROBE6(bpfkit_lib, libprobe, a, b, c, d, s, 42);
	return bpfkit_lib_libprobe_semaphore;
}

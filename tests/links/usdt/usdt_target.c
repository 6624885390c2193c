/* PIE executable with USDT probes for bpfkit's tests (built -O0: stack operands such as 8@-16(%rbp)).
 * For each line read on stdin it fires every probe once and prints the semaphores it saw:
 * "exe=<n> lib=<n>". Exits at end of input.
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

__extension__ unsigned short bpfkit_test_hit_semaphore __attribute__((section(".probes"))) = 0;

int bpfkit_lib_fire(int8_t a, uint16_t b, int32_t c, uint64_t d, const char *s);
void bpfkit_nosema(int round);

static void fire(int round)
{
	int8_t small = -5;
	uint16_t mid = 65000;
	int32_t neg = -123456 - round;
	uint64_t big = 0x1122334455667788ULL;
	int64_t sneg = -9000000000LL;
	const char *msg = "hello usdt";
	if (bpfkit_test_hit_semaphore)
		STAP_PROBE6(bpfkit_test, hit, small, mid, neg, big, sneg, msg);
	bpfkit_nosema(round);
}

int main(void)
{
	char line[64];
	int round = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin)) {
		fire(round);
		int lib = bpfkit_lib_fire(-7, 300, -70000, 0xdeadbeefcafeULL, "from lib");
		printf("exe=%d lib=%d\n", bpfkit_test_hit_semaphore, lib);
		round++;
	}
	return 0;
}

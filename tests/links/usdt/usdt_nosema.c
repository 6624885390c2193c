/* A probe without a semaphore (its own translation unit: sys/sdt.h decides semaphores per file). */
#include <sys/sdt.h>

void bpfkit_nosema(int round)
{
	STAP_PROBE2(bpfkit_test, nosema, round, 77);
}

// cpubench: a freestanding, CPU-bound RV64GC program for measuring guest
// MIPS. It runs on Juice (--bare) and on QEMU (-M virt -bios none) alike:
// it prints its checksums on the ns16550a UART at 0x10000000 and powers off
// through the test device at 0x100000.
#include <stdint.h>

#define UART ((volatile uint8_t *)0x10000000)
#define POWER ((volatile uint32_t *)0x100000)

static void putc_(char c) { *UART = (uint8_t)c; }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void puthex(uint64_t v) {
	for (int i = 60; i >= 0; i -= 4) putc_("0123456789abcdef"[(v >> i) & 15]);
}

#define N_SIEVE 2000000
#define N_SORT 1000000
#define N_MAT 96
#define N_CRC (1 << 20)

static uint8_t sieve_buf[N_SIEVE];
static uint32_t sort_buf[N_SORT];
static double ma[N_MAT][N_MAT], mb[N_MAT][N_MAT], mc[N_MAT][N_MAT];
static uint8_t crc_buf[N_CRC];
static uint32_t crc_table[256];

static uint64_t sieve(void) {
	uint64_t count = 0;
	for (int i = 2; i < N_SIEVE; i++) sieve_buf[i] = 1;
	for (int i = 2; i < N_SIEVE; i++) {
		if (!sieve_buf[i]) continue;
		count++;
		for (int j = 2 * i; j < N_SIEVE; j += i) sieve_buf[j] = 0;
	}
	return count;
}

static uint32_t rng = 12345;
static uint32_t next(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }

static void qsort_(uint32_t *a, long lo, long hi) {
	while (lo < hi) {
		uint32_t p = a[(lo + hi) / 2];
		long i = lo, j = hi;
		while (i <= j) {
			while (a[i] < p) i++;
			while (a[j] > p) j--;
			if (i <= j) { uint32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
		}
		if (j - lo < hi - i) { qsort_(a, lo, j); lo = i; } else { qsort_(a, i, hi); hi = j; }
	}
}

static uint64_t sort(void) {
	for (int i = 0; i < N_SORT; i++) sort_buf[i] = next();
	qsort_(sort_buf, 0, N_SORT - 1);
	uint64_t h = 0;
	for (int i = 0; i < N_SORT; i += 1000) h = h * 31 + sort_buf[i];
	return h;
}

static uint64_t matmul(void) {
	for (int i = 0; i < N_MAT; i++)
		for (int j = 0; j < N_MAT; j++) { ma[i][j] = (i + j) * 0.5; mb[i][j] = (3 * i - j) * 0.25; }
	for (int i = 0; i < N_MAT; i++)
		for (int j = 0; j < N_MAT; j++) {
			double s = 0;
			for (int k = 0; k < N_MAT; k++) s += ma[i][k] * mb[k][j];
			mc[i][j] = s;
		}
	double t = 0;
	for (int i = 0; i < N_MAT; i++) t += mc[i][i];
	return (uint64_t)(int64_t)t;
}

static uint64_t crc32(void) {
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	for (int i = 0; i < N_CRC; i++) crc_buf[i] = (uint8_t)next();
	uint32_t crc = 0xffffffff;
	for (int r = 0; r < 24; r++)
		for (int i = 0; i < N_CRC; i++) crc = crc_table[(crc ^ crc_buf[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

void main_(void) {
	puts_("sieve "); puthex(sieve()); putc_('\n');
	puts_("sort "); puthex(sort()); putc_('\n');
	puts_("matmul "); puthex(matmul()); putc_('\n');
	puts_("crc32 "); puthex(crc32()); putc_('\n');
	*POWER = 0x5555;
	for (;;) ;
}

/* cdyn: a C program linked dynamically against glibc. The appliance holds
 * it, the dynamic loader and libc.so.6, found by juice build from Debian's
 * riscv64 glibc (libc6-riscv64-cross), and nothing else. */
#include <gnu/libc-version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
	struct utsname u;
	if (uname(&u) != 0) {
		perror("cdyn: uname");
		return 1;
	}
	const char *who = getenv("WHO");
	printf("cdyn: hello, %s, from C on glibc %s (%s %s)\n", who ? who : "world",
	       gnu_get_libc_version(), u.sysname, u.machine);
	for (int i = 1; i < argc; i++)
		printf("cdyn: arg %d: %s (%zu bytes)\n", i, argv[i], strlen(argv[i]));
	return 0;
}

/* Optional libraries, loaded when a feature that needs them is configured.
 *
 * A library the daemon links is mapped in every daemon, used or not: libmicrohttpd
 * brings gnutls and its seven dependencies, libsystemd four compressors and libgcrypt,
 * 3.4 MiB of resident pages together, a fifth of what a daemon serving 1000 plugins
 * needs. So the daemon links neither: it dlopen()s libmicrohttpd when metrics are
 * served over HTTP and libsystemd when a service manager talks to it, by the soname it
 * was built against (so an incompatible major version is never picked up). The
 * functions are declared by the libraries' own headers and called through pointers of
 * their exact types. */
#ifndef BH_DYNLIB_H
#define BH_DYNLIB_H

#include <stddef.h>

struct bh_dynsym {
	const char *name;
	void **addr; /* where the function's address goes */
};

/* Load soname and resolve every symbol; once they are, later calls return 0 at once.
 * 0, or -1 with errbuf naming the library and what is missing; a failed load leaves
 * nothing resolved and may be retried. */
int bh_dynlib_load(const char *soname, const struct bh_dynsym *syms, size_t n, char *errbuf,
		   size_t errlen);

/* Declare a pointer named after a library function, of its exact type, and the
 * bh_dynsym entry that fills it. */
#define BH_DYNFN(fn) __typeof__(fn) *fn
#define BH_DYNSYM(lib, fn) { #fn, (void **)&(lib).fn }

#endif

/* Optional libraries (dynlib.h). */
#define _GNU_SOURCE
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

int bh_dynlib_load(const char *soname, const struct bh_dynsym *syms, size_t n, char *errbuf,
		   size_t errlen)
{
	if (n && *syms[0].addr)
		return 0; /* loaded and resolved already */
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(errbuf, errlen, "cannot load %s: %s", soname, dlerror());
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		void *p = dlsym(h, syms[i].name);
		if (!p) {
			snprintf(errbuf, errlen, "%s has no %s", soname, syms[i].name);
			for (size_t k = 0; k < i; k++)
				*syms[k].addr = NULL;
			dlclose(h);
			return -1;
		}
		*syms[i].addr = p;
	}
	return 0;
}

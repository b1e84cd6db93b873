/* The `metrics` group: where the Prometheus endpoint listens. Checked here, at load,
 * with the same parser the daemon uses to bind (bh_metrics_listen_parse). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "config_priv.h"

static const char *const metrics_keys[] = {"listen", "mode", NULL};

/* "PORT" in 1..65535, digits only. */
static int parse_port(const char *s, uint16_t *ret)
{
	size_t n = strlen(s);
	if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
		return -EINVAL;
	unsigned long v = strtoul(s, NULL, 10);
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

int bh_metrics_listen_parse(const char *listen, struct sockaddr_storage *ret, socklen_t *ret_len,
			    const char **why)
{
	memset(ret, 0, sizeof(*ret));
	if (listen[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)ret;
		if (strlen(listen) >= sizeof(un->sun_path)) {
			*why = "a socket path longer than a socket address can hold (107 bytes)";
			return -EINVAL;
		}
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, listen);
		*ret_len = (socklen_t)sizeof(*un);
		return 0;
	}
	/* The port is after the last ':'; an IPv6 address is in brackets. */
	const char *colon = strrchr(listen, ':');
	char host[INET6_ADDRSTRLEN + 2];
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host)) {
		*why = "expected \"ADDRESS:PORT\" (e.g. \"127.0.0.1:9464\", \"[::1]:9464\") or an "
		       "absolute socket path";
		return -EINVAL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	uint16_t port;
	if (parse_port(colon + 1, &port) < 0) {
		*why = "the port must be a number from 1 to 65535";
		return -EINVAL;
	}
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
			*why = "not a numeric IPv6 address in brackets";
			return -EINVAL;
		}
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*ret_len = (socklen_t)sizeof(*in6);
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ret;
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
		/* Names are refused: "localhost" may resolve to anything. */
		*why = "the address must be numeric: an IPv4 address, or an IPv6 one in brackets "
		       "(host names are not resolved)";
		return -EINVAL;
	}
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	*ret_len = (socklen_t)sizeof(*in);
	return 0;
}

int bh__cfg_metrics(struct bh__cfg *x, const config_setting_t *g, struct bh_metrics_conf *ret)
{
	int r = bh__cfg_keys(x, g, metrics_keys);
	if (r < 0)
		return r;
	const char *v = BH_METRICS_LISTEN;
	if ((r = bh__cfg_str(x, g, "listen", &v)) < 0)
		return r;
	const config_setting_t *s = config_setting_get_member(g, "listen");
	struct sockaddr_storage ss;
	socklen_t len;
	const char *why = NULL;
	char *listen = NULL;
	/* A path is taken as written when absolute; a relative one is refused (it would
	 * read like an address with a typo). */
	if (strchr(v, '/') && v[0] != '/')
		return bh__cfg_fail(x, s, "\"%.80s\": a socket path must be absolute", v);
	if (bh_metrics_listen_parse(v, &ss, &len, &why) < 0)
		return bh__cfg_fail(x, s ? s : g, "\"%.80s\": %s", v, why);
	mode_t mode = 0660;
	if ((r = bh__cfg_mode(x, g, "mode", &mode)) < 0)
		return r;
	if (ss.ss_family != AF_UNIX && config_setting_get_member(g, "mode"))
		return bh__cfg_fail(x, config_setting_get_member(g, "mode"),
				    "applies to a socket path only, not to \"%.80s\"", v);
	if (!(listen = strdup(v)))
		return bh__cfg_nomem(x);
	free(ret->listen);
	ret->listen = listen;
	ret->mode = mode;
	return 0;
}

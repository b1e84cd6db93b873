/* bulkheadd as a service: sd_notify messages on a notify socket the test owns, the
 * watchdog keep-alive, socket activation (a listening socket passed on fd 3 with
 * LISTEN_FDS/LISTEN_PID, and through systemd-socket-activate), the default
 * socket's directory, journald priority prefixes and JSON log lines. No systemd has
 * to run: the test plays the service manager's part. One ctest entry per case; a
 * case the host cannot run reports SKIP with the reason. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ECHO_CONF "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; });\n"
#define SAY_CONF "plugins = ({ name = \"say\"; path = \"" HT_PLUGIN("say") "\"; %s });\n"

/* ---- the service manager's side ------------------------------------------------------ */

/* A notify socket: a datagram socket at DIR/notify. */
static int notify_open(const struct ht_daemon *d, char *path, size_t len)
{
	snprintf(path, len, "%s/notify", d->dir);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path,
		      strerror(errno));
	return fd;
}

/* Block until a datagram with the line `want` arrives (the failure bound is the
 * test's deadline, not a speed assumption); its text in buf. Earlier datagrams are
 * passed over: the test asserts order only where it matters by asking in order. */
static void notify_expect(int fd, const char *want, char *buf, size_t len)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, HT_TEST_TIMEOUT * 1000);
		ck_assert_msg(r == 1, "no \"%s\" from the daemon", want);
		ssize_t n = recv(fd, buf, len - 1, 0);
		ck_assert_int_gt(n, 0);
		buf[n] = 0;
		size_t wl = strlen(want);
		for (const char *l = buf; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
			if (strncmp(l, want, wl) == 0 && (l[wl] == '\n' || l[wl] == 0))
				return;
	}
}

struct launch {
	const char *notify;   /* NOTIFY_SOCKET */
	const char *watchdog; /* WATCHDOG_USEC */
	int listen_fd;        /* passed as fd 3 with LISTEN_FDS=1, or -1 */
	bool journal;         /* JOURNAL_STREAM naming stderr */
	const char *journal_value; /* JOURNAL_STREAM as given */
	bool private_run;     /* a tmpfs on /run in a mount namespace of its own */
	mode_t umask;         /* applied when not 0 */
	const char *const *argv; /* instead of bulkheadd -c CONF */
};

/* In the child: stdio, fds, environment, then exec. */
static _Noreturn void launch_child(const struct ht_daemon *d, const struct launch *o,
				   pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int log = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
		_exit(127);
	if (o->listen_fd >= 0) {
		if ((o->listen_fd == 3 ? fcntl(3, F_SETFD, 0) : dup2(o->listen_fd, 3)) < 0)
			_exit(127);
		char pid[16];
		snprintf(pid, sizeof(pid), "%d", (int)getpid()); /* exec keeps it */
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pid, 1);
	}
	for (int fd = o->listen_fd >= 0 ? 4 : 3; fd < 1024; fd++)
		close(fd);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("JOURNAL_STREAM");
	if (o->notify)
		setenv("NOTIFY_SOCKET", o->notify, 1);
	if (o->watchdog)
		setenv("WATCHDOG_USEC", o->watchdog, 1);
	if (o->journal) {
		struct stat st;
		char v[64];
		if (fstat(2, &st) < 0)
			_exit(127);
		snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", v, 1);
	}
	if (o->journal_value)
		setenv("JOURNAL_STREAM", o->journal_value, 1);
	if (o->private_run && (unshare(CLONE_NEWNS) < 0 ||
			       mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
			       mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0))
		_exit(126);
	if (o->umask)
		umask(o->umask);
	if (o->argv)
		execv(o->argv[0], (char *const *)o->argv);
	else
		execl(HT_BULKHEADD, "bulkheadd", "-c", d->conf, (char *)NULL);
	_exit(127);
}

static void launch(struct ht_daemon *d, const struct launch *o)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		launch_child(d, o, parent);
	d->pid = pid;
}

/* SIGTERM, the exit status 0, the directory removed. */
static void stop_ok(struct ht_daemon *d)
{
	ht_sigterm(d);
	int st = ht_wait(d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon exited with 0x%x", st);
}

/* The daemon exits 1 without becoming ready; its log says `want`. */
static void expect_refusal(struct ht_daemon *d, const char *want)
{
	int st = ht_wait(d);
	char *log = ht_read_log(d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit 0x%x; log:\n%s", st, log);
	bool has = strstr(log, want) != NULL;
	if (!has)
		fprintf(stderr, "%s", log);
	free(log);
	ck_assert_msg(has, "the log lacks \"%s\"", want);
}

static void call_echo(const struct ht_daemon *d)
{
	bh_client *c = ht_connect(d);
	bh_result *res = NULL;
	bh_error err;
	ht_assert_ok(ht_call_str(c, "echo.echo", HT_LONG_MS, &res, &err, "hi"), err);
	bh_result_free(res);
	bh_client_free(c);
}

/* ---- sd_notify ---------------------------------------------------------------------- */

/* READY=1 with a STATUS= once the plugin is up; WATCHDOG=1 keep-alives; SIGHUP brings
 * RELOADING=1 then READY=1; SIGTERM brings STOPPING=1. */
START_TEST(notify_lifecycle)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, ECHO_CONF);
	char path[HT_PATH_MAX], msg[512];
	int nfd = notify_open(&d, path, sizeof(path));
	launch(&d, &(struct launch){.notify = path, .watchdog = "400000", .listen_fd = -1});
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "STATUS=1 plugin: 1 ready; 0 clients"), "READY: %s", msg);
	call_echo(&d);
	notify_expect(nfd, "WATCHDOG=1", msg, sizeof(msg));
	notify_expect(nfd, "WATCHDOG=1", msg, sizeof(msg));
	ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
	notify_expect(nfd, "RELOADING=1", msg, sizeof(msg));
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	ht_sigterm(&d);
	notify_expect(nfd, "STOPPING=1", msg, sizeof(msg));
	int st = ht_wait(&d);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit 0x%x", st);
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* READY=1 waits for the configured plugins: a plugin that cannot load counts as
 * settled (it failed), so READY=1 still comes, with the failure in STATUS=. */
START_TEST(notify_ready_after_failed_plugin)
{
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "plugins = ({ name = \"echo\"; path = \"" HT_PLUGIN("echo") "\"; },"
		 " { name = \"bad\"; path = \"" HT_PLUGIN("bad_abi") "\"; });\n");
	char path[HT_PATH_MAX], msg[512];
	int nfd = notify_open(&d, path, sizeof(path));
	launch(&d, &(struct launch){.notify = path, .listen_fd = -1});
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	ck_assert_msg(strstr(msg, "STATUS=2 plugins: 1 ready, 1 failed"), "READY: %s", msg);
	stop_ok(&d);
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* ---- socket activation -------------------------------------------------------------- */

static int unix_listener(const char *path, int type, bool listening)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (listening)
		ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* The passed socket is served; the configured path is neither created nor locked,
 * and the passed socket's file stays when the daemon stops (the manager owns it). */
START_TEST(activation_serves_passed_socket)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, ECHO_CONF);
	char configured[HT_PATH_MAX], path[HT_PATH_MAX], msg[512];
	snprintf(configured, sizeof(configured), "%s", d.sock);
	snprintf(d.sock, sizeof(d.sock), "%s/activated.sock", d.dir);
	int lfd = unix_listener(d.sock, SOCK_STREAM, true);
	int nfd = notify_open(&d, path, sizeof(path));
	launch(&d, &(struct launch){.notify = path, .listen_fd = lfd});
	close(lfd);
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	call_echo(&d);
	struct stat st;
	ck_assert_msg(lstat(configured, &st) < 0 && errno == ENOENT, "%s was created", configured);
	ck_assert(ht_log_has(&d, "passed by the service manager"));
	stop_ok(&d);
	ck_assert_msg(lstat(d.sock, &st) == 0 && S_ISSOCK(st.st_mode),
		      "the passed socket's file was removed");
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* Anything but a listening AF_UNIX stream socket is refused, with what it is. */
START_TEST(activation_refuses_other_sockets)
{
	static const struct {
		int family, type;
		bool listening;
		const char *want;
	} bad[] = {
		{AF_UNIX, SOCK_DGRAM, false, "fd 3 is an AF_UNIX datagram socket"},
		{AF_UNIX, SOCK_STREAM, false, "AF_UNIX stream socket that does not listen"},
		{AF_INET, SOCK_STREAM, true, "fd 3 is an AF_INET stream socket"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ht_daemon d;
		ht_setup(&d, NULL, ECHO_CONF);
		int fd;
		if (bad[i].family == AF_UNIX) {
			char path[HT_PATH_MAX];
			snprintf(path, sizeof(path), "%s/bad.sock", d.dir);
			fd = unix_listener(path, bad[i].type, bad[i].listening);
		} else {
			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			struct sockaddr_in sa = {.sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
			ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
			ck_assert_int_eq(listen(fd, 1), 0);
		}
		launch(&d, &(struct launch){.listen_fd = fd});
		close(fd);
		expect_refusal(&d, bad[i].want);
		ht_cleanup(&d);
	}
}
END_TEST

/* A real launcher: systemd-socket-activate binds, sets LISTEN_FDS and execs. */
START_TEST(activation_with_systemd_socket_activate)
{
	static const char *const launchers[] = {"/usr/bin/systemd-socket-activate",
						"/bin/systemd-socket-activate",
						"/lib/systemd/systemd-activate"};
	const char *launcher = NULL;
	for (size_t i = 0; i < sizeof(launchers) / sizeof(launchers[0]) && !launcher; i++)
		if (access(launchers[i], X_OK) == 0)
			launcher = launchers[i];
	if (!launcher)
		ht_skip("no systemd-socket-activate (Debian's systemd package)");
	struct ht_daemon d;
	ht_setup(&d, NULL, ECHO_CONF);
	char path[HT_PATH_MAX], env[HT_PATH_MAX + 16], msg[512];
	snprintf(d.sock, sizeof(d.sock), "%s/launcher.sock", d.dir);
	int nfd = notify_open(&d, path, sizeof(path));
	snprintf(env, sizeof(env), "NOTIFY_SOCKET=%s", path);
	const char *argv[] = {launcher, "-l", d.sock, "-E", env, HT_BULKHEADD, "-c", d.conf, NULL};
	/* The launcher binds and listens, says so on stderr ("Listening on PATH as 3."),
	 * waits for the first connection, then execs the daemon: the call is that
	 * connection, answered once the daemon serves the socket. The socket file
	 * appears at bind, before listen: its line in the log is the sync point. */
	int lf = open(d.log, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	ck_assert_int_ge(lf, 0);
	close(lf);
	int in = inotify_init1(IN_CLOEXEC);
	ck_assert_int_ge(in, 0);
	ck_assert_int_ge(inotify_add_watch(in, d.log, IN_MODIFY), 0);
	launch(&d, &(struct launch){.listen_fd = -1, .argv = argv});
	while (!ht_log_has(&d, "Listening on")) {
		char ev[4096];
		struct pollfd p = {.fd = in, .events = POLLIN};
		ck_assert_msg(poll(&p, 1, HT_TEST_TIMEOUT * 1000) == 1, "the launcher did not listen");
		ck_assert_int_gt(read(in, ev, sizeof(ev)), 0);
	}
	close(in);
	call_echo(&d);
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	ck_assert(ht_log_has(&d, "passed by the service manager"));
	stop_ok(&d);
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* ---- the socket's directory ------------------------------------------------------------ */

/* A mount namespace with a tmpfs on /run can be made here. */
static bool private_run_works(void)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(unshare(CLONE_NEWNS) == 0 &&
				      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
				      mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") == 0
			      ? 0
			      : 1);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A root daemon without a socket setting creates /run/bulkhead, 0755 whatever the
 * umask (a private /run here, so the host's is left alone), and listens in it. */
START_TEST(default_socket_directory_created)
{
	if (geteuid() != 0)
		ht_skip("the default socket directory of a root daemon needs root");
	if (!private_run_works())
		ht_skip("no mount namespace with a private /run on this host");
	struct ht_daemon d;
	ht_setup(&d, NULL, "%s", "");
	char path[HT_PATH_MAX], msg[512];
	int nfd = notify_open(&d, path, sizeof(path));
	const char *argv[] = {HT_BULKHEADD, NULL};
	launch(&d, &(struct launch){.notify = path, .listen_fd = -1, .private_run = true,
				    .umask = 077, .argv = argv});
	/* its /run, seen through its root */
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	char dir[HT_PATH_MAX], sock[HT_PATH_MAX];
	snprintf(dir, sizeof(dir), "/proc/%d/root/run/bulkhead", (int)d.pid);
	snprintf(sock, sizeof(sock), "%s/bulkhead.sock", dir);
	struct stat st;
	ck_assert_msg(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), "%s: %s", dir, strerror(errno));
	ck_assert_uint_eq(st.st_mode & 07777, 0755);
	ck_assert_msg(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "%s", sock);
	snprintf(d.sock, sizeof(d.sock), "%s", sock);
	bh_client *c = ht_connect(&d);
	bh_result_free(ht_status(c));
	bh_client_free(c);
	stop_ok(&d);
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* A configured socket in a directory that does not exist: named, not created. */
START_TEST(missing_directory_named)
{
	struct ht_daemon d;
	char sock[HT_PATH_MAX];
	ht_setup(&d, NULL, "%s", "");
	snprintf(sock, sizeof(sock), "%s/nope/bh.sock", d.dir);
	FILE *f = fopen(d.conf, "we");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "socket = { path = \"%s\"; };\n", sock);
	ck_assert_int_eq(fclose(f), 0);
	launch(&d, &(struct launch){.listen_fd = -1});
	char want[HT_PATH_MAX + 64];
	snprintf(want, sizeof(want), "the directory %s/nope does not exist", d.dir);
	expect_refusal(&d, want);
	struct stat st;
	snprintf(sock, sizeof(sock), "%s/nope", d.dir);
	ck_assert_msg(stat(sock, &st) < 0, "%s was created", sock);
	ht_cleanup(&d);
}
END_TEST

/* ---- logs ------------------------------------------------------------------------------ */

static void say(const struct ht_daemon *d, const char *text)
{
	bh_client *c = ht_connect(d);
	bh_result *res = NULL;
	bh_error err;
	ht_assert_ok(ht_call_str(c, "say.say", HT_LONG_MS, &res, &err, text), err);
	bh_result_free(res);
	bh_client_free(c);
}

/* The line of the log that contains needle, copied into buf; fails when none. */
static const char *log_line(const struct ht_daemon *d, const char *needle, char *buf, size_t len)
{
	char *log = ht_read_log(d);
	char *hit = strstr(log, needle);
	ck_assert_msg(hit, "the log lacks \"%s\":\n%s", needle, log);
	char *start = hit;
	while (start > log && start[-1] != '\n')
		start--;
	size_t n = strcspn(start, "\n");
	snprintf(buf, len, "%.*s", (int)n, start);
	free(log);
	return buf;
}

/* stderr is the journal's stream: every record starts with its syslog priority, the
 * plugin's lines with the one their text asks for. */
START_TEST(journal_priority_prefixes)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, SAY_CONF, "");
	char path[HT_PATH_MAX], msg[512], line[2048];
	int nfd = notify_open(&d, path, sizeof(path));
	launch(&d, &(struct launch){.notify = path, .listen_fd = -1, .journal = true});
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	say(&d, "warning: disk almost full");
	say(&d, "error: cannot open the database");
	say(&d, "panic: runtime error: index out of range");
	say(&d, "[DEBUG] cache miss");
	say(&d, "an ordinary line, errors and all");
	stop_ok(&d);
	ck_assert_msg(strncmp(log_line(&d, "bulkheadd " BH_VERSION " listening", line, sizeof(line)),
			      "<6>bulkheadd", 12) == 0, "%s", line);
	ck_assert_msg(strncmp(log_line(&d, "disk almost full", line, sizeof(line)), "<4>[say pid ",
			      12) == 0, "%s", line);
	ck_assert_msg(strncmp(log_line(&d, "cannot open the database", line, sizeof(line)),
			      "<3>[say pid ", 12) == 0, "%s", line);
	ck_assert_msg(strncmp(log_line(&d, "index out of range", line, sizeof(line)),
			      "<3>[say pid ", 12) == 0, "%s", line);
	ck_assert_msg(!ht_log_has(&d, "cache miss"), "a debug line was logged at info level");
	ck_assert_msg(strncmp(log_line(&d, "an ordinary line", line, sizeof(line)),
			      "<6>[say pid ", 12) == 0, "%s", line);
	char *log = ht_read_log(&d);
	for (const char *l = log; *l; l = strchr(l, '\n') + 1)
		ck_assert_msg(l[0] == '<' && l[2] == '>', "a record without priority: %.80s", l);
	free(log);
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* A JOURNAL_STREAM that is not stderr's (inherited by a process whose stderr was
 * redirected) changes nothing: text records with a date and a zone. */
START_TEST(text_records_carry_date_and_zone)
{
	struct ht_daemon d;
	ht_setup(&d, NULL, ECHO_CONF);
	char path[HT_PATH_MAX], msg[512], line[2048];
	int nfd = notify_open(&d, path, sizeof(path));
	launch(&d, &(struct launch){.notify = path, .listen_fd = -1, .journal_value = "1:1"});
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	stop_ok(&d);
	log_line(&d, "listening on", line, sizeof(line));
	int y, mo, da, h, mi, s, ms, zh, zm;
	char sign, sp;
	ck_assert_msg(sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c%2d:%2d%c", &y, &mo, &da, &h, &mi,
			     &s, &ms, &sign, &zh, &zm, &sp) == 11 &&
			      (sign == '+' || sign == '-') && sp == ' ' && y >= 2024,
		      "not an RFC 3339 time with a zone: %s", line);
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

/* log_format = "json": every line is one JSON object (python3's json parses them),
 * with time, level and msg, and plugin, pid, generation and stream on a plugin's
 * output, at the plugin's fixed output_level; hostile text stays inside its string. */
START_TEST(json_lines_parse)
{
	if (access(HT_PYTHON, X_OK) != 0)
		ht_skip("no %s to parse the JSON lines with", HT_PYTHON);
	struct ht_daemon d;
	ht_setup(&d, NULL,
		 "log_format = \"json\";\n"
		 "plugins = ({ name = \"say\"; path = \"" HT_PLUGIN("say") "\"; "
		 "output_level = \"warn\"; },"
		 " { name = \"inject\"; path = \"" HT_PLUGIN("inject") "\"; });\n");
	char path[HT_PATH_MAX], msg[512];
	int nfd = notify_open(&d, path, sizeof(path));
	launch(&d, &(struct launch){.notify = path, .listen_fd = -1});
	notify_expect(nfd, "READY=1", msg, sizeof(msg));
	say(&d, "error: \"quoted\" \\ back\tslash");
	bh_client *c = ht_connect(&d);
	bh_result *res = NULL;
	bh_error err;
	ht_assert_ok(ht_call_str(c, "inject.say", HT_LONG_MS, &res, &err, ""), err);
	bh_result_free(res);
	bh_client_free(c);
	stop_ok(&d);
	static const char check[] =
		"import json, sys\n"
		"recs = [json.loads(l) for l in open(sys.argv[1], encoding='utf-8')]\n"
		"assert recs, 'no records'\n"
		"for r in recs:\n"
		"    assert {'time', 'level', 'msg'} <= r.keys(), r\n"
		"    assert r['level'] in ('error', 'warn', 'info', 'debug'), r\n"
		"    assert r['time'][10] == 'T' and r['time'][-6] in '+-', r\n"
		"say = [r for r in recs if r.get('plugin') == 'say' and 'stream' in r]\n"
		"assert len(say) == 1, say\n"
		"s = say[0]\n"
		"assert s['msg'] == 'error: \"quoted\" \\\\\\\\ back\\\\tslash', s['msg']\n"
		"assert s['level'] == 'warn' and s['stream'] == 'stderr', s\n"
		"assert isinstance(s['pid'], int) and s['pid'] > 0, s\n"
		"assert isinstance(s['generation'], int) and s['generation'] >= 1, s\n"
		"inj = [r for r in recs if r.get('plugin') == 'inject' and 'INJ' in r['msg']\n"
		"       and 'event' not in r]\n"
		"assert len(inj) == 2 and all('\\x1b' not in r['msg'] for r in inj), inj\n"
		"assert any('forged record' in r['msg'] and r.get('plugin') == 'inject' for r in recs)\n"
		"assert not any(r['msg'].startswith('second forged') for r in recs)\n"
		"ready = [r for r in recs if r.get('event') == 'instance.ready']\n"
		"assert ready and all(isinstance(r['pid'], int) and r['generation'] >= 1\n"
		"                     and r['plugin'] for r in ready), ready\n";
	char cmd[2 * HT_PATH_MAX + sizeof(check) + 64];
	char script[HT_PATH_MAX];
	snprintf(script, sizeof(script), "%s/check.py", d.dir);
	FILE *f = fopen(script, "we");
	ck_assert_ptr_nonnull(f);
	fputs(check, f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "%s %s %s 1>&2", HT_PYTHON, script, d.log);
	int st = system(cmd);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char *log = ht_read_log(&d);
		ck_abort_msg("the JSON lines do not parse as expected (0x%x):\n%s", st, log);
	}
	close(nfd);
	ht_cleanup(&d);
}
END_TEST

int main(int argc, char **argv)
{
	const struct ht_case cases[] = {
		{"notify_lifecycle", notify_lifecycle},
		{"notify_ready_after_failed_plugin", notify_ready_after_failed_plugin},
		{"activation_serves_passed_socket", activation_serves_passed_socket},
		{"activation_refuses_other_sockets", activation_refuses_other_sockets},
		{"activation_with_systemd_socket_activate", activation_with_systemd_socket_activate},
		{"default_socket_directory_created", default_socket_directory_created},
		{"missing_directory_named", missing_directory_named},
		{"journal_priority_prefixes", journal_priority_prefixes},
		{"text_records_carry_date_and_zone", text_records_carry_date_and_zone},
		{"json_lines_parse", json_lines_parse},
	};
#ifndef HT_HAVE_LIBSYSTEMD
	printf("SKIP: bulkheadd was built without libsystemd (no sd_notify, no socket "
	       "activation)\n");
	return 77;
#endif
	return ht_main_cases("service", cases, sizeof(cases) / sizeof(cases[0]), 0, argc, argv);
}

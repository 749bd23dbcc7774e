/* What the C integration tests share to talk to the servers they start on loopback: a free
 * port, whether one accepts connections, waiting by the monotonic clock, and starting and
 * stopping a python fake server that prints its port. Header-only;
 * its asserts are cmocka's. */
#ifndef SELGW_TEST_NET_H
#define SELGW_TEST_NET_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"

static inline void test_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The monotonic time s seconds from now, to compare selgw_mono_ns() with. */
static inline int64_t test_deadline_after_s(int s)
{
    return selgw_mono_ns() + (int64_t)s * SELGW_NS_PER_S;
}

/* A loopback port nothing listens on now (the kernel's choice, then closed): for a server
 * to listen on, or for a client that must find nobody there. */
static inline int test_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    close(fd);
    return ntohs(addr.sin_port);
}

static inline bool test_port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0;
    close(fd);
    return ok;
}

/* Runs a python3 fake server (argv: "python3", the script, its options; NULL-terminated)
 * with its stdout on a pipe and reads the first line, the port it listens on. Fails the
 * test, naming the script, when it says no port. Returns its pid; stop it with
 * test_stop_server. */
static inline pid_t test_start_server(const char *const *argv, int *port)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        /* Debian's python3 (only the standard library is needed, but be sure of the one). */
        execv("/usr/bin/python3", (char *const *)argv);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    char line[32];
    size_t len = 0;
    while (len + 1 < sizeof line) {
        ssize_t n = read(fds[0], line + len, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(fds[0]);
    *port = atoi(line);
    if (*port <= 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        fail_msg("%s did not start (said \"%s\")", argv[1], line);
    }
    return pid;
}

/* Stops what test_start_server started; *pid 0 afterwards (and a second call does nothing). */
static inline void test_stop_server(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

#endif

/* Container credentials: an http:// AWS_CONTAINER_CREDENTIALS_FULL_URI that is not loopback or
 * an ECS/EKS agent address is refused before any connection (the request would carry the
 * authorization token in clear text off the node); https goes anywhere.
 *
 * The proof that nothing was contacted: a listener on every address of this host, at a port the
 * refused URI names on the host's own non-loopback address. The same listener does see the
 * https request to that address (the positive control), so its silence means something. Names
 * that merely look like loopback (127.0.0.1.example.invalid) are refused as such rather than
 * left to fail in DNS. */
#include "s3/creds_source.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static const char TOKEN[] = "container-token-must-not-leak";

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* The first up, non-loopback IPv4 address of this host, or 0 when there is none. */
static int local_ipv4(char *out, size_t cap)
{
    struct ifaddrs *ifs, *i;
    int found = 0;
    if (getifaddrs(&ifs) != 0)
        return 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct sockaddr_in *sin = (const struct sockaddr_in *)i->ifa_addr;
        if ((ntohl(sin->sin_addr.s_addr) >> 24) == 127)
            continue;
        found = inet_ntop(AF_INET, &sin->sin_addr, out, (socklen_t)cap) != NULL;
    }
    freeifaddrs(ifs);
    return found;
}

/* A non-blocking listener on 0.0.0.0:ephemeral; its port in *port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("listener");
        exit(1);
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* How many connections reached the listener (waits up to wait_ms for the first). */
static int drain_connections(int lfd, int wait_ms)
{
    int n = 0;
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    for (int c; (c = accept(lfd, NULL, NULL)) >= 0; n++)
        close(c);
    return n;
}

/* A port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int port;
    int fd = listen_any(&port);
    close(fd);
    return port;
}

static int fetch(const char *uri, int timeout_ms, struct s3_error *err, long *ms)
{
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri, 1);
    struct s3_creds out;
    memset(&out, 0, sizeof(out));
    s3_error_clear(err);
    long t0 = now_ms();
    int rc = creds_from_container(timeout_ms, &out, err);
    *ms = now_ms() - t0;
    return rc;
}

static void expect_refused(const char *uri)
{
    struct s3_error err;
    long ms;
    int rc = fetch(uri, 5000, &err, &ms);
    CHECK(rc == CREDS_FAIL);
    CHECK(strcmp(err.code, "BadContainerUri") == 0);
    CHECK(strstr(err.message, "http is only allowed to loopback or the container agent") != NULL);
    CHECK(strstr(err.message, uri) != NULL); /* says which setting is wrong */
    CHECK(strstr(err.message, TOKEN) == NULL);
    CHECK(ms < 100); /* decided before any DNS lookup or connect (5 s timeout) */
    if (rc != CREDS_FAIL || strcmp(err.code, "BadContainerUri") != 0)
        fprintf(stderr, "  %s: rc %d, %s: %s\n", uri, rc, err.code, err.message);
}

/* Allowed: the request is attempted (and fails, as nothing listens there). */
static void expect_attempted(const char *uri)
{
    struct s3_error err;
    long ms;
    int rc = fetch(uri, 1000, &err, &ms);
    CHECK(rc == CREDS_FAIL);
    CHECK(strcmp(err.code, "EndpointUnreachable") == 0);
    if (strcmp(err.code, "EndpointUnreachable") != 0)
        fprintf(stderr, "  %s: %s: %s\n", uri, err.code, err.message);
}

int main(void)
{
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TOKEN, 1);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    char uri[256];

    char ip[INET_ADDRSTRLEN];
    if (local_ipv4(ip, sizeof(ip))) {
        int port;
        int lfd = listen_any(&port);
        /* The listener is reachable at ip:port (so silence below is not an accident). */
        int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        inet_pton(AF_INET, ip, &a.sin_addr);
        CHECK(probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0);
        close(probe);
        CHECK(drain_connections(lfd, 1000) == 1);

        snprintf(uri, sizeof(uri), "http://%s:%d/v1/credentials", ip, port);
        expect_refused(uri);
        CHECK(drain_connections(lfd, 300) == 0);

        /* Positive control: https to the same place is allowed, and the listener sees it (it
         * never answers the TLS handshake, so the fetch then fails on its short timeout). */
        snprintf(uri, sizeof(uri), "https://%s:%d/v1/credentials", ip, port);
        struct s3_error err;
        long ms;
        CHECK(fetch(uri, 300, &err, &ms) == CREDS_FAIL);
        CHECK(strcmp(err.code, "EndpointUnreachable") == 0);
        CHECK(drain_connections(lfd, 1000) >= 1);
        close(lfd);
    } else {
        printf("test_s3_container_uri: no non-loopback IPv4 address; listener check skipped\n");
    }

    /* Unroutable (TEST-NET-3): refused at once, not after a connect timeout. */
    expect_refused("http://203.0.113.7/v1/credentials");
    /* Names and near misses that are not the allowed literals. */
    expect_refused("http://127.0.0.1.example.invalid/creds");
    expect_refused("http://127.example.invalid/creds");
    expect_refused("http://localhost.example.invalid/creds");
    expect_refused("http://169.254.170.3/creds");
    expect_refused("http://169.254.170.20/creds");
    expect_refused("http://169.254.169.254/latest/meta-data/");
    expect_refused("http://[fd00:ec2::24]/creds");
    expect_refused("http://[::2]/creds");
    expect_refused("http://2130706433/creds"); /* 127.0.0.1 as a number: not a literal we take */

    /* Loopback over http is allowed: the request goes out (to a closed port). */
    int cp = closed_port();
    snprintf(uri, sizeof(uri), "http://127.0.0.1:%d/creds", cp);
    expect_attempted(uri);
    snprintf(uri, sizeof(uri), "http://127.3.4.5:%d/creds", cp);
    expect_attempted(uri);
    snprintf(uri, sizeof(uri), "http://localhost:%d/creds", cp);
    expect_attempted(uri);
    snprintf(uri, sizeof(uri), "http://[::1]:%d/creds", cp);
    expect_attempted(uri);

    if (failures) {
        fprintf(stderr, "test_s3_container_uri: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_s3_container_uri: all checks passed\n");
    return 0;
}

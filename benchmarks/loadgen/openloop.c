/*
 * openloop: a constant-rate (open-loop) HTTP/1.1 load generator, in the manner of wrk2.
 *
 * Request i is due at t0 + i/rate whether or not earlier answers came back. It goes out on
 * the first free keep-alive connection (one request in flight per connection); when none is
 * free it waits in the queue of due requests. Latency runs from the INTENDED send time to
 * the last byte of the answer, so a server that stalls is charged for every request that
 * should have gone out meanwhile (coordinated omission corrected). A second histogram keeps
 * the service time (actual send to answer), which is what a closed-loop tool like wrk shows.
 *
 * With -r 0 it runs closed loop: every connection sends again as soon as it has an answer.
 *
 * Bodies come from a file, one per record (records end with -s SEP, newline by default),
 * used in order and cycled; -n bounds the number of requests. The run is bounded by -d
 * seconds plus a drain of -D seconds; requests unanswered by then count as "unfinished" and
 * enter the latency histogram with their latency so far (a lower bound).
 * -k NEEDLE counts the answers holding NEEDLE ("matches"); -K NEEDLE counts every occurrence
 * of NEEDLE in the answers ("occurrences": e.g. the leads in a list).
 * Each histogram is printed whole too ("histogram_us": [[lower bound, count], ...]), so the
 * distribution can be plotted or recombined later.
 *
 * Loopback only: the target must be 127.0.0.1. Output: one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_HEADERS 8
#define MAX_NEEDLES 4
#define MAX_STATUS 600

/* log-linear histogram of microseconds: exact below 128 us, then 64 sub-buckets per octave
 * (at most 1.6% relative error), up to 2^40 us */
#define SUB 64
#define NBUCKETS (128 + 34 * SUB)

typedef struct {
    uint64_t counts[NBUCKETS];
    uint64_t n, max_us;
    double sum_us;
} hist_t;

static int bucket_of(uint64_t us) {
    if (us < 128) return (int)us;
    int msb = 63 - __builtin_clzll(us);
    int shift = msb - 6;
    int idx = 128 + (shift - 1) * SUB + (int)((us >> shift) - SUB);
    return idx < NBUCKETS ? idx : NBUCKETS - 1;
}

static uint64_t bucket_lo(int idx) {
    if (idx < 128) return (uint64_t)idx;
    int shift = (idx - 128) / SUB + 1;
    return (uint64_t)((idx - 128) % SUB + SUB) << shift;
}

static double bucket_mid(int idx) {
    if (idx < 128) return idx;
    int shift = (idx - 128) / SUB + 1;
    uint64_t m = (uint64_t)((idx - 128) % SUB + SUB);
    double lo = (double)(m << shift), hi = (double)(((m + 1) << shift) - 1);
    return (lo + hi) / 2.0;
}

static void hist_add(hist_t *h, uint64_t us) {
    h->counts[bucket_of(us)]++;
    h->n++;
    h->sum_us += (double)us;
    if (us > h->max_us) h->max_us = us;
}

static double hist_quantile_ms(const hist_t *h, double q) {
    if (h->n == 0) return 0.0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            double v = bucket_mid(i);
            if (v > (double)h->max_us) v = (double)h->max_us;
            return v / 1000.0;
        }
    }
    return (double)h->max_us / 1000.0;
}

static void hist_json(const char *name, const hist_t *h) {
    printf("\"%s\": {\"n\": %" PRIu64 ", \"mean\": %.4f, \"p50\": %.4f, \"p90\": %.4f, "
           "\"p99\": %.4f, \"p999\": %.4f, \"max\": %.4f",
           name, h->n, h->n ? h->sum_us / (double)h->n / 1000.0 : 0.0, hist_quantile_ms(h, 0.50),
           hist_quantile_ms(h, 0.90), hist_quantile_ms(h, 0.99), hist_quantile_ms(h, 0.999),
           (double)h->max_us / 1000.0);
    /* the raw distribution: [lower bound in us, count] of every bucket that holds any */
    printf(", \"histogram_us\": [");
    int first = 1;
    for (int i = 0; i < NBUCKETS; i++) {
        if (!h->counts[i]) continue;
        printf("%s[%" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", bucket_lo(i), h->counts[i]);
        first = 0;
    }
    printf("]}");
}

/* ---- options ---------------------------------------------------------------------------- */

static const char *opt_host = "127.0.0.1", *opt_path = "/", *opt_method = "POST";
static const char *opt_bodies = NULL, *opt_ctype = "application/json";
static const char *opt_headers[MAX_HEADERS];
static int n_headers = 0;
static const char *needles[MAX_NEEDLES];
static uint64_t needle_hits[MAX_NEEDLES];
static int needle_every[MAX_NEEDLES]; /* -K: count every occurrence, not answers */
static int n_needles = 0;
static int opt_port = 0, opt_conns = 64;
static double opt_rate = 1000.0, opt_duration = 10.0, opt_warmup = 0.0, opt_drain = 2.0;
static uint64_t opt_max = 0;
static int opt_sep = '\n';

static void usage(void) {
    fprintf(stderr,
            "usage: openloop -p PORT -u PATH -b BODIES [-m METHOD] [-T CONTENT_TYPE] [-H 'K: V']...\n"
            "                [-r RATE|0] [-d SECONDS] [-w WARMUP_S] [-D DRAIN_S] [-c CONNS]\n"
            "                [-n MAX_REQUESTS] [-s SEP_BYTE] [-k NEEDLE]... [-K NEEDLE]...\n");
    exit(2);
}

/* ---- bodies ----------------------------------------------------------------------------- */

typedef struct {
    const char *p;
    size_t len;
} body_t;

static body_t *bodies;
static size_t n_bodies;

static void load_bodies(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    struct stat st;
    fstat(fileno(f), &st);
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    buf[got] = (char)opt_sep;
    size_t cap = 1024;
    bodies = malloc(cap * sizeof(body_t));
    size_t start = 0;
    for (size_t i = 0; i <= got; i++) {
        if (buf[i] != (char)opt_sep) continue;
        if (i > start) {
            if (n_bodies == cap) { cap *= 2; bodies = realloc(bodies, cap * sizeof(body_t)); }
            bodies[n_bodies].p = buf + start;
            bodies[n_bodies].len = i - start;
            n_bodies++;
        }
        start = i + 1;
    }
    if (n_bodies == 0) { fprintf(stderr, "no bodies in %s\n", path); exit(2); }
}

/* ---- connections ------------------------------------------------------------------------ */

typedef struct {
    int fd;
    int busy;
    int64_t intended_ns, sent_ns;
    int recorded; /* intended after the warm-up: counts in the results */
    int want_out; /* registered for EPOLLOUT (a write did not finish) */
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
} conn_t;

static conn_t conns[MAX_CONNS];
static struct sockaddr_in addr;
static int epfd;
static char *prefix;
static size_t prefix_len;

static hist_t lat, svc;
static uint64_t status_counts[MAX_STATUS];
static uint64_t n_ok, n_socket_err, n_parse_err, n_unfinished, n_completed, n_sent;
static int64_t t_last_answer;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int open_conn(conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* a blocking connect: loopback answers at once, and it keeps the state machine small */
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) { close(fd); return -1; }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->busy = 0;
    c->want_out = 0;
    c->in_len = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void close_conn(conn_t *c) {
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->busy = 0;
    c->in_len = 0;
}

static void ensure(char **buf, size_t *cap, size_t need) {
    if (*cap >= need) return;
    size_t n = *cap ? *cap : 4096;
    while (n < need) n *= 2;
    *buf = realloc(*buf, n);
    *cap = n;
}

static void record_latency(conn_t *c, int64_t t) {
    if (!c->recorded) return;
    hist_add(&lat, (uint64_t)((t - c->intended_ns) / 1000));
    hist_add(&svc, (uint64_t)((t - c->sent_ns) / 1000));
}

static void fail(conn_t *c, int socket_error) {
    if (c->busy && c->recorded) {
        if (socket_error) n_socket_err++; else n_parse_err++;
    }
    close_conn(c);
    if (open_conn(c) < 0) c->fd = -1;
}

static void watch_out(conn_t *c, int on) {
    if (c->want_out == on) return;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static void try_write(conn_t *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EAGAIN) { watch_out(c, 1); return; }
            fail(c, 1);
            return;
        }
        c->out_off += (size_t)w;
    }
    watch_out(c, 0);
}

static void send_request(conn_t *c, uint64_t i, int64_t intended, int recorded) {
    const body_t *b = &bodies[i % n_bodies];
    char cl[64];
    int cl_len = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", b->len);
    c->out_len = prefix_len + (size_t)cl_len + b->len;
    ensure(&c->out, &c->out_cap, c->out_len);
    memcpy(c->out, prefix, prefix_len);
    memcpy(c->out + prefix_len, cl, (size_t)cl_len);
    memcpy(c->out + prefix_len + (size_t)cl_len, b->p, b->len);
    c->out_off = 0;
    c->busy = 1;
    c->intended_ns = intended;
    c->recorded = recorded;
    c->sent_ns = now_ns();
    c->in_len = 0;
    n_sent++;
    try_write(c);
}

/* >0: a complete answer of that many bytes; 0: need more; -1: not HTTP we understand */
static long parse_response(conn_t *c, int *status) {
    c->in[c->in_len] = '\0';
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return 0;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->in + 9);
    size_t head = (size_t)(end - c->in) + 4;
    long clen = -1;
    for (char *line = strstr(c->in, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "content-length:", 15) == 0) clen = atol(line + 17);
        else if (strncasecmp(line + 2, "transfer-encoding:", 18) == 0) return -1;
    }
    if (clen < 0) return -1;
    return c->in_len >= head + (size_t)clen ? (long)(head + (size_t)clen) : 0;
}

static void on_readable(conn_t *c) {
    /* one read per wake-up: epoll is level-triggered, so what is left wakes us again */
    ensure(&c->in, &c->in_cap, c->in_len + 65536 + 1);
    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
    if (r == 0) { fail(c, 1); return; }
    if (r < 0) {
        if (errno != EAGAIN) fail(c, 1);
        return;
    }
    c->in_len += (size_t)r;
    if (!c->busy) { fail(c, 0); return; } /* bytes nobody asked for */
    int status = 0;
    long done = parse_response(c, &status);
    if (done == 0) return;
    if (done < 0) { fail(c, 0); return; }
    int64_t t = now_ns();
    if (c->recorded) {
        record_latency(c, t);
        t_last_answer = t;
        n_completed++;
        if (status >= 200 && status < 300) n_ok++;
        if (status > 0 && status < MAX_STATUS) status_counts[status]++;
        for (int k = 0; k < n_needles; k++) {
            size_t nlen = strlen(needles[k]);
            const char *at = memmem(c->in, (size_t)done, needles[k], nlen);
            if (!needle_every[k]) {
                if (at) needle_hits[k]++;
                continue;
            }
            for (; at; at = memmem(at + nlen, (size_t)(c->in + done - (at + nlen)), needles[k], nlen))
                needle_hits[k]++;
        }
    }
    c->busy = 0;
    c->in_len = 0;
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    int o;
    while ((o = getopt(argc, argv, "h:p:u:m:b:T:H:r:d:w:D:c:n:s:k:K:")) != -1) {
        switch (o) {
        case 'h': opt_host = optarg; break;
        case 'p': opt_port = atoi(optarg); break;
        case 'u': opt_path = optarg; break;
        case 'm': opt_method = optarg; break;
        case 'b': opt_bodies = optarg; break;
        case 'T': opt_ctype = optarg; break;
        case 'H': if (n_headers < MAX_HEADERS) opt_headers[n_headers++] = optarg; break;
        case 'r': opt_rate = atof(optarg); break;
        case 'd': opt_duration = atof(optarg); break;
        case 'w': opt_warmup = atof(optarg); break;
        case 'D': opt_drain = atof(optarg); break;
        case 'c': opt_conns = atoi(optarg); break;
        case 'n': opt_max = strtoull(optarg, NULL, 10); break;
        case 's': opt_sep = atoi(optarg); break;
        case 'k':
        case 'K':
            if (n_needles < MAX_NEEDLES) {
                needle_every[n_needles] = o == 'K';
                needles[n_needles++] = optarg;
            }
            break;
        default: usage();
        }
    }
    if (!opt_port || !opt_bodies || opt_conns < 1 || opt_conns > MAX_CONNS || opt_rate < 0 ||
        opt_duration <= 0 || opt_duration > 600 || opt_drain < 0 || opt_drain > 60)
        usage();
    if (strcmp(opt_host, "127.0.0.1") != 0) { fprintf(stderr, "loopback (127.0.0.1) only\n"); return 2; }

    load_bodies(opt_bodies);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt_port);
    inet_pton(AF_INET, opt_host, &addr.sin_addr);

    size_t cap = 512;
    for (int k = 0; k < n_headers; k++) cap += strlen(opt_headers[k]) + 2;
    prefix = malloc(cap + strlen(opt_path) + strlen(opt_ctype));
    prefix_len = (size_t)sprintf(prefix, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n",
                                 opt_method, opt_path, opt_host, opt_port, opt_ctype);
    for (int k = 0; k < n_headers; k++)
        prefix_len += (size_t)sprintf(prefix + prefix_len, "%s\r\n", opt_headers[k]);

    prctl(PR_SET_TIMERSLACK, 1UL); /* wake up on time, not up to 50 us late */
    epfd = epoll_create1(0);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &tev);
    for (int k = 0; k < opt_conns; k++) {
        conns[k].fd = -1;
        if (open_conn(&conns[k]) < 0) {
            fprintf(stderr, "cannot connect to %s:%d: %s\n", opt_host, opt_port, strerror(errno));
            return 1;
        }
    }

    const int64_t t0 = now_ns() + 1000000; /* 1 ms to settle */
    const int64_t t_warm = t0 + (int64_t)(opt_warmup * 1e9);
    const int64_t t_end = t0 + (int64_t)((opt_warmup + opt_duration) * 1e9);
    const int64_t t_stop = t_end + (int64_t)(opt_drain * 1e9);
    const double period_ns = opt_rate > 0 ? 1e9 / opt_rate : 0.0;
    uint64_t next = 0;           /* index of the next request to send */
    uint64_t n_recorded_due = 0; /* requests due after the warm-up */
    int closed = opt_rate == 0;
    int64_t last_done = t0;
    int64_t armed = 0; /* when the timer is set to fire */
    struct epoll_event events[256];

    for (;;) {
        int64_t t = now_ns();
        /* send every due request on a free connection */
        int free_conn = 0;
        for (int k = 0; k < opt_conns; k++) {
            conn_t *c = &conns[k];
            if (c->busy || c->fd < 0) continue;
            int64_t due = closed ? t : t0 + (int64_t)((double)next * period_ns);
            if (due > t || due >= t_end || (opt_max && next >= opt_max)) { free_conn = 1; break; }
            int rec = due >= t_warm;
            n_recorded_due += (uint64_t)rec;
            send_request(c, next++, due, rec);
            if (!c->busy && c->fd >= 0) free_conn = 1; /* a write failed and reconnected */
        }
        int64_t next_due = closed ? t : t0 + (int64_t)((double)next * period_ns);
        int more = next_due < t_end && (opt_max == 0 || next < opt_max);
        int inflight = 0;
        for (int k = 0; k < opt_conns; k++) inflight += conns[k].busy;
        if ((!more && inflight == 0) || t >= t_stop) { last_done = t; break; }

        /* Sleep until the next request is due (the timer) or an answer arrives. With requests
         * queued and every connection busy, only an answer can help: no timer, no spinning. */
        int64_t wake = t_stop;
        if (more && free_conn && !closed && next_due < wake) wake = next_due;
        if (more && closed && t_end < wake) wake = t_end;
        if (wake <= t) wake = t + 1000;
        if (wake != armed) {
            struct itimerspec its = {0};
            its.it_value.tv_sec = wake / 1000000000LL;
            its.it_value.tv_nsec = wake % 1000000000LL;
            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
            armed = wake;
        }
        int n = epoll_wait(epfd, events, 256, 1000);
        for (int e = 0; e < n; e++) {
            conn_t *c = events[e].data.ptr;
            if (c == NULL) {
                uint64_t expirations;
                ssize_t ignored = read(tfd, &expirations, sizeof expirations);
                (void)ignored;
                armed = 0;
                continue;
            }
            if (c->fd < 0) continue;
            if (events[e].events & EPOLLOUT) try_write(c);
            if (c->fd >= 0 && (events[e].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                on_readable(c);
        }
    }

    /* what never came back: in flight, or due but never sent for want of a free connection */
    int64_t t = now_ns();
    for (int k = 0; k < opt_conns; k++) {
        conn_t *c = &conns[k];
        if (c->busy && c->recorded) {
            hist_add(&lat, (uint64_t)((t - c->intended_ns) / 1000));
            n_unfinished++;
        }
    }
    if (!closed) {
        int64_t sched_end = t_end;
        for (uint64_t i = next;; i++) {
            int64_t due = t0 + (int64_t)((double)i * period_ns);
            if (due >= sched_end || (opt_max && i >= opt_max)) break;
            if (due >= t_warm) {
                hist_add(&lat, (uint64_t)((t - due) / 1000));
                n_unfinished++;
                n_recorded_due++;
            }
        }
    }
    for (int k = 0; k < opt_conns; k++) close_conn(&conns[k]);

    /* answers per second from the end of the warm-up to the end of the schedule, or to the
     * last answer when the server lagged into the drain (or a closed loop ran out early) */
    int64_t until = closed && last_done < t_end ? last_done : t_end;
    if (t_last_answer > until) until = t_last_answer;
    double window_s = (double)(until - t_warm) / 1e9;
    printf("{\"offered_rate\": %.1f, \"duration_s\": %.3f, \"warmup_s\": %.3f, \"connections\": %d, "
           "\"sent\": %" PRIu64 ", \"due\": %" PRIu64 ", \"completed\": %" PRIu64 ", \"ok\": %" PRIu64 ", "
           "\"achieved_rate\": %.1f, \"errors\": {\"socket\": %" PRIu64 ", \"parse\": %" PRIu64
           ", \"unfinished\": %" PRIu64 ", \"status\": {",
           opt_rate, opt_duration, opt_warmup, opt_conns, n_sent, n_recorded_due, n_completed, n_ok,
           (double)n_completed / (window_s > 0 ? window_s : 1.0), n_socket_err, n_parse_err,
           n_unfinished);
    int first = 1;
    for (int s = 0; s < MAX_STATUS; s++) {
        if (!status_counts[s] || (s >= 200 && s < 300)) continue;
        printf("%s\"%d\": %" PRIu64, first ? "" : ", ", s, status_counts[s]);
        first = 0;
    }
    for (int every = 0; every < 2; every++) {
        printf(every ? "}, \"occurrences\": {" : "}}, \"matches\": {");
        first = 1;
        for (int k = 0; k < n_needles; k++) {
            if (needle_every[k] != every) continue;
            if (!first) printf(", ");
            first = 0;
            json_string(needles[k]);
            printf(": %" PRIu64, needle_hits[k]);
        }
    }
    printf("}, ");
    hist_json("latency_ms", &lat);
    printf(", ");
    hist_json("service_ms", &svc);
    printf("}\n");
    return 0;
}

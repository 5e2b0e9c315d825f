/* token.c - `cprof token new`: make a token for the relay's --auth file.
 *
 *   cprof token new --tenant T --role ingest|read|admin --auth FILE
 *
 * Draws 256 random bits (OpenSSL RAND_bytes), appends the line
 * "TENANT ROLE SHA256-HEX" to FILE (created 0600 if missing; the token
 * itself is never written) and prints the token alone on stdout, once.
 * The new line is checked by the relay's own parser before it is written,
 * and the whole file after, so a relay reloading it (SIGHUP) accepts it.
 * Thread: main only. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../relay/auth.h"
#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cprof token new --tenant TENANT --role ROLE --auth FILE\n"
        "Creates a token, appends 'TENANT ROLE SHA256' to FILE (created 0600; the token\n"
        "itself is not stored) and prints the token on stdout. Send the relay SIGHUP\n"
        "to load it (docs/security.md).\n\n"
        "  --tenant T   tenant: letters, digits, '.', '_', '-' (at most 63); '-' is the\n"
        "               default tenant (apps stored without --auth)\n"
        "  --role R     ingest (agents), read (API, UI, live feed) or admin (both)\n"
        "  --auth FILE  the relay's auth file\n");
}

int cp_cmd_token(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc < 2)
        return cp_cli_usage_error("token", usage, "which action? 'cprof token new ...' is the one there is");
    if (strcmp(argv[1], "new"))
        return cp_cli_usage_error("token", usage, "unknown action '%s' ('new' is the one there is)", argv[1]);
    const char *tenant = NULL, *role = NULL, *path = NULL;
    static const struct option opts[] = {
        {"tenant", required_argument, 0, 't'}, {"role", required_argument, 0, 'r'},
        {"auth", required_argument, 0, 'a'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc - 1, argv + 1, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 't': tenant = optarg; break;
        case 'r': role = optarg; break;
        case 'a': path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: return cp_cli_getopt_error("token", usage, o, argv + 1);
        }
    }
    if (optind < argc - 1)
        return cp_cli_usage_error("token", usage, "unexpected argument '%s'", argv[1 + optind]);
    if (!tenant || !role || !path)
        return cp_cli_usage_error("token", usage, "%s is required", !tenant ? "--tenant TENANT"
                                                                   : !role ? "--role ROLE" : "--auth FILE");
    if (strcmp(tenant, "-") && !cp_auth_tenant_valid(tenant)) {
        fprintf(stderr, "cprof token: bad tenant '%s' (letters, digits, '.', '_', '-'; at most %d)\n", tenant,
                CP_TENANT_MAX - 1);
        return 2;
    }
    if (cp_auth_role_parse(role) == CP_ROLE_NONE) {
        fprintf(stderr, "cprof token: bad role '%s' (ingest, read, admin)\n", role);
        return 2;
    }
    /* the existing file must parse, so we never append to a broken one */
    char err[512] = "";
    FILE *f = fopen(path, "rb");
    if (f) {
        char *buf = NULL;
        size_t cap = 0, n = 0;
        for (;;) {
            if (n == cap && !(buf = realloc(buf, cap = cap ? cap * 2 : 65536)))
                break;
            size_t k = fread(buf + n, 1, cap - n, f);
            if (!k)
                break;
            n += k;
        }
        fclose(f);
        cp_auth_table_t *t = NULL;
        int rc = buf ? cp_auth_table_parse(buf, n, path, &t, err, sizeof err) : -1;
        bool newline_missing = n && buf && buf[n - 1] != '\n';
        free(buf);
        cp_auth_table_release(t);
        if (rc) {
            fprintf(stderr, "cprof token: %s: fix the file first\n", rc == -1 ? "out of memory" : err);
            return 1;
        }
        if (newline_missing) {
            fprintf(stderr, "cprof token: %s: last line has no newline; fix the file first\n", path);
            return 1;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "cprof token: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char tok[CP_AUTH_TOKEN_NEW_LEN + 1], hex[2 * CP_AUTH_HASH_LEN + 1], line[256];
    if (cp_auth_token_new(tok)) {
        fprintf(stderr, "cprof token: no random bytes from OpenSSL\n");
        return 1;
    }
    cp_auth_hash_hex(tok, strlen(tok), hex);
    int ll = snprintf(line, sizeof line, "%s %s %s\n", tenant, role, hex);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "cprof token: %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (write(fd, line, (size_t)ll) != ll || fsync(fd)) {
        fprintf(stderr, "cprof token: %s: %s\n", path, strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    printf("%s\n", tok);
    fflush(stdout);
    explicit_bzero(tok, sizeof tok);
    return 0;
}

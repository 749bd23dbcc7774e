/* selgw: the configuration of `selgw archive`. See archive_config.h. */
#include "archive/archive_config.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/yaml.h"

typedef enum kind {
    K_MAPPING,
    K_STRING,
    K_ID,       /* [A-Za-z0-9._-]+: a client id, a share group */
    K_TOPIC,    /* levels of [A-Za-z0-9._-] separated by single '/' */
    K_INT,
    K_DURATION, /* whole seconds */
    K_BOOL,
    K_FILE,     /* readable now */
} kind;

typedef struct option {
    const char *section; /* "root", "mqtt", "tls", "postgresql" */
    const char *key;
    kind kind;
    bool required;
    double min, max, def; /* K_INT: the value; K_DURATION: seconds */
    const char *def_text; /* K_STRING, K_ID, K_TOPIC */
    size_t offset;        /* of the field in selgw_archive_config; SIZE_MAX: none */
} option;

#define F(field) offsetof(selgw_archive_config, field)
#define NONE SIZE_MAX

/* The one table of keys, defaults and bounds (docs/ARCHIVE.md, "Configuration"). */
static const option options[] = {
    {"root", "mqtt", K_MAPPING, true, 0, 0, 0, NULL, NONE},
    {"root", "postgresql", K_MAPPING, true, 0, 0, 0, NULL, NONE},
    {"mqtt", "host", K_STRING, true, 0, 0, 0, NULL, F(host)},
    {"mqtt", "port", K_INT, false, 1, 65535, 1883, NULL, F(port)}, /* 8883 with TLS */
    {"mqtt", "client_id", K_ID, true, 0, 0, 0, NULL, F(client_id)},
    {"mqtt", "topic_prefix", K_TOPIC, false, 0, 0, 0, "selgw", F(topic_prefix)},
    {"mqtt", "share_group", K_ID, false, 0, 0, 0, "selgw-archive", F(share_group)},
    {"mqtt", "session_expiry", K_DURATION, false, 60, 2147483647.0, 86400, NULL,
     F(session_expiry_s)},
    {"mqtt", "keepalive", K_DURATION, false, 5, 65535, 60, NULL, F(keepalive_s)},
    {"mqtt", "receive_maximum", K_INT, false, 1, 65535, 100, NULL, F(receive_maximum)},
    {"mqtt", "username", K_STRING, false, 0, 0, 0, NULL, F(username)},
    {"mqtt", "password_file", K_FILE, false, 0, 0, 0, NULL, NONE},
    {"mqtt", "tls", K_MAPPING, false, 0, 0, 0, NULL, NONE},
    {"tls", "ca_file", K_FILE, false, 0, 0, 0, NULL, F(ca_file)},
    {"tls", "cert_file", K_FILE, false, 0, 0, 0, NULL, F(cert_file)},
    {"tls", "key_file", K_FILE, false, 0, 0, 0, NULL, F(key_file)},
    {"tls", "insecure", K_BOOL, false, 0, 0, 0, NULL, F(tls_insecure)},
    {"postgresql", "conninfo", K_STRING, true, 0, 0, 0, NULL, F(conninfo)},
    {"root", "witness", K_MAPPING, false, 0, 0, 0, NULL, NONE},
    {"witness", "key", K_FILE, true, 0, 0, 0, NULL, F(witness_key)},
};

#define OPTION_COUNT (sizeof options / sizeof options[0])

typedef struct loader {
    selgw_yaml *yaml;
    selgw_archive_config *cfg;
    bool nomem;
} loader;

static bool is_id(const char *t)
{
    if (!*t)
        return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
              *t == '.' || *t == '_' || *t == '-'))
            return false;
    return true;
}

static bool is_topic(const char *t)
{
    size_t len = strlen(t);
    if (len == 0 || t[0] == '/' || t[len - 1] == '/' || strstr(t, "//"))
        return false;
    for (; *t; t++)
        if (*t != '/' && !((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
                           (*t >= '0' && *t <= '9') || *t == '.' || *t == '_' || *t == '-'))
            return false;
    return true;
}

static void *field(selgw_archive_config *cfg, const option *o)
{
    return (char *)cfg + o->offset;
}

static char *dup_text(loader *ld, const char *t)
{
    char *copy = t ? strdup(t) : NULL;
    if (t && !copy)
        ld->nomem = true;
    return copy;
}

/* Reads a password file: its first line, which must not be empty; a file others can read
 * is refused, as the gateway's secrets are. */
static char *read_secret_file(loader *ld, struct fy_node *node, const char *path)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f) {
        selgw_yaml_error(ld->yaml, node, "password_file: cannot read '%s': %s", path,
                         strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077)) {
        selgw_yaml_error(ld->yaml, node,
                         "password_file: '%s' can be read by others (mode %04o); chmod 600 it",
                         path, (unsigned)(st.st_mode & 07777));
        fclose(f);
        return NULL;
    }
    char line[1024];
    char *secret = NULL;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            secret = dup_text(ld, line);
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    if (!secret && !ld->nomem)
        selgw_yaml_error(ld->yaml, node, "password_file: '%s' holds no password", path);
    return secret;
}

/* One value, checked against its option; defaults where absent. Returns the node. */
static struct fy_node *read_option(loader *ld, struct fy_node *map, const option *o)
{
    struct fy_node *node = map ? selgw_yaml_get(map, o->key, NULL) : NULL;
    if (node && selgw_yaml_is_null(node))
        node = NULL;
    selgw_archive_config *cfg = ld->cfg;
    if (!node) {
        if (o->required && map)
            selgw_yaml_error(ld->yaml, map, "missing required key '%s' in %s", o->key,
                             o->section);
        if (o->offset == NONE)
            return NULL;
        if (o->kind == K_INT || o->kind == K_DURATION)
            *(int *)field(cfg, o) = (int)o->def;
        else if (o->kind == K_STRING || o->kind == K_ID || o->kind == K_TOPIC)
            *(char **)field(cfg, o) = dup_text(ld, o->def_text);
        return NULL;
    }
    switch (o->kind) {
    case K_MAPPING:
        if (!selgw_yaml_is_mapping(node)) {
            selgw_yaml_type_error(ld->yaml, node, o->key, "a mapping");
            return NULL;
        }
        return node;
    case K_STRING:
    case K_ID:
    case K_TOPIC:
    case K_FILE: {
        char *text = NULL;
        if (!selgw_yaml_string(ld->yaml, node, o->key, &text))
            return NULL;
        if (o->kind == K_ID && !is_id(text))
            selgw_yaml_error(ld->yaml, node, "%s '%s': only letters, digits, '.', '_', '-'",
                             o->key, text);
        else if (o->kind == K_TOPIC && !is_topic(text))
            selgw_yaml_error(ld->yaml, node,
                             "%s '%s': levels of letters, digits, '.', '_', '-' separated by "
                             "single '/'",
                             o->key, text);
        else if (o->kind == K_FILE && strcmp(o->key, "password_file") != 0 &&
                 access(text, R_OK) != 0)
            selgw_yaml_error(ld->yaml, node, "%s: cannot read '%s': %s", o->key, text,
                             strerror(errno));
        if (o->offset != NONE) {
            free(*(char **)field(cfg, o));
            *(char **)field(cfg, o) = text;
        } else if (!strcmp(o->key, "password_file")) {
            cfg->password = read_secret_file(ld, node, text);
            free(text);
        } else {
            free(text);
        }
        return node;
    }
    case K_INT:
    case K_DURATION: {
        int64_t v = 0;
        bool ok;
        if (o->kind == K_INT) {
            ok = selgw_yaml_int(ld->yaml, node, o->key, &v);
        } else {
            ok = selgw_yaml_duration_ms(ld->yaml, node, o->key, &v);
            if (ok && v % 1000) {
                selgw_yaml_error(ld->yaml, node, "%s: not a whole number of seconds", o->key);
                ok = false;
            }
            v /= 1000;
        }
        if (ok && (v < o->min || v > o->max)) {
            selgw_yaml_error(ld->yaml, node, "%s: %lld%s is outside %.0f..%.0f%s", o->key,
                             (long long)v, o->kind == K_DURATION ? " s" : "", o->min, o->max,
                             o->kind == K_DURATION ? " s" : "");
            ok = false;
        }
        if (ok)
            *(int *)field(cfg, o) = (int)v;
        return node;
    }
    case K_BOOL: {
        bool b;
        if (selgw_yaml_bool(ld->yaml, node, o->key, &b))
            *(bool *)field(cfg, o) = b;
        return node;
    }
    }
    return node;
}

static const option *find(const char *section, const char *key)
{
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (!strcmp(options[i].section, section) && !strcmp(options[i].key, key))
            return &options[i];
    return NULL;
}

/* Checks a section's keys against the table, then reads each of its options. */
static struct fy_node *read_section(loader *ld, struct fy_node *map, const char *section)
{
    const char *keys[16];
    size_t n = 0;
    for (size_t i = 0; i < OPTION_COUNT && n < 15; i++)
        if (!strcmp(options[i].section, section))
            keys[n++] = options[i].key;
    keys[n] = NULL;
    if (map && !selgw_yaml_check_keys(ld->yaml, map, section, keys))
        return NULL;
    for (size_t i = 0; i < OPTION_COUNT; i++)
        if (!strcmp(options[i].section, section) && options[i].kind != K_MAPPING)
            read_option(ld, map, &options[i]);
    return map;
}

static selgw_err load(selgw_yaml *yaml, const char *path, selgw_diag *diag,
                      selgw_archive_config **out)
{
    selgw_archive_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return SELGW_ERR_NOMEM;
    loader ld = {.yaml = yaml, .cfg = cfg};
    cfg->path = dup_text(&ld, path);
    struct fy_node *root = selgw_yaml_root(yaml);
    read_section(&ld, root, "root");
    struct fy_node *mqtt = read_option(&ld, root, find("root", "mqtt"));
    struct fy_node *pg = read_option(&ld, root, find("root", "postgresql"));
    if (mqtt) {
        struct fy_node *port = selgw_yaml_get(mqtt, "port", NULL);
        read_section(&ld, mqtt, "mqtt");
        struct fy_node *tls = read_option(&ld, mqtt, find("mqtt", "tls"));
        if (tls) {
            read_section(&ld, tls, "tls");
            if (!cfg->ca_file && (cfg->cert_file || cfg->key_file || cfg->tls_insecure))
                selgw_yaml_error(yaml, tls, "tls needs ca_file (the CA that signed the broker's "
                                            "certificate)");
            if ((cfg->cert_file != NULL) != (cfg->key_file != NULL))
                selgw_yaml_error(yaml, tls, "cert_file and key_file go together");
            if (!port && cfg->ca_file)
                cfg->port = 8883;
        }
        if (cfg->password && !cfg->username)
            selgw_yaml_error(yaml, mqtt, "password_file needs username");
        if (cfg->host && (strstr(cfg->host, "://") || strpbrk(cfg->host, " /")))
            selgw_yaml_error(yaml, selgw_yaml_get(mqtt, "host", NULL),
                             "host '%s': give the broker's name or address, not a URL or path",
                             cfg->host);
    }
    if (pg)
        read_section(&ld, pg, "postgresql");
    struct fy_node *witness = read_option(&ld, root, find("root", "witness"));
    if (witness)
        read_section(&ld, witness, "witness");
    selgw_err err = ld.nomem                           ? SELGW_ERR_NOMEM
                    : selgw_yaml_error_count(yaml) > 0 ? SELGW_ERR_CONFIG
                                                       : SELGW_OK;
    (void)diag;
    if (err != SELGW_OK) {
        selgw_archive_config_free(cfg);
        return err;
    }
    *out = cfg;
    return SELGW_OK;
}

selgw_err selgw_archive_config_load(const char *path, selgw_diag *diag,
                                    selgw_archive_config **out)
{
    *out = NULL;
    selgw_yaml *yaml = NULL;
    selgw_err err = selgw_yaml_load_file(path, NULL, diag, &yaml);
    if (err == SELGW_OK)
        err = load(yaml, path, diag, out);
    selgw_yaml_free(yaml);
    return err;
}

selgw_err selgw_archive_config_load_string(const char *display_name, const char *text,
                                           selgw_diag *diag, selgw_archive_config **out)
{
    *out = NULL;
    selgw_yaml *yaml = NULL;
    selgw_err err = selgw_yaml_load_string(display_name, text, strlen(text), diag, &yaml);
    if (err == SELGW_OK)
        err = load(yaml, display_name, diag, out);
    selgw_yaml_free(yaml);
    return err;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void selgw_archive_config_free(selgw_archive_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->host);
    free(cfg->client_id);
    free(cfg->topic_prefix);
    free(cfg->share_group);
    free(cfg->username);
    free_secret(cfg->password);
    free(cfg->ca_file);
    free(cfg->cert_file);
    free(cfg->key_file);
    free_secret(cfg->conninfo); /* it may hold a password */
    free(cfg->witness_key);
    free(cfg);
}

void selgw_archive_config_summary(const selgw_archive_config *cfg, FILE *out)
{
    fprintf(out,
            "archive: broker %s:%d (MQTT 5%s%s), client id %s, session kept %d s, "
            "subscription $share/%s/%s/+/evidence\n",
            cfg->host, cfg->port, cfg->ca_file ? ", TLS" : "",
            cfg->username ? ", with username" : "", cfg->client_id, cfg->session_expiry_s,
            cfg->share_group, cfg->topic_prefix);
    if (cfg->witness_key)
        fprintf(out,
                "archive: witness: countersigns every seal with %s, published to "
                "%s/GATEWAY/witness\n",
                cfg->witness_key, cfg->topic_prefix);
}
